"""`manage.py runall` refuses a bad address or port in one line before it starts any process."""

from __future__ import annotations

import socket

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


@pytest.mark.parametrize("addr", ["garbage", "127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:"])
def test_a_bad_web_address_is_refused_before_anything_starts(addr, capsys):
    with pytest.raises(CommandError, match=r"--addr .* is not an address and port such as 127\.0\.0\.1:8000 \(port 1-65535\)"):
        call_command("runall", "--addr", addr)
    assert "dashboard at" not in capsys.readouterr().out


@pytest.mark.parametrize("port", ["0", "-1", "70000"])
def test_a_bad_sandbox_port_is_refused(port):
    with pytest.raises(CommandError, match=rf"--sandbox-port must be from 1 to 65535, not {port}"):
        call_command("runall", "--demo", "--sandbox-port", port)


def test_the_web_server_and_the_sandbox_cannot_share_a_port(capsys):
    with pytest.raises(CommandError, match=r"the web server and the sandbox cannot share port 18931"):
        call_command("runall", "--demo", "--addr", "127.0.0.1:18931", "--sandbox-port", "18931")
    assert "dashboard at" not in capsys.readouterr().out


def test_a_web_port_already_taken_is_refused_before_anything_starts(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=rf"port {port} is already in use \(is autocoin already running\?\)"):
            call_command("runall", "--addr", f"127.0.0.1:{port}")
    assert "dashboard at" not in capsys.readouterr().out
