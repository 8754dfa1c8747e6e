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


def _method(value: Any) -> str | None:
    if value in (None, "", "*", "ANY", "any"):
        return None
    method = str(value).upper()
    if method not in _METHODS:
        raise FaultSpecError(f"method {value!r} is not an HTTP method; use one of {', '.join(_METHODS)} or leave it out")
    return method


def _path(value: Any) -> str:
    path = str(value or "")
    if not path.startswith("/"):
        raise FaultSpecError(f"path {value!r} must start with / (for example /v1/orders)")
    return path.split("?", 1)[0]


def _count(value: Any, default: int = 1) -> int:
    try:
        count = int(default if value is None else value)
    except (TypeError, ValueError):
        raise FaultSpecError(f"count {value!r} is not a whole number") from None
    if count < 1:
        raise FaultSpecError(f"count {value!r} must be at least 1")
    return count


def fault_from_json(kind: str, data: dict[str, Any]) -> Fault:
    """Build a fault from a control-endpoint body (see docs/SANDBOX.md)."""
    if not isinstance(data, dict):
        raise FaultSpecError("the body must be a JSON object")
    fault = Fault(kind=kind, path=_path(data.get("path")), method=_method(data.get("method")), count=_count(data.get("count")))
    if kind == "fail":
        try:
            fault.status = int(data.get("status") or 500)
        except (TypeError, ValueError):
            raise FaultSpecError(f"status {data.get('status')!r} is not an HTTP status") from None
        if not 400 <= fault.status <= 599:
            raise FaultSpecError(f"status {fault.status} must be an error status (400-599)")
        fault.name = str(data.get("name") or ("server_error" if fault.status >= 500 else "bad_request"))
        fault.message = str(data.get("message") or "sandbox: injected failure")
        body = data.get("body")
        fault.body = None if body is None else str(body)
    elif kind == "stall":
        try:
            fault.seconds = float(data.get("seconds"))
        except (TypeError, ValueError):
            raise FaultSpecError(f"seconds {data.get('seconds')!r} is not a number") from None
        if not 0 <= fault.seconds <= 3600:
            raise FaultSpecError("seconds must be between 0 and 3600")
        fault.after = bool(data.get("after", False))
    return fault


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
    data: dict[str, Any] = {"method": method, "path": parts[0]}
    try:
        if kind == "fail":
            if len(parts) < 2:
                raise FaultSpecError("use [METHOD:]PATH:STATUS[:NAME[:COUNT]], e.g. POST:/v1/orders:500")
            data["status"] = parts[1]
            data["name"] = parts[2] if len(parts) > 2 and parts[2] else None
            data["count"] = parts[3] if len(parts) > 3 else None
        elif kind == "stall":
            if len(parts) < 2:
                raise FaultSpecError("use [METHOD:]PATH:SECONDS[:COUNT], e.g. GET:/v1/ticker:15")
            data["seconds"] = parts[1]
            data["count"] = parts[2] if len(parts) > 2 else None
        else:
            data["count"] = parts[1] if len(parts) > 1 else None
        return fault_from_json(kind, data)
    except FaultSpecError as error:
        raise FaultSpecError(f"--{kind} {spec!r}: {error}") from None
