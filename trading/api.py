"""The JSON API (docs/API.md): thin views over selectors and services.

Every answer is the envelope {"ok", "data", "error", "ts"}; money and volumes are strings (Decimal,
never float); timestamps are ISO-8601 UTC. Authentication is a staff session (CSRF required on POST)
or `Authorization: Bearer <AUTOCOIN_API_TOKEN>` (off while the setting is empty).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from trading import selectors, services
from trading.models import EngineEvent, ManualOrderRequest, PnlDaily, Signal
from trading.views import ENGINE_OFFLINE_HINT, EngineOffline, bearer_token_valid, engine_command, user_is_operator

logger = logging.getLogger("autocoin.api")

LIMIT_DEFAULT, LIMIT_MAX = 50, 500
DAYS_DEFAULT, DAYS_MAX = 30, 366
REASON_MAX = 500


class ApiError(Exception):
    """An answer other than success: HTTP status, a stable code, and a sentence for the person."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


# ---------------------------------------------------------------------------------------------------
# The envelope
# ---------------------------------------------------------------------------------------------------
def decimal_text(value: Decimal) -> str:
    """10000.00000000 → "10000"; 0.00010000 → "0.0001": exact, never scientific notation."""
    if value == 0:
        return "0"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def utc_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal):
            return decimal_text(o)
        if isinstance(o, datetime):
            return utc_text(o)
        if isinstance(o, date):
            return o.isoformat()
        return super().default(o)


def envelope(*, data: Any = None, error: ApiError | None = None, status: int = 200) -> JsonResponse:
    body = {
        "ok": error is None,
        "data": data,
        "error": None if error is None else {"code": error.code, "message": error.message, **error.extra},
        "ts": timezone.now(),
    }
    response = JsonResponse(
        body, status=error.status if error else status, encoder=_Encoder, json_dumps_params={"ensure_ascii": False}
    )
    response["Cache-Control"] = "no-store"
    if error is not None and error.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="autocoin"'
    return response


# ---------------------------------------------------------------------------------------------------
# Authentication, method, CSRF, parameters
# ---------------------------------------------------------------------------------------------------
class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> str:  # type: ignore[override]
        return reason


def _csrf_problem(request: HttpRequest) -> str | None:
    check = _CsrfCheck(lambda _request: None)  # type: ignore[arg-type, return-value]
    check.process_request(request)
    return check.process_view(request, None, (), {})  # type: ignore[arg-type, return-value]


def _authenticate(request: HttpRequest) -> tuple[str, bool]:
    """(actor, needs_csrf) for the caller, or ApiError 401/403."""
    token = bearer_token_valid(request)
    if token is True:
        return "api-token", False
    if token is False:
        if not settings.AUTOCOIN_API_TOKEN:
            raise ApiError(401, "token_auth_off", "Bearer tokens are not accepted: AUTOCOIN_API_TOKEN is not set on the server")
        raise ApiError(401, "invalid_token", "The bearer token is not valid")
    user = request.user
    if not user.is_authenticated:
        raise ApiError(
            401,
            "not_authenticated",
            "Log in (session) or send Authorization: Bearer <AUTOCOIN_API_TOKEN>",
            login=settings.LOGIN_URL,
        )
    if not user_is_operator(user):
        raise ApiError(403, "forbidden", "This account is not a staff account; the API is for staff users only")
    return f"user:{user.get_username()}", True


