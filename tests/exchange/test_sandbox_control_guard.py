"""The sandbox's control endpoint cannot be steered by a web page: JSON bodies only, its own origin only,
a loopback Host only, and an optional token."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.sandbox_fixtures import runsandbox_process

ROOT = Path(__file__).resolve().parents[2]
JSON = {"Content-Type": "application/json"}


def _post(sandbox, action: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{sandbox.base_url}/_sandbox/{action}", data=body, headers=headers, timeout=5)


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_control_post_that_is_not_declared_json_is_refused_with_415_and_changes_nothing(sandbox, content_type):
    headers = {} if content_type is None else {"Content-Type": content_type}
    # requests adds no Content-Type of its own to a bytes body.
    response = _post(sandbox, "reject_keys", b'{"on": true}', headers)

    assert response.status_code == 415
    assert response.json()["error"]["name"] == "unsupported_media_type"
    assert sandbox.state()["reject_keys"] is False


def test_a_cross_origin_control_call_is_refused_and_no_cors_headers_are_sent(sandbox):
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{sandbox.server.port + 1}", "https://127.0.0.1"):
        response = _post(sandbox, "reject_keys", b'{"on": true}', {**JSON, "Origin": origin})

        assert response.status_code == 403, origin
        assert not [name for name in response.headers if name.lower().startswith("access-control-")]
    read = requests.get(f"{sandbox.base_url}/_sandbox/state", headers={"Origin": "http://evil.example"}, timeout=5)
    assert read.status_code == 403
    assert sandbox.state()["reject_keys"] is False


def test_the_sandbox_s_own_origin_and_no_origin_are_served(sandbox):
    port = sandbox.server.port
    for origin in (None, f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        headers = JSON if origin is None else {**JSON, "Origin": origin}
        response = _post(sandbox, "reject_keys", b'{"on": false}', headers)

        assert response.status_code == 200, (origin, response.text)


def test_a_rebound_host_name_is_refused(sandbox):
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 reads as same-origin."""
    port = sandbox.server.port
    response = requests.get(f"{sandbox.base_url}/_sandbox/state", headers={"Host": f"evil.example:{port}"}, timeout=5)
    same_origin_post = _post(
        sandbox, "reject_keys", b'{"on": true}', {**JSON, "Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    )

    assert response.status_code == 403
    assert same_origin_post.status_code == 403
    assert sandbox.state()["reject_keys"] is False


def test_a_preflight_gets_no_cors_permission(sandbox):
    response = requests.options(
        f"{sandbox.base_url}/_sandbox/reject_keys",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=5,
    )

    assert response.status_code >= 400
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


def test_with_a_control_token_calls_without_it_are_refused(sandbox_factory):
    sandbox = sandbox_factory(control_token="drill-token-123")
    url = f"{sandbox.base_url}/_sandbox/reject_keys"

    missing = requests.post(url, json={"on": True}, timeout=5)
    wrong = requests.post(url, json={"on": True}, headers={"X-Sandbox-Token": "drill-token-12"}, timeout=5)
    read = requests.get(f"{sandbox.base_url}/_sandbox/state", timeout=5)
    right = requests.post(url, json={"on": True}, headers={"X-Sandbox-Token": "drill-token-123"}, timeout=5)

    assert (missing.status_code, wrong.status_code, read.status_code) == (401, 401, 401)
    assert missing.json()["error"]["name"] == "invalid_control_token"
    assert right.status_code == 200
    assert sandbox.state()["reject_keys"] is True  # the handle sends the token itself


def test_without_a_control_token_the_header_is_not_needed(sandbox):
    assert requests.post(f"{sandbox.base_url}/_sandbox/reset_faults", json={}, timeout=5).status_code == 200


@pytest.mark.slow
def test_runsandbox_control_token_option_guards_the_control_endpoint():
    with runsandbox_process("--no-rate-limit", "--control-token", "cli-token-456") as (base, process):
        refused = requests.get(f"{base}/_sandbox/state", timeout=5)
        served = requests.get(f"{base}/_sandbox/state", headers={"X-Sandbox-Token": "cli-token-456"}, timeout=5)

        assert refused.status_code == 401
        assert served.status_code == 200
    assert process.returncode == 0
