"""One WebSocket connection of the sandbox, served in its HTTP handler's thread with websockets'
sans-I/O `ServerProtocol` over the handler's own socket, so REST and WebSocket share one port.

`upgrade` does the opening handshake (or refuses it with an HTTP status), then reads frames until
the client leaves; `WsConnection.send` may be called from any thread (the hub publishes from the
thread that changed a price or an order). Every server message goes out as a binary frame of UTF-8
JSON, as Upbit sends them."""

from __future__ import annotations

import contextlib
import itertools
import logging
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from io import BufferedIOBase
from typing import Any

from websockets.extensions.permessage_deflate import enable_server_permessage_deflate
from websockets.frames import Frame, Opcode
from websockets.http11 import Request as WsHttpRequest
from websockets.protocol import State
from websockets.server import ServerProtocol

from exchange.sandbox.ratelimit import remaining_req
from exchange.sandbox.ws_messages import Subscription

PUBLIC_PATH = "/websocket/v1"
PRIVATE_PATH = "/websocket/v1/private"
MAX_MESSAGE = 1 << 20
SEND_TIMEOUT = 10.0  # a client that reads nothing for this long is cut off
_ids = itertools.count(1)


class _QuietOpen(logging.LoggerAdapter[logging.Logger]):
    """websockets logs every opened connection at INFO; for the sandbox that is debug detail."""

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.debug(msg, *args, **kwargs)


PROTOCOL_LOGGER = _QuietOpen(logging.getLogger("exchange.sandbox.websocket"), {})


class WsConnection:
    """A handshaken connection: its subscriptions, format and counters; sends are thread-safe."""

    def __init__(self, sock: socket.socket, protocol: ServerProtocol, path: str, client: str, private: bool) -> None:
        self.id = next(_ids)
        self.sock = sock
        self.protocol = protocol
        self.path = path
        self.client = client
        self.private = private
        self.lock = threading.Lock()
        self.subscriptions: list[Subscription] = []
        self.format = "DEFAULT"
        self.sent = 0
        self.received = 0
        self.closed = False
        self.stalled_until = 0.0
        self.up_at: float | None = None  # when `{"status":"UP"}` was last sent, once the client sent PING
        self.last_activity = time.monotonic()
        self.message_times: deque[float] = deque()
        self._partial: list[bytes] = []

    # --- sending -----------------------------------------------------------------------------------------
    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.sock.sendall(chunk)
            else:  # the protocol asks for the TCP half-close after a closing handshake
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_WR)

    def send(self, frames: Iterable[bytes], *, urgent: bool = False) -> int:
        """Send binary frames; returns how many went out (none while stalled or closed)."""
        count = 0
        with self.lock:
            if self.closed or self.protocol.state is not State.OPEN:
                return 0
            if not urgent and time.monotonic() < self.stalled_until:
                return 0
            try:
                for frame in frames:
                    self.protocol.send_binary(frame)
                    count += 1
                self._flush()
            except OSError:
                self._abort_locked()
                return 0
            self.sent += count
            if count:
                self.last_activity = time.monotonic()
        return count

    def send_raw(self, payload: bytes) -> None:
        """Bytes on the wire as they are (a malformed frame for fault drills)."""
        with self.lock:
            if self.closed:
                return
            try:
                self.sock.sendall(payload)
            except OSError:
                self._abort_locked()

    def close(self, code: int = 1000, reason: str = "") -> None:
        with self.lock:
            if self.closed or self.protocol.state is not State.OPEN:
                return
            try:
                self.protocol.send_close(code, reason)
                self._flush()
            except OSError:
                self._abort_locked()

    def abort(self) -> None:
        """Cut the TCP connection without a closing handshake (the client sees code 1006)."""
        with self.lock:
            self._abort_locked()

    def _abort_locked(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    # --- receiving ---------------------------------------------------------------------------------------
    def run(self, on_message: Callable[[WsConnection, bytes], None]) -> None:
        """Read frames until the client or the server ends the connection."""
        with self.lock:
            early = self.protocol.events_received()
        for event in early:
            if isinstance(event, Frame):
                self._frame(event, on_message)
        while not self.closed:
            try:
                readable, _, _ = select.select([self.sock], [], [], 0.5)
                if not readable:
                    continue
                data = self.sock.recv(65536)
            except (OSError, ValueError):
                break
            with self.lock:
                if data:
                    self.protocol.receive_data(data)
                else:
                    self.protocol.receive_eof()
                events = self.protocol.events_received()
                try:
                    self._flush()  # pongs and the close reply
                except OSError:
                    self._abort_locked()
                self.last_activity = time.monotonic()
            for event in events:
                if isinstance(event, Frame):
                    self._frame(event, on_message)
            if not data or self.protocol.state is State.CLOSED or self.protocol.close_expected():
                break
        with self.lock:
            self.closed = True

    def _frame(self, frame: Frame, on_message: Callable[[WsConnection, bytes], None]) -> None:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY) or (frame.opcode is Opcode.CONT and self._partial):
            self._partial.append(bytes(frame.data))
            if frame.fin:
                payload = b"".join(self._partial)
                self._partial = []
                self.received += 1
                on_message(self, payload)


def open_connection(
    sock: socket.socket,
    rfile: BufferedIOBase,
    path: str,
    headers: list[tuple[str, str]],
    client: str,
    refusal: tuple[int, str] | None,
    remaining: int,
) -> WsConnection | None:
    """Answer the upgrade request: refuse it with `refusal` (status, text), or accept it. None when refused."""
    protocol = ServerProtocol(extensions=enable_server_permessage_deflate(None), max_size=MAX_MESSAGE, logger=PROTOCOL_LOGGER)
    if refusal is not None:
        response = protocol.reject(refusal[0], refusal[1])
    else:
        # The HTTP server already read the request; handing its bytes back puts the protocol where a
        # sans-I/O server expects to be (its parser moves on to frames once the request is read).
        head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        protocol.receive_data(head.encode("latin-1"))
        request = next((e for e in protocol.events_received() if isinstance(e, WsHttpRequest)), None)
        response = protocol.accept(request) if request is not None else protocol.reject(400, "Bad upgrade request")
        if response.status_code == 101:
            response.headers["Remaining-Req"] = remaining_req("websocket", remaining)
    protocol.send_response(response)
    sock.settimeout(SEND_TIMEOUT)
    try:
        for chunk in protocol.data_to_send():
            if chunk:
                sock.sendall(chunk)
    except OSError:
        return None
    if response.status_code != 101:
        return None
    connection = WsConnection(sock, protocol, path, client, path == PRIVATE_PATH)
    # Bytes the HTTP reader already buffered past the handshake belong to the WebSocket stream.
    sock.setblocking(False)
    try:
        early = rfile.read1(65536) if hasattr(rfile, "read1") else b""
    except (BlockingIOError, OSError):
        early = b""
    finally:
        sock.settimeout(SEND_TIMEOUT)
    if early:
        protocol.receive_data(early)
    return connection
