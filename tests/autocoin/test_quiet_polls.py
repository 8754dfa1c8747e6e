"""The web server's terminal: successful dashboard polls are quiet by default, shown with LOG_POLLS (runall
--verbose); other requests and failed polls are always printed."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from django.core.servers.basehttp import WSGIRequestHandler

from trading.server_log import QuietPollsFilter


class _Handler(WSGIRequestHandler):
    """Django's development-server request handler without a socket: only its request-line logging."""

    def __init__(self) -> None:
        self.request = None  # type: ignore[assignment]
        self.client_address = ("127.0.0.1", 50000)


def request_line(method: str, path: str, status: int) -> None:
    """What runserver does after answering a request: one line through the "django.server" logger."""
    _Handler().log_message('"%s" %s %s', f"{method} {path} HTTP/1.1", str(status), "123")


@pytest.fixture
def terminal() -> Iterator[io.StringIO]:
    """The server's configured handler (LOGGING in settings), writing to a buffer instead of the terminal."""
    handler = logging.getLogger("django.server").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    assert any(isinstance(f, QuietPollsFilter) for f in handler.filters), "the quiet-polls filter is not configured"
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/panels/engine", 200), ("/panels/risk", 204), ("/panels/live-quote", 304), ("/healthz", 200), ("/metrics", 200)],
)
def test_a_successful_poll_is_quiet_by_default(terminal, path, status):
    request_line("GET", path, status)
    assert terminal.getvalue() == ""


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),  # the page itself
        ("POST", "/engine/start", 200),  # an action a person took
        ("GET", "/panels/engine", 500),  # a failing poll is what the terminal is for
        ("GET", "/panels/engine", 403),
        ("GET", "/panels/engine", 302),  # logged out: sent to the login page
        ("GET", "/admin/trading/order/", 200),
    ],
)
def test_everything_else_is_printed(terminal, method, path, status):
    request_line(method, path, status)
    assert f"{method} {path} HTTP/1.1" in terminal.getvalue()


def test_log_polls_shows_every_poll(terminal, settings):
    settings.LOG_POLLS = True
    request_line("GET", "/panels/engine", 204)
    request_line("GET", "/healthz", 200)
    printed = terminal.getvalue()
    assert "GET /panels/engine HTTP/1.1" in printed
    assert "GET /healthz HTTP/1.1" in printed


def test_runall_verbose_turns_poll_lines_on_for_its_children(monkeypatch):
    from trading.management.commands import runall

    spawned: list[dict[str, str]] = []

    class Stop(Exception):
        pass

    def spawn(command: list[str], env: dict[str, str]) -> object:
        spawned.append(env)
        raise Stop

    monkeypatch.setattr(runall.Command, "_spawn", staticmethod(spawn))
    monkeypatch.setattr(runall.signal, "signal", lambda signum, handler: None)  # leave pytest's Ctrl-C alone
    monkeypatch.delenv("LOG_POLLS", raising=False)
    for verbose in (False, True):
        with pytest.raises(Stop):
            runall.Command().handle(addr="127.0.0.1:8000", demo=False, sandbox_port=8765, demo_database="", verbose=verbose)
    assert "LOG_POLLS" not in spawned[0]
    assert spawned[1]["LOG_POLLS"] == "true"
