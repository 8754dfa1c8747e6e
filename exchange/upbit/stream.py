"""One Upbit WebSocket connection kept open in a background thread (websockets' threading client).

`StreamClient.start()` runs a loop: wait for a connect slot (5 per second for the whole process) →
handshake (a JWT in `Authorization` for the private stream, signed like REST: exchange/upbit/signing.py) →
send the complete subscription → read frames and hand each parsed message to `on_message` → on any loss,
wait a jittered exponential backoff and start over (the subscription is sent again on every new connection).

Keep-alive is RFC 6455 ping frames every PING_INTERVAL_SEC (Upbit answers them with pong; its idle timeout is
about 120 s and was seen at 60 s), well under both. A public stream that stays silent past `silence_sec` is
closed and dialled again (a stalled connection that still answers pings); the engine stops trusting it much
sooner (STREAM_STALE_SEC, trading/engine/stream.py) without dropping it, since a quiet market is silent too.
Private streams are silent until an order or balance changes, so they are not held to it.

`status()` is safe to read from any thread. `on_message` runs on the stream thread and must be quick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

from exchange.upbit.signing import make_token
from exchange.upbit.stream_messages import (
    CONNECT_WINDOW,
    Backoff,
    ErrorMessage,
    MessageBudget,
    RateWindow,
    StreamMessage,
    StreamProtocolError,
    Subscription,
    ban_seconds,
    parse_frame,
    subscription_request,
)

logger = logging.getLogger("autocoin.exchange.stream")

PING_INTERVAL_SEC = 30.0
PING_TIMEOUT_SEC = 20.0
OPEN_TIMEOUT_SEC = 5.0
MAX_FRAME_BYTES = 1 << 20
HEALTHY_AFTER_SEC = 10.0
"""A connection that lived this long resets the backoff; one that dies sooner (a server that accepts and then
drops at once, or refuses every subscription) keeps growing it, so it never becomes a reconnect storm."""


@dataclass(frozen=True, slots=True)
class StreamStatus:
    connected: bool
    connects: int
    reconnects: int
    messages: int
    errors: int
    last_message_at: float | None
    """time.monotonic() of the last frame, or None before the first."""
    last_error: str
    next_attempt_in_sec: float


class StreamClient:
    """A self-healing subscription on one WebSocket URL."""

    def __init__(
        self,
        url: str,
        subscriptions: Sequence[Subscription],
        on_message: Callable[[StreamMessage], None],
        *,
        name: str = "stream",
        access_key: str = "",
        secret_key: str = "",
        silence_sec: float | None = None,
        backoff: Backoff | None = None,
        connect_window: RateWindow = CONNECT_WINDOW,
        ping_interval_sec: float = PING_INTERVAL_SEC,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.subscriptions = tuple(subscriptions)
        self.on_message = on_message
        self.name = name
        self._access_key = access_key
        self._secret_key = secret_key
        self.silence_sec = silence_sec
        self.backoff = backoff or Backoff()
        self.connect_window = connect_window
        self.ping_interval_sec = ping_interval_sec
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._socket: ClientConnection | None = None
        self._connected = False
        self._connects = 0
        self._messages = 0
        self._errors = 0
        self._last_message_at: float | None = None
        self._last_error = ""
        self._next_attempt_at = 0.0
        self._banned_for = 0.0

    # --- lifetime -------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-ws", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            sock = self._socket
        if sock is not None:
            sock.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> StreamStatus:
        with self._lock:
            return StreamStatus(
                connected=self._connected,
                connects=self._connects,
                reconnects=max(0, self._connects - 1),
                messages=self._messages,
                errors=self._errors,
                last_message_at=self._last_message_at,
                last_error=self._last_error,
                next_attempt_in_sec=max(0.0, self._next_attempt_at - self.clock()) if not self._connected else 0.0,
            )

    # --- the loop -------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            opened_at: float | None = None
            try:
                wait = self.connect_window.reserve()
                if wait and self._stop.wait(wait):
                    return
                with self._connect() as sock:
                    opened_at = self.clock()
                    self._opened(sock)
                    try:
                        self._send(sock, subscription_request(self.subscriptions), MessageBudget(clock=self.clock))
                    except ConnectionClosed:
                        pass  # closed right after the handshake: its reason (INVALID_AUTH, …) is read below
                    self._read(sock)
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed, StreamProtocolError) as error:
                self._failed(error)
            except Exception as error:  # a bug in a handler must not end the stream for good
                logger.exception("%s: unexpected error; reconnecting", self.name)
                self._failed(error)
            finally:
                self._closed()
            if self._stop.is_set():
                return
            if opened_at is not None and self.clock() - opened_at >= HEALTHY_AFTER_SEC:
                self.backoff.reset()
            delay = max(self.backoff.next_delay(), self._banned_for)
            self._banned_for = 0.0
            with self._lock:
                self._next_attempt_at = self.clock() + delay
            self._stop.wait(delay)

    def _connect(self) -> ClientConnection:
        headers = {}
        if self._access_key and self._secret_key:
            # A subscription has no query, so the token carries no query_hash; a fresh nonce per handshake.
            headers["Authorization"] = f"Bearer {make_token(self._access_key, self._secret_key)}"
        with self._lock:
            self._connects += 1
        return connect(
            self.url,
            additional_headers=headers,
            open_timeout=OPEN_TIMEOUT_SEC,
            ping_interval=self.ping_interval_sec,
            ping_timeout=PING_TIMEOUT_SEC,
            close_timeout=1.0,
            max_size=MAX_FRAME_BYTES,
            proxy=None,
            user_agent_header="autocoin",
        )

    def _send(self, sock: ClientConnection, text: str, budget: MessageBudget) -> None:
        wait = budget.wait()
        if wait and self._stop.wait(wait):
            return
        sock.send(text)

    def _read(self, sock: ClientConnection) -> None:
        tick = min(1.0, self.silence_sec / 4) if self.silence_sec else 1.0
        last_frame = self.clock()
        while not self._stop.is_set():
            try:
                data = sock.recv(timeout=tick)
            except TimeoutError:
                if self.silence_sec is not None and self.clock() - last_frame > self.silence_sec:
                    raise TimeoutError(f"no frame for {self.silence_sec:g} s") from None
                continue
            last_frame = self.clock()
            with self._lock:
                self._last_message_at = last_frame
                self._messages += 1
            try:
                message = parse_frame(data)
            except StreamProtocolError as error:
                with self._lock:
                    self._errors += 1
                logger.warning("%s: dropped a frame: %s", self.name, error)
                continue
            if message is None:
                continue
            if isinstance(message, ErrorMessage):
                # Upbit closes the connection after an error; the next one starts after the backoff.
                raise StreamProtocolError(f"{message.name}: {message.message}")
            self.on_message(message)

    def _opened(self, sock: ClientConnection) -> None:
        with self._lock:
            self._socket = sock
            self._connected = True
            self._last_error = ""
        if self._stop.is_set():
            sock.close()

    def _closed(self) -> None:
        with self._lock:
            self._socket = None
            self._connected = False

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, InvalidStatus):
            status = error.response.status_code
            self._banned_for = ban_seconds(status, bytes(error.response.body or b""))
            text = f"handshake refused: HTTP {status}" + (f" (blocked for {self._banned_for:g} s)" if self._banned_for else "")
        else:
            text = f"{type(error).__name__}: {error}"
        with self._lock:
            self._last_error = text
        if not self._stop.is_set():
            logger.info("%s: %s; reconnecting", self.name, text)
