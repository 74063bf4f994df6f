"""A phone that vanishes: run as a child process, it connects, then waits to be killed.

It prints its offer (one JSON line), reads the answer (one JSON line) on stdin, prints
`open` once the data channel is open, and keeps streaming its microphone until it is
killed with SIGKILL: no DELETE, no DTLS or SCTP goodbye, nothing.
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack


async def main() -> None:
    pc = RTCPeerConnection()
    pc.addTransceiver(AudioStreamTrack(), direction="sendrecv")
    channel = pc.createDataChannel("oai-events")
    opened = asyncio.Event()
    channel.on("open", opened.set)
    await pc.setLocalDescription(await pc.createOffer())
    print(json.dumps({"sdp": pc.localDescription.sdp}), flush=True)
    answer = json.loads(await asyncio.to_thread(sys.stdin.readline))
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    await asyncio.wait_for(opened.wait(), 30)
    print("open", flush=True)
    await asyncio.Event().wait()  # until SIGKILL


if __name__ == "__main__":
    asyncio.run(main())
