"""What a conversation needs from whatever carries it, and what it offers in return.

A transport (WebRTC, the Realtime WebSocket, ...) adapts one wire to a
`Conversation`:

- events out: it attaches a sink to `conversation.events` (serialised JSON in);
- client events in: it hands each message to `conversation.receive`;
- audio in: it hands the user's audio, any rate, mono int16, to `conversation.hear`;
- audio out: it pulls 20 ms frames from `conversation.playout.next_frame()`;
- video in: it puts decoded frames into `conversation.video`;
- close: the conversation calls `close` once, when the call ends for any reason.

The conversation imports no transport; a transport imports the conversation.
"""

from __future__ import annotations

from typing import Protocol


class Transport(Protocol):
    kind: str
    """"webrtc", "websocket": in logs and in the call id's prefix."""
    audio_in_events: bool
    """The user's audio comes as `input_audio_buffer.append` events (and may be committed
    by hand); otherwise on a media track."""

    def connected(self) -> bool:
        """The wire itself says the peer is there (a socket the server pings); False: the
        conversation judges by the media and events that arrive."""
        ...

    async def flush(self) -> None:
        """Give queued events (an ending notice) a moment to leave; at most ~1 s."""
        ...

    async def close(self, reason: str) -> None:
        """Release the wire; the conversation's tasks are already cancelled."""
        ...
