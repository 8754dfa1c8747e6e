"""Upbit's WebSocket dialect, as data: reading a subscription request, Upbit's error frames, and the
messages of each type in DEFAULT or SIMPLE field names (and the LIST variants' arrays).

Nothing here touches a socket; `exchange.sandbox.ws` serves these messages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from exchange.sandbox.http import dumps

PUBLIC_TYPES = frozenset({"ticker", "trade", "orderbook"})
CANDLE_UNITS: dict[str, int] = {
    "candle.1s": 0,
    "candle.1m": 1,
    "candle.3m": 3,
    "candle.5m": 5,
    "candle.10m": 10,
    "candle.15m": 15,
    "candle.30m": 30,
    "candle.60m": 60,
    "candle.240m": 240,
}
PRIVATE_TYPES = frozenset({"myOrder", "myAsset"})
FORMATS = frozenset({"DEFAULT", "SIMPLE", "JSON_LIST", "SIMPLE_LIST"})
ORDERBOOK_COUNTS = (1, 5, 15, 30)

ERROR_MESSAGES = {
    "INVALID_AUTH": "인증 정보가 올바르지 않습니다.",
    "WRONG_FORMAT": "Format 이 맞지 않습니다.",
    "NO_TICKET": "티켓이 존재하지 않거나, 유효하지 않습니다.",
    "NO_TYPE": "타입이 존재하지 않거나, 유효하지 않습니다.",
    "NO_CODES": "코드가 존재하지 않거나, 유효하지 않습니다.",
    "INVALID_PARAM": "요청 파라미터가 올바르지 않습니다.",
    "TOO_MANY_REQUESTS": "Too Many Requests",
}

COMMON_SIMPLE = {"type": "ty", "code": "cd", "timestamp": "tms", "stream_type": "st"}
SIMPLE_NAMES: dict[str, dict[str, str]] = {
    "ticker": {
        "opening_price": "op",
        "high_price": "hp",
        "low_price": "lp",
        "trade_price": "tp",
        "prev_closing_price": "pcp",
        "change": "c",
        "change_price": "cp",
        "signed_change_price": "scp",
        "change_rate": "cr",
        "signed_change_rate": "scr",
        "trade_volume": "tv",
        "acc_trade_volume": "atv",
        "acc_trade_volume_24h": "atv24h",
        "acc_trade_price": "atp",
        "acc_trade_price_24h": "atp24h",
        "trade_date": "tdt",
        "trade_time": "ttm",
        "trade_timestamp": "ttms",
        "ask_bid": "ab",
        "acc_ask_volume": "aav",
        "acc_bid_volume": "abv",
        "highest_52_week_price": "h52wp",
        "highest_52_week_date": "h52wdt",
        "lowest_52_week_price": "l52wp",
        "lowest_52_week_date": "l52wdt",
        "market_state": "ms",
        "is_trading_suspended": "its",
        "delisting_date": "dd",
        "market_warning": "mw",
    },
    "trade": {
        "trade_price": "tp",
        "trade_volume": "tv",
        "ask_bid": "ab",
        "prev_closing_price": "pcp",
        "change": "c",
        "change_price": "cp",
        "trade_date": "td",
        "trade_time": "ttm",
        "trade_timestamp": "ttms",
        "sequential_id": "sid",
        "best_ask_price": "bap",
        "best_ask_size": "bas",
        "best_bid_price": "bbp",
        "best_bid_size": "bbs",
    },
    "orderbook": {
        "total_ask_size": "tas",
        "total_bid_size": "tbs",
        "orderbook_units": "obu",
        "level": "lv",
        "ask_price": "ap",
        "bid_price": "bp",
        "ask_size": "as",
        "bid_size": "bs",
    },
    "candle": {
        "candle_date_time_utc": "cdttmu",
        "candle_date_time_kst": "cdttmk",
        "opening_price": "op",
        "high_price": "hp",
        "low_price": "lp",
        "trade_price": "tp",
        "candle_acc_trade_volume": "catv",
        "candle_acc_trade_price": "catp",
    },
    "myOrder": {
        "uuid": "uid",
        "ask_bid": "ab",
        "order_type": "ot",
        "state": "s",
        "trade_uuid": "tuid",
        "price": "p",
        "avg_price": "ap",
        "volume": "v",
        "remaining_volume": "rv",
        "executed_volume": "ev",
        "trades_count": "tc",
        "reserved_fee": "rsf",
        "remaining_fee": "rmf",
        "paid_fee": "pf",
        "locked": "l",
        "executed_funds": "ef",
        "time_in_force": "tif",
        "trade_fee": "tf",
        "is_maker": "im",
        "identifier": "id",
        "smp_type": "smpt",
        "prevented_volume": "pv",
        "prevented_locked": "pl",
        "trade_timestamp": "ttms",
        "order_timestamp": "otms",
    },
    "myAsset": {
        "asset_uuid": "astuid",
        "assets": "ast",
        "currency": "cu",
        "balance": "b",
        "locked": "l",
        "asset_timestamp": "asttms",
    },
    "LIST_SUBSCRIPTIONS": {"method": "mthd", "result": "rslt", "type": "ty", "codes": "cds", "level": "lv", "ticket": "tckt"},
}


class WsRequestError(Exception):
    """A request Upbit answers with an error frame: its name (`NO_TICKET`...) and message."""

    def __init__(self, name: str, message: str | None = None) -> None:
        super().__init__(message or ERROR_MESSAGES[name])
        self.name = name
        self.message = message or ERROR_MESSAGES[name]


@dataclass(slots=True)
class Subscription:
    """One type object of a request. `codes` as sent (orderbook codes without their `.N` suffix);
    `depth` is the orderbook's pair count per code."""

    type: str
    codes: list[str]
    snapshot: bool = True
    realtime: bool = True
    level: Decimal = Decimal(0)
    depth: dict[str, int] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return "candle" if self.type.startswith("candle.") else self.type

    def listing(self) -> dict[str, Any]:
        codes = [f"{c}.{self.depth[c]}" if c in self.depth else c for c in self.codes]
        return {"type": self.type, "codes": codes, "level": self.level if self.type == "orderbook" else None}