def _limit(raw: str | None, *, name: str, default: int, maximum: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ApiError(
            400, "invalid_parameter", f"{name}={raw!r} is not a whole number; use 1 to {maximum}", field=name
        ) from None
    if not 1 <= value <= maximum:
        raise ApiError(400, "invalid_parameter", f"{name}={value} is out of range; use 1 to {maximum}", field=name)
    return value


def _query(request: HttpRequest, allowed: tuple[str, ...]) -> dict[str, str]:
    unknown = sorted(set(request.GET) - set(allowed))
    if unknown:
        accepted = ", ".join(allowed) or "none"
        raise ApiError(400, "unknown_parameter", f"Unknown parameter {unknown[0]!r}; accepted: {accepted}", field=unknown[0])
    result = {}
    for name in request.GET:
        values = request.GET.getlist(name)
        if len(values) != 1:
            raise ApiError(400, "invalid_parameter", f"{name} was given {len(values)} times; give it once", field=name)
        result[name] = values[0]
    return result


def _json_body(request: HttpRequest, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not request.body.strip():
        return {}

    def reject_constant(name: str) -> None:
        raise ValueError(f"{name} is not a number")

    try:
        body = json.loads(request.body, parse_float=Decimal, parse_constant=reject_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, "malformed_json", f"The request body is not valid JSON ({error}); send a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "malformed_json", "The request body must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(400, "unknown_field", f"Unknown field {unknown[0]!r}; accepted: {', '.join(allowed)}", field=unknown[0])
    return body


def api_view(*methods: str) -> Callable[[Callable[..., Any]], Callable[..., JsonResponse]]:
    """Wrap a handler `(request, actor, **kwargs) -> (data, status)` with auth, method, CSRF and the envelope."""

    def decorate(handler: Callable[..., Any]) -> Callable[..., JsonResponse]:
        @csrf_exempt  # checked below, for session callers only: a bearer token is not sent by browsers on their own
        @wraps(handler)
        def view(request: HttpRequest, **kwargs: Any) -> JsonResponse:
            try:
                actor, needs_csrf = _authenticate(request)
                if request.method not in methods:
                    response = envelope(
                        error=ApiError(
                            405, "method_not_allowed", f"{request.method} is not allowed here; use {', '.join(methods)}"
                        )
                    )
                    response["Allow"] = ", ".join(methods)
                    return response
                if needs_csrf and request.method not in ("GET", "HEAD", "OPTIONS"):
                    problem = _csrf_problem(request)
                    if problem:
                        raise ApiError(403, "csrf_failed", f"CSRF check failed ({problem}); send the X-CSRFToken header")
                data, status = handler(request, actor, **kwargs)
                return envelope(data=data, status=status)
            except ApiError as error:
                return envelope(error=error)
            except RequestDataTooBig:
                limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
                return envelope(error=ApiError(413, "payload_too_large", f"The request body is larger than {limit} bytes"))
            except DatabaseError:
                logger.exception("database error in %s", request.path)
                return envelope(error=ApiError(503, "database_unavailable", "The database did not answer; try again shortly"))
            except Exception:
                logger.exception("unexpected error in %s", request.path)
                return envelope(error=ApiError(500, "internal_error", "Something went wrong on the server; see its log"))

        return view

    return decorate


# ---------------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------------
def status_data() -> dict[str, Any]:
    return selectors.engine_status()


def order_data(row: dict[str, Any]) -> dict[str, Any]:
    """An order row from `selectors.orders_recent_rows`, in the API's field names."""
    fills = [
        {
            "trade_id": fill["trade_id"],
            "price": decimal_text(fill["price"]),
            "volume": decimal_text(fill["volume"]),
            "funds": decimal_text(fill["funds"]),
            "fee": decimal_text(fill["fee"]),
            "ts": utc_text(fill["ts"]),
        }
        for fill in row["fills"]
    ]
    return {
        "id": row["id"],
        "identifier": row["identifier"],
        "exchange_uuid": row["exchange_uuid"],
        "market": row["market"],
        "side": row["side"],
        "ord_type": row["ord_type"],
        "status": row["status"],
        "mode": row["mode"],
        "price": None if row["price"] is None else decimal_text(row["price"]),
        "volume": None if row["volume"] is None else decimal_text(row["volume"]),
        "executed_volume": decimal_text(row["executed_volume"]),
        "executed_funds": decimal_text(row["executed_funds"]),
        "fee": decimal_text(row["paid_fee"]),
        "reason": row["reason"],
        "error_name": row["error_name"],
        "error_message": row["error_message"],
        "created_at": utc_text(row["ts"]),
        "updated_at": utc_text(row["updated_at"]),
        "fills": fills,
    }


def event_data(event: EngineEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "ts": event.ts,
        "level": event.level,
        "kind": event.kind,
        "state": event.state,
        "actor": event.actor,
        "message": event.message,
    }


def signal_data(signal: Signal) -> dict[str, Any]:
    return {
        "id": signal.pk,
        "ts": signal.ts,
        "market": signal.market,
        "action": signal.action,
        "score": signal.score,
        "source": signal.source,
        "explanation": signal.explanation,
    }


def pnl_data(row: PnlDaily) -> dict[str, Any]:
    return {
        "date": row.date,
        "market": row.market,
        "mode": row.mode,
        "realized": row.realized,
        "unrealized": row.unrealized,
        "total": row.total,
        "fees": row.fees,
        "max_drawdown": row.max_drawdown,
        "equity_start": row.equity_start,
        "equity_peak": row.equity_peak,
        "equity_last": row.equity_last,
        "trades": row.trades,
    }


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
    }


# ---------------------------------------------------------------------------------------------------
# Endpoints
# ---------------------------------------------------------------------------------------------------
@api_view("GET")
def engine_status(request: HttpRequest, actor: str) -> tuple[Any, int]:
    _query(request, ())
    return status_data(), 200


@api_view("POST")
def engine_control(request: HttpRequest, actor: str, action: str) -> tuple[Any, int]:
    if action not in ("start", "stop", "reset"):
        raise ApiError(404, "not_found", f"No engine action {action!r}; use start, stop or reset")
    _query(request, ())
    body = _json_body(request, ("reason",))
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > REASON_MAX:
        raise ApiError(400, "invalid_field", f"reason must be a string of at most {REASON_MAX} characters", field="reason")
    try:
        transition, note = engine_command(action=action, actor=actor, reason=reason)
    except services.TransitionNotAllowed as refused:
        raise ApiError(409, "transition_not_allowed", refused.message, current=refused.current) from None
    except EngineOffline as offline:
        raise ApiError(
            503, "engine_offline", offline.message, hint=f"The engine process is not running; {ENGINE_OFFLINE_HINT}"
        ) from None
    data = {
        "from": transition.old,
        "to": transition.new,
        "at": transition.at,
        "actor": actor,
        "note": note,
        "status": status_data(),
    }
    return data, 200


@api_view("GET")
def account_balance(request: HttpRequest, actor: str) -> tuple[Any, int]:
    _query(request, ())
    balance = selectors.balance_current()
    if balance is None:
        return None, 200
    return {
        "mode": balance.mode,
        "market": settings.TRADING_MARKET,
        "krw": balance.krw,
        "coin_symbol": balance.coin_symbol,
        "coin_volume": balance.coin_volume,
        "avg_buy_price": balance.avg_buy_price,
        "price": balance.price,
        "coin_value": balance.coin_value,
        "total_krw": balance.total_krw,
        "unrealized": balance.unrealized,
        "position_ratio": balance.position_ratio.quantize(Decimal("0.00000001")),
        "snapshot_ts": balance.ts,
    }, 200


@api_view("GET")
def orders_recent(request: HttpRequest, actor: str) -> tuple[Any, int]:
    query = _query(request, ("limit",))
    limit = _limit(query.get("limit"), name="limit", default=LIMIT_DEFAULT, maximum=LIMIT_MAX)
    return [order_data(row) for row in selectors.orders_recent_rows(limit=limit)], 200


@api_view("GET")
def logs_recent(request: HttpRequest, actor: str) -> tuple[Any, int]:
    query = _query(request, ("limit",))
    limit = _limit(query.get("limit"), name="limit", default=LIMIT_DEFAULT, maximum=LIMIT_MAX)
    return [event_data(event) for event in selectors.events_recent(limit=limit)], 200


@api_view("GET")
def signals_recent(request: HttpRequest, actor: str) -> tuple[Any, int]:
    query = _query(request, ("limit",))
    limit = _limit(query.get("limit"), name="limit", default=LIMIT_DEFAULT, maximum=LIMIT_MAX)
    return [signal_data(signal) for signal in selectors.signals_recent(limit=limit)], 200


@api_view("GET")
def pnl_daily(request: HttpRequest, actor: str) -> tuple[Any, int]:
    query = _query(request, ("days",))
    days = _limit(query.get("days"), name="days", default=DAYS_DEFAULT, maximum=DAYS_MAX)
    return [pnl_data(row) for row in selectors.pnl_daily_list(days=days)], 200


@api_view("POST")
def orders_manual(request: HttpRequest, actor: str) -> tuple[Any, int]:
    _query(request, ())
    body = _json_body(request, ("side", "krw", "volume"))
    side = body.get("side")
    krw, volume = body.get("krw"), body.get("volume")
    if side not in ("buy", "sell", "close"):
        raise ApiError(400, "invalid_field", f"side={side!r} is not allowed; use buy, sell or close", field="side")
    if side == "buy":
        if volume is not None:
            raise ApiError(400, "invalid_field", 'a buy is sized by "krw"; leave "volume" out', field="volume")
        kind = ManualOrderRequest.Kind.BUY
    elif side == "sell":
        if krw is not None:
            raise ApiError(400, "invalid_field", 'a sell is sized by "volume" (or "all"); leave "krw" out', field="krw")
        if isinstance(volume, str) and volume.strip().lower() == "all":
            kind, volume = ManualOrderRequest.Kind.SELL_ALL, None
        else:
            kind = ManualOrderRequest.Kind.SELL
    else:
        if krw is not None or volume is not None:
            field = "krw" if krw is not None else "volume"
            raise ApiError(400, "invalid_field", f'close sells the whole position; leave "{field}" out', field=field)
        kind = ManualOrderRequest.Kind.CLOSE
    for name, value in (("krw", krw), ("volume", volume)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int, Decimal))):
            raise ApiError(400, "invalid_field", f"{name} must be a number or a numeric string", field=name)
    try:
        queued = services.manual_order_request_create(kind=kind, actor=actor, krw=krw, volume=volume)
    except services.InvalidInput as invalid:
        raise ApiError(400, "invalid_field", f"{invalid.field}: {invalid.message}", field=invalid.field) from None
    data = manual_data(queued)
    data["engine_online"] = selectors.engine_online(selectors.engine_state_get())
    return data, 202


@csrf_exempt
def not_found(request: HttpRequest) -> JsonResponse:
    return envelope(error=ApiError(404, "not_found", f"No API endpoint at {request.path}; see docs/API.md"))
