"""uvicorn's WebSocket protocol, with refused handshakes answered at once.

When the `websockets` parser refuses an upgrade before it makes a request of it (a
header line over its 8 KB limit: 431; a request line too long: 414; junk), it
queues the refusal but uvicorn's protocol never writes it, nor closes the socket:
the client waits forever and any client can hold connections open that way. Here
the refusal goes out and the connection closes as soon as the parser has it.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class WebSocketUpgrades(WebSocketsSansIOProtocol):
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.handshake_initiated or self.conn.handshake_exc is None:
            return
        # Refused by the parser: no request, so uvicorn would neither answer nor close.
        self.handshake_complete = True
        self.close_sent = True
        output = self.conn.data_to_send()
        if output and not self.transport.is_closing():
            self.transport.write(b"".join(output))
        self.transport.close()