@dataclass(slots=True)
class WsRequest:
    ticket: str
    format: str
    subscriptions: list[Subscription]
    method: str | None = None


def _flag(item: dict[str, Any], snake: str, camel: str) -> bool:
    value = item.get(snake, item.get(camel, False))
    if not isinstance(value, bool):
        raise WsRequestError("INVALID_PARAM", f"{snake} 은 true 또는 false 여야 합니다.")
    return value


def _codes(item: dict[str, Any], kind: str) -> list[str]:
    if "codes" not in item:
        if kind == "myOrder":
            return []
        raise WsRequestError("NO_CODES")
    codes = item["codes"]
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise WsRequestError("WRONG_FORMAT")
    if not codes and kind != "myOrder":
        raise WsRequestError("NO_CODES")
    return list(codes)


def _subscription(item: dict[str, Any], *, private: bool) -> Subscription:
    kind = item.get("type")
    if not isinstance(kind, str) or not kind:
        raise WsRequestError("NO_TYPE")
    allowed = PRIVATE_TYPES if private else PUBLIC_TYPES | CANDLE_UNITS.keys()
    if kind not in allowed:
        raise WsRequestError("INVALID_PARAM", f"{kind} 은 지원하지 않는 타입입니다.")
    if kind == "myAsset" and "codes" in item:
        raise WsRequestError("WRONG_FORMAT")
    codes = [] if kind == "myAsset" else _codes(item, kind)
    subscription = Subscription(kind, codes)
    only_snapshot = _flag(item, "is_only_snapshot", "isOnlySnapshot")
    only_realtime = _flag(item, "is_only_realtime", "isOnlyRealtime")
    if only_snapshot and only_realtime:
        raise WsRequestError("INVALID_PARAM", "is_only_snapshot 과 is_only_realtime 은 함께 쓸 수 없습니다.")
    subscription.snapshot = not only_realtime and kind not in PRIVATE_TYPES
    subscription.realtime = not only_snapshot
    if kind == "orderbook":
        raw_level = item.get("level", 0)
        try:
            subscription.level = Decimal(str(raw_level)) if not isinstance(raw_level, bool) else Decimal("NaN")
        except InvalidOperation:
            subscription.level = Decimal("NaN")
        if not subscription.level.is_finite() or subscription.level < 0:
            raise WsRequestError("INVALID_PARAM", f"level {raw_level!r} 은 지원하지 않는 값입니다.")
        plain: list[str] = []
        for code in codes:
            base, _, suffix = code.partition(".")
            plain.append(base)
            # An unsupported count (.20) is served as 30, as Upbit does.
            subscription.depth[base] = int(suffix) if suffix.isdigit() and int(suffix) in ORDERBOOK_COUNTS else 30
        subscription.codes = plain
    return subscription


def parse_request(text: str, *, private: bool) -> WsRequest:
    """Read one request message, or raise WsRequestError with Upbit's error name."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise WsRequestError("WRONG_FORMAT") from None
    if not isinstance(data, list) or not data or not all(isinstance(item, dict) for item in data):
        raise WsRequestError("WRONG_FORMAT")
    ticket = next((item["ticket"] for item in data if "ticket" in item), None)
    if not isinstance(ticket, str) or not ticket.strip():
        raise WsRequestError("NO_TICKET")
    chosen = next((item["format"] for item in data if "format" in item), "DEFAULT")
    if chosen not in FORMATS:
        raise WsRequestError("INVALID_PARAM", f"{chosen} 은 지원하지 않는 포맷입니다.")
    method = next((item["method"] for item in data if "method" in item), None)
    if method is not None:
        if method != "LIST_SUBSCRIPTIONS":
            raise WsRequestError("INVALID_PARAM", f"{method} 은 지원하지 않는 메소드입니다.")
        return WsRequest(ticket, str(chosen), [], method)
    types = [item for item in data if "ticket" not in item and "format" not in item]
    if not types:
        raise WsRequestError("NO_TYPE")
    return WsRequest(ticket, str(chosen), [_subscription(item, private=private) for item in types])


# --- encoding -------------------------------------------------------------------------------------------


def simplify(message: dict[str, Any], family: str) -> dict[str, Any]:
    """The SIMPLE field names of a DEFAULT message (nested lists of objects included)."""
    names = SIMPLE_NAMES.get(family, {})

    def rename(value: Any) -> Any:
        if isinstance(value, dict):
            return {names.get(k, COMMON_SIMPLE.get(k, k)): rename(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    result: dict[str, Any] = rename(message)
    return result


def encode(messages: list[dict[str, Any]], family: str, chosen: str) -> list[bytes]:
    """Frames for these DEFAULT messages in the connection's format: one object per frame, or one array
    per frame in the LIST formats."""
    if chosen in ("SIMPLE", "SIMPLE_LIST"):
        messages = [simplify(m, family) for m in messages]
    if chosen in ("JSON_LIST", "SIMPLE_LIST"):
        return [dumps(messages).encode("utf-8")] if messages else []
    return [dumps(m).encode("utf-8") for m in messages]


def error_frame(name: str, message: str) -> bytes:
    return dumps({"error": {"name": name, "message": message}}).encode("utf-8")


STATUS_UP = b'{"status":"UP"}'
