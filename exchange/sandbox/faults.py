"""Injected failures for tests and drills: fail, stall or drop the next calls to a path; reject keys.

Faults are armed through the control endpoint (`/_sandbox/...`) or `runsandbox` flags and are
consumed one matching request at a time, so a test can say exactly which call goes wrong.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

_METHODS = ("GET", "POST", "DELETE", "PUT", "PATCH")


class FaultSpecError(ValueError):
    """A fault description that cannot be used; the message says what is expected."""


@dataclass(slots=True)
class Fault:
    kind: str  # "fail" | "stall" | "drop"
    path: str
    method: str | None
    count: int
    status: int = 500
    name: str = "server_error"
    message: str = "sandbox: injected failure"
    body: str | None = None
    seconds: float = 0.0
    after: bool = False
    hits: int = field(default=0)

    def matches(self, method: str, path: str) -> bool:
        return self.count > 0 and self.path == path and (self.method is None or self.method == method)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "path": self.path, "method": self.method, "remaining": self.count}
        if self.kind == "fail":
            data.update(status=self.status, name=self.name, message=self.message)
        if self.kind == "stall":
            data.update(seconds=self.seconds, after=self.after)
        return data


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, kind: str, method: str, path: str) -> Fault | None:
        """Consume one use of the first armed fault of `kind` matching this request."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and fault.matches(method, path):
                    fault.count -= 1
                    fault.hits += 1
                    return fault
        return None

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.as_dict() for fault in self._faults if fault.count > 0]


MAX_COUNT = 1_000_000


def whole_number(value: Any, what: str, *, low: int, high: int) -> int:
    """A whole number from JSON or a flag (`3`, `3.0` or `"3"`, never `true`), within [low, high]."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit() and len(value.strip()) <= 20:
        number = int(value.strip())
    if number is None:
        raise FaultSpecError(f"{what} {value!r} is not a whole number")
    if number < low:
        raise FaultSpecError(f"{what} {value!r} must be at least {low}")
    if number > high:
        raise FaultSpecError(f"{what} {value!r} must be at most {high}")
    return number


def _text(value: Any, what: str, default: str) -> str:
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise FaultSpecError(f"{what} {value!r} must be a string")
    return value


def _method(value: Any) -> str | None:
    if value in (None, "", "*", "ANY", "any"):
        return None
    if not isinstance(value, str) or value.upper() not in _METHODS:
        raise FaultSpecError(f"method {value!r} is not an HTTP method; use one of {', '.join(_METHODS)} or leave it out")
    return value.upper()


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise FaultSpecError(f"path {value!r} must start with / (for example /v1/orders)")
    return value.split("?", 1)[0]


def _count(value: Any, default: int = 1) -> int:
    return whole_number(default if value is None else value, "count", low=1, high=MAX_COUNT)


def fault_from_json(kind: str, data: dict[str, Any]) -> Fault:
    """Build a fault from a control-endpoint body (see docs/SANDBOX.md)."""
    if not isinstance(data, dict):
        raise FaultSpecError("the body must be a JSON object")
    fault = Fault(kind=kind, path=_path(data.get("path")), method=_method(data.get("method")), count=_count(data.get("count")))
    if kind == "fail":
        raw_status = data.get("status")
        fault.status = whole_number(500 if raw_status is None else raw_status, "status", low=0, high=999)
        if not 400 <= fault.status <= 599:
            raise FaultSpecError(f"status {fault.status} must be an error status (400-599)")
        fault.name = _text(data.get("name"), "name", "server_error" if fault.status >= 500 else "bad_request")
        fault.message = _text(data.get("message"), "message", "sandbox: injected failure")
        body = data.get("body")
        if body is not None and not isinstance(body, str):
            raise FaultSpecError(f"body {body!r} must be a string (sent as plain text) or null")
        fault.body = body
    elif kind == "stall":
        raw = data.get("seconds")
        seconds = float(raw) if isinstance(raw, int | float | str) and not isinstance(raw, bool) and _is_number(raw) else None
        if seconds is None:
            raise FaultSpecError(f"seconds {raw!r} is not a number")
        if not 0 <= seconds <= 3600:
            raise FaultSpecError("seconds must be between 0 and 3600")
        fault.seconds = seconds
        after = data.get("after", False)
        if not isinstance(after, bool):
            raise FaultSpecError(f"after {after!r} must be true or false")
        fault.after = after
    return fault


def _is_number(value: int | float | str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _split_method(spec: str) -> tuple[str | None, str]:
    head, _, rest = spec.partition(":")
    if head.upper() in _METHODS and rest.startswith("/"):
        return head.upper(), rest
    return None, spec


def fault_from_flag(kind: str, spec: str) -> Fault:
    """Parse a `runsandbox` flag value.

    --fail  [METHOD:]PATH:STATUS[:NAME[:COUNT]]   e.g. POST:/v1/orders:500:server_error:2
    --stall [METHOD:]PATH:SECONDS[:COUNT]         e.g. GET:/v1/ticker:15
    --drop  [METHOD:]PATH[:COUNT]                 e.g. POST:/v1/orders"""
    method, rest = _split_method(spec.strip())
    parts = rest.split(":")
    try:
        return fault_from_json(kind, {"method": method, "path": parts[0], **_flag_fields(kind, parts)})
    except FaultSpecError as error:
        raise FaultSpecError(f"--{kind} {spec!r}: {error}") from None


def _flag_fields(kind: str, parts: list[str]) -> dict[str, Any]:
    """The fields after PATH in a command-line fault, by name."""
    if kind == "fail":
        if len(parts) < 2:
            raise FaultSpecError("use [METHOD:]PATH:STATUS[:NAME[:COUNT]], e.g. POST:/v1/orders:500")
        return {
            "status": parts[1],
            "name": parts[2] if len(parts) > 2 and parts[2] else None,
            "count": parts[3] if len(parts) > 3 else None,
        }
    if kind == "stall":
        if len(parts) < 2:
            raise FaultSpecError("use [METHOD:]PATH:SECONDS[:COUNT], e.g. GET:/v1/ticker:15")
        return {"seconds": parts[1], "count": parts[2] if len(parts) > 2 else None}
    return {"count": parts[1] if len(parts) > 1 else None}
