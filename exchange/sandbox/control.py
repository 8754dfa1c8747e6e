"""The sandbox's own control endpoint under `/_sandbox/` (loopback only): arm faults, pin prices, move
the clock, set balances and read the whole state. Tests and drills drive the sandbox through it.

A web page open in the same browser must not be able to steer it: POST bodies must be declared JSON
(a cross-site form or `text/plain` fetch cannot do that without a CORS preflight, which is never
answered), an `Origin` other than the sandbox's own is refused, the Host must be a loopback name (DNS
rebinding), and an optional token (`control_token`) is wanted in the `X-Sandbox-Token` header."""

from __future__ import annotations

import hmac
import json
import math
import re
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from exchange.sandbox.auth import KEY_REFUSALS
from exchange.sandbox.faults import FaultSpecError, fault_from_json, whole_number
from exchange.sandbox.feed import seconds_of
from exchange.sandbox.http import Answer, HttpError, Request, dumps, error_body
from exchange.sandbox.ledger import dec, kst
from exchange.sandbox.state import SandboxState
from exchange.sandbox.ws_hub import WsHub

LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
CONTROL_AUTH_HEADER = "x-sandbox-token"

# Limits for control-endpoint input: far beyond any real market, well inside exact Decimal arithmetic.
MAX_CONTROL_PRICE = Decimal("1000000000000")
MAX_CONTROL_BALANCE = Decimal("1000000000000000")
MAX_CLOCK_ADVANCE = 10 * 366 * 86400
CURRENCY_CODE = re.compile(r"[A-Z0-9]{1,10}")


