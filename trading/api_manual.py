"""The JSON API's manual orders (docs/API.md): queue one, cancel one still waiting.

Built on trading/api.py's envelope, authentication and body parsing; the rules live in
trading/manual_requests.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from trading import manual_requests, selectors
from trading.api import ApiError, _json_body, _json_kind, _query, api_view, decimal_text, shown
from trading.auth import PLACE_MANUAL_ORDER
from trading.errors import InvalidInput, ManualOrderRefused, ManualRequestNotCancellable
from trading.forms import AMOUNT_MAX_CHARS, AMOUNT_TEXT_RULE, amount_text_is_plain
from trading.models import ManualOrderRequest


def manual_data(request: ManualOrderRequest) -> dict[str, Any]:
    return {
        "id": request.pk,
        "ts": request.ts,
        "market": request.market,
        "kind": request.kind,
        "krw": request.krw,
        "volume": request.volume,
        "status": request.status,
        "requested_by": request.requested_by,
        "result": request.result,
    }


def _refused(refusal: ManualOrderRefused) -> ApiError:
    if refusal.code == "engine_offline":
        return ApiError(503, "engine_offline", refusal.message, current=refusal.current, reason=refusal.code)
    return ApiError(409, "engine_not_running", refusal.message, current=refusal.current, reason=refusal.code)


def _kind(side: Any, krw: Any, volume: Any) -> str:
    if side not in ("buy", "sell", "close"):
        raise ApiError(400, "invalid_field", f"side={shown(side)} is not allowed; use buy, sell or close", field="side")
    if side == "buy":
        if volume is not None:
            raise ApiError(400, "invalid_field", 'a buy is sized by "krw"; leave "volume" out', field="volume")
        return ManualOrderRequest.Kind.BUY
    if side == "sell":
        if krw is not None:
            raise ApiError(400, "invalid_field", 'a sell is sized by "volume" (or "all"); leave "krw" out', field="krw")
        return ManualOrderRequest.Kind.SELL  # the service reads a volume of "all" as a sell-all
    if krw is not None or volume is not None:
        field = "krw" if krw is not None else "volume"
        raise ApiError(400, "invalid_field", f'close sells the whole position; leave "{field}" out', field=field)
    return ManualOrderRequest.Kind.CLOSE


def _amount(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, Decimal)):
        raise ApiError(
            400, "invalid_field", f'{name} must be a decimal string such as "10000", not {_json_kind(value)}', field=name
        )
    # A JSON number is read exactly and its range checked by the service; text follows the amount syntax.
    typed = isinstance(value, str)
    text: str = value if isinstance(value, str) else _decimal_shown(value)
    if len(text) > AMOUNT_MAX_CHARS:
        raise ApiError(400, "invalid_field", f"{name}: {shown(text)} is not a valid amount (too long)", field=name)
    if typed and not amount_text_is_plain(text) and not (name == "volume" and text.lower() == "all"):
        also = ' (or "all" to sell everything)' if name == "volume" else ""
        raise ApiError(400, "invalid_field", f"{name}: {shown(text)} is not an amount; {AMOUNT_TEXT_RULE}{also}", field=name)
    return text


def _decimal_shown(value: Decimal) -> str:
    return decimal_text(value) if value.is_finite() and abs(value.adjusted()) < 30 else str(value)


@api_view("POST", perm=PLACE_MANUAL_ORDER)
def orders_manual(request: HttpRequest, actor: str) -> tuple[Any, int]:
    _query(request, ())
    body = _json_body(request, ("side", "krw", "volume"))
    kind = _kind(body.get("side"), body.get("krw"), body.get("volume"))
    krw, volume = _amount("krw", body.get("krw")), _amount("volume", body.get("volume"))
    try:
        queued = manual_requests.manual_order_request_create(kind=kind, actor=actor, krw=krw, volume=volume)
    except InvalidInput as invalid:
        raise ApiError(
            400, "invalid_field", f"{invalid.field}: {invalid.message}", field=invalid.field, reason=invalid.code
        ) from None
    except ManualOrderRefused as refusal:
        raise _refused(refusal) from None
    data = manual_data(queued)
    data["engine_online"] = selectors.engine_online(selectors.engine_state_get())
    data["expires_in_sec"] = settings.MANUAL_ORDER_TTL_SEC
    return data, 202


@api_view("POST", perm=PLACE_MANUAL_ORDER)
def orders_manual_cancel(request: HttpRequest, actor: str, request_id: int) -> tuple[Any, int]:
    _query(request, ())
    _json_body(request, ())
    try:
        cancelled = manual_requests.manual_order_request_cancel(request_id=request_id, actor=actor)
    except ManualRequestNotCancellable as refusal:
        if refusal.code == "unknown_request":
            raise ApiError(404, "not_found", refusal.message) from None
        raise ApiError(409, "not_pending", refusal.message, current=refusal.status, reason=refusal.code) from None
    return manual_data(cancelled), 200