def _control_decimal(raw: Any, what: str, *, maximum: Decimal) -> Decimal:
    """A number from a control body ("0.5" or 0.5): finite, from 0 to `maximum`, at most 8 decimal places."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        raise FaultSpecError(f"{what} {raw!r} is not a number")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise FaultSpecError(f"{what} {raw!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise FaultSpecError(f"{what} {raw!r} must be a positive number or 0")
    if value > maximum:
        raise FaultSpecError(f"{what} {raw!r} must be at most {maximum}")
    if value != value.quantize(Decimal("0.00000001"), rounding=ROUND_DOWN):
        raise FaultSpecError(f"{what} {raw!r} has more than 8 decimal places")
    return value


def _host_name(value: str) -> str | None:
    """The host name of a Host header or an origin (`http://[::1]:8765` -> `::1`), lower-case."""
    text = value.strip().lower()
    try:
        return urlsplit(text if "://" in text else f"//{text}").hostname
    except ValueError:
        return None


def _own_origin(origin: str, port: int, own_names: frozenset[str]) -> bool:
    try:
        parts = urlsplit(origin.strip().lower())
        own_port = parts.port
    except ValueError:  # a port that is not a number
        return False
    return parts.scheme == "http" and parts.hostname in own_names and own_port == port


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _json_object(body: bytes) -> dict[str, Any]:
    data = json.loads(body)
    if not isinstance(data, dict):
        raise FaultSpecError("the body must be a JSON object")
    return data


class ControlEndpoints(SandboxState):
    """GET and POST /_sandbox/<action>: fail, stall, drop, reject_keys, reset_faults, instrument, api_key, price, clock,
    balance, state, and the WebSocket faults ws_drop, ws_stall, ws_malformed, ws_refuse."""

    ws: WsHub

    def _control_refusal(self, request: Request) -> Answer | None:
        """Why this request may not use the control endpoint, or None."""
        if request.client not in LOOPBACK:
            return Answer(403, error_body("forbidden", "the sandbox control endpoint answers only on loopback"))
        own_names = LOOPBACK_NAMES | {self.host.lower().strip("[]")}
        host = request.headers.get("host")
        if host is not None and _host_name(host) not in own_names:
            return Answer(403, error_body("forbidden", "the sandbox control endpoint answers only to a loopback host name"))
        origin = request.headers.get("origin")
        if origin is not None and not _own_origin(origin, request.server_port, own_names):
            return Answer(403, error_body("forbidden", "cross-origin calls to the sandbox control endpoint are refused"))
        if self.control_token is not None:
            presented = request.headers.get(CONTROL_AUTH_HEADER, "")
            if not hmac.compare_digest(presented.encode(), self.control_token.encode()):
                return Answer(401, error_body("invalid_control_token", "send the sandbox's control token in X-Sandbox-Token"))
        if request.method not in ("GET", "HEAD") and not _is_json(request.headers.get("content-type", "")):
            return Answer(
                415, error_body("unsupported_media_type", "send the control call as JSON (Content-Type: application/json)")
            )
        return None

    def _control(self, request: Request) -> Answer:
        refusal = self._control_refusal(request)
        if refusal is not None:
            return refusal
        action = request.path[len("/_sandbox/") :]
        try:
            data = _json_object(request.body) if request.body.strip() else {}
            query = dict(parse_qsl(request.raw_query))
            payload = self._control_action(request.method, action, data, query)
        except (FaultSpecError, ValueError) as error:
            return Answer(400, error_body("invalid_control", str(error)))
        except RecursionError:
            return Answer(400, error_body("invalid_control", "the body is nested too deeply to read"))
        except HttpError as error:
            return Answer(error.status, error_body(error.name, error.message))
        if payload is None:
            return Answer(404, error_body(404, f"unknown control call {request.method} /_sandbox/{action}"))
        return Answer(200, dumps(payload))

    def _control_market(self, data: dict[str, Any]) -> str:
        market = data.get("market") or self.markets[0]
        if not isinstance(market, str) or market not in self.feeds:
            raise FaultSpecError(f"market {market!r} is not served; served: {', '.join(self.markets)}")
        return str(market)

    def _control_instrument(self, data: dict[str, Any]) -> dict[str, Any]:
        """Set (or with `tick_size: null` clear) a pair's tick, as Upbit does when it changes its table."""
        market = self._control_market(data)
        raw = data.get("tick_size")
        with self.lock:
            if raw is None:
                self.tick_overrides.pop(market, None)
            else:
                tick = _control_decimal(raw, "tick_size", maximum=MAX_CONTROL_PRICE)
                if tick <= 0:
                    raise FaultSpecError(f"tick_size {raw!r} must be a positive number")
                self.tick_overrides[market] = tick
        return {"market": market, "tick_size": dec(self.tick_size(market, seconds_of(self.now())))}

    def _control_action(self, method: str, action: str, data: dict[str, Any], query: dict[str, str]) -> Any:
        if action.startswith("ws_") and method == "POST":
            return ws_control(self.ws, action, data)
        if action in ("fail", "stall", "drop") and method == "POST":
            fault = self.faults.add(fault_from_json(action, data))
            return {"armed": fault.as_dict()}
        if action == "reject_keys" and method == "POST":
            on = data.get("on", True)
            if not isinstance(on, bool):
                raise FaultSpecError(f"on {on!r} must be true or false")
            name = data.get("name") or "invalid_access_key"
            if name not in KEY_REFUSALS:
                raise FaultSpecError(f"name {name!r} must be one of {', '.join(KEY_REFUSALS)}")
            self.verifier.reject_all = on
            self.verifier.reject_name = str(name)
            return {"reject_keys": self.verifier.reject_all, "name": self.verifier.reject_name}
        if action == "instrument" and method == "POST":
            return self._control_instrument(data)
        if action == "api_key" and method == "POST":
            raw_expiry = data.get("expire_at")
            if not isinstance(raw_expiry, str):
                raise FaultSpecError("expire_at must be an ISO-8601 time with a zone, e.g. 2027-01-01T00:00:00+09:00")
            expiry = datetime.fromisoformat(raw_expiry.replace("Z", "+00:00"))
            if expiry.tzinfo is None:
                raise FaultSpecError("expire_at needs a time zone, e.g. +09:00")
            self.key_expire_at = expiry
            return {"expire_at": kst(expiry)}
        if action == "reset_faults" and method == "POST":
            self.faults.reset()
            self.ws.reset()
            self.verifier.reject_all = False
            return {"faults": []}
        if action == "price" and method == "GET":
            market = self._control_market(query)
            seconds = seconds_of(self.now())
            return {
                "market": market,
                "price": dec(self.current_price(market, seconds)),
                "pinned": self.feeds[market].is_pinned(seconds),
            }
        if action == "price" and method == "POST":
            market = self._control_market(data)
            self.sweep()
            seconds = seconds_of(self.now())
            raw = data.get("price")
            with self.lock:
                if raw is None:
                    self.feeds[market].release(seconds)
                else:
                    price = _control_decimal(raw, "price", maximum=MAX_CONTROL_PRICE)
                    if price <= 0:
                        raise FaultSpecError(f"price {raw!r} must be a positive number")
                    self.feeds[market].pin(seconds, price)
            return {
                "market": market,
                "price": dec(self.current_price(market, seconds)),
                "pinned": self.feeds[market].is_pinned(seconds),
            }
        if action == "clock" and method == "POST":
            raw = data.get("advance_seconds", 0)
            if isinstance(raw, bool) or not isinstance(raw, int | float | str):
                raise FaultSpecError("advance_seconds must be a number")
            try:
                advance = float(raw)
            except ValueError:
                raise FaultSpecError("advance_seconds must be a number") from None
            if not math.isfinite(advance) or advance < 0:
                raise FaultSpecError("advance_seconds must be a number of at least 0 (the clock only moves forward)")
            if advance > MAX_CLOCK_ADVANCE:
                raise FaultSpecError(f"advance_seconds must be at most {MAX_CLOCK_ADVANCE} (ten years) per call")
            self.sweep()
            with self.lock:
                try:
                    later = self._clock() + timedelta(seconds=self.clock_offset + advance)
                except OverflowError:
                    later = None
                if later is None or later.year >= 9000:
                    raise FaultSpecError("the sandbox clock cannot go past the year 9000")
                self.clock_offset += advance
            return {"now": self.now().isoformat(), "offset_seconds": self.clock_offset}
        if action == "clock" and method == "GET":
            return {"now": self.now().isoformat(), "offset_seconds": self.clock_offset}
        if action == "balance" and method == "POST":
            currency = data.get("currency")
            if not isinstance(currency, str) or not CURRENCY_CODE.fullmatch(currency.upper()):
                raise FaultSpecError(f"currency {currency!r} must be a currency code such as KRW or BTC")
            currency = currency.upper()
            balance = _control_decimal(data.get("balance"), "balance", maximum=MAX_CONTROL_BALANCE)
            raw_average = data.get("avg_buy_price")
            average = None if raw_average is None else _control_decimal(raw_average, "avg_buy_price", maximum=MAX_CONTROL_PRICE)
            with self.lock:
                account = self.ledger.set_balance(currency, balance, average)
                return account.as_json()
        if action == "state" and method == "GET":
            self.sweep()
            with self.lock:
                state = self.ledger.state_json()
            seconds = seconds_of(self.now())
            state["prices"] = {m: dec(self.current_price(m, seconds)) for m in self.markets}
            state["faults"] = self.faults.describe()
            state["reject_keys"] = self.verifier.reject_all
            with self.lock:
                state["received"] = dict(sorted(self.received.items()))
            state["now"] = self.now().isoformat()
            state["websocket"] = self.ws.describe()
            return state
        return None


def ws_control(hub: WsHub, action: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """The WebSocket faults: drop (all, or `connection`), stall for `seconds`, a malformed frame, a refused handshake."""
    raw_id = data.get("connection")
    connection = None if raw_id is None else whole_number(raw_id, "connection", low=1, high=10**9)
    if action == "ws_drop":
        return {"dropped": hub.drop(connection)}
    if action == "ws_stall":
        raw = data.get("seconds")
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw <= 3600:
            raise FaultSpecError(f"seconds {raw!r} must be a number from 0 to 3600")
        return {"stalled": hub.stall(float(raw), connection)}
    if action == "ws_malformed":
        return {"sent": hub.malformed(connection)}
    if action == "ws_refuse":
        status = whole_number(data.get("status", 503), "status", low=400, high=599)
        count = whole_number(data.get("count", 1), "count", low=1, high=1_000_000)
        hub.refuse(status, count)
        return {"refuse": {"status": status, "remaining": count}}
    return None
