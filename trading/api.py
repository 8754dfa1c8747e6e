"""The JSON API (docs/API.md): thin views over selectors and services.

Every answer is the envelope {"ok", "data", "error", "ts"}; money and volumes are strings (Decimal,
never float); timestamps are ISO-8601 UTC. Authentication is a session (CSRF required on POST) or
`Authorization: Bearer <AUTOCOIN_API_TOKEN>` (off while the setting is empty), which acts as the user
AUTOCOIN_API_USER. Either way the user's permissions decide (trading/auth.py): reading needs
view_dashboard, each action its own permission.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

from trading import control, selectors, services
from trading.auth import (
    CONTROL_ENGINE,
    VIEW_DASHBOARD,
    TokenUserUnavailable,
    api_refusal_text,
    bearer_token_blocked_for,
    bearer_token_failure_record,
    bearer_token_valid,
    token_user,
    user_can,
)
from trading.models import EngineEvent, PnlDaily, Signal

logger = logging.getLogger("autocoin.api")

LIMIT_DEFAULT, LIMIT_MAX = 50, 500
DAYS_DEFAULT, DAYS_MAX = 30, 366
REASON_MAX = 500
# text/plain too: a server that is sent no Content-Type at all (wsgiref) reports text/plain.
BODY_TYPES = ("application/json", "text/plain")
_WHOLE_NUMBER = re.compile(r"[0-9]+")
# NUL, other C0 controls and lone surrogates: PostgreSQL refuses NUL in text, SQLite cannot encode surrogates.
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


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
    # str() is the fast path (a large list formats thousands of these); it writes an exponent only for very
    # large or very small values, and those take format(), which never does.
    text = str(value)
    if "E" in text:
        if value == 0:
            return "0"
        text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def utc_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def shown(value: Any, limit: int = 40) -> str:
    """A person's input quoted for an error message, cut short so a huge input is not sent back whole."""
    if isinstance(value, Decimal):
        text = decimal_text(value) if value.is_finite() and abs(value.adjusted()) < 30 else str(value)
    else:
        text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-1]}"


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
    if error is not None and error.status == 429 and "retry_after" in error.extra:
        response["Retry-After"] = str(error.extra["retry_after"])
    return response


# ---------------------------------------------------------------------------------------------------
# Authentication, method, CSRF, parameters
# ---------------------------------------------------------------------------------------------------
class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> str:
        return reason


def _csrf_problem(request: HttpRequest) -> str | None:
    check = _CsrfCheck(lambda _request: None)  # type: ignore[arg-type]
    check.process_request(request)
    return check.process_view(request, None, (), {})  # type: ignore[arg-type, return-value]


def _require_csrf(request: HttpRequest) -> None:
    problem = _csrf_problem(request)
    if problem:
        raise ApiError(403, "csrf_failed", f"CSRF check failed ({problem}); send the X-CSRFToken header")


def _authenticate(request: HttpRequest) -> tuple[Any, str, bool]:
    """(user, actor, needs_csrf) for the caller, or ApiError 401/403/429."""
    blocked_for = bearer_token_blocked_for(request)
    if blocked_for:
        raise ApiError(
            429,
            "too_many_token_failures",
            f"Too many wrong bearer tokens from this address; try again in {blocked_for} seconds",
            retry_after=blocked_for,
        )
    token = bearer_token_valid(request)
    if token is True:
        try:
            return token_user(), "api-token", False
        except TokenUserUnavailable as unavailable:
            raise ApiError(403, "api_user_unavailable", str(unavailable)) from None
    if token is False:
        bearer_token_failure_record(request)
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
    return user, f"user:{user.get_username()}", True


def _authorize(user: Any, perm: str, *, via_token: bool) -> None:
    if not user_can(user, perm):
        raise ApiError(403, "permission_denied", api_refusal_text(user, perm, via_token=via_token), permission=perm)


def _limit(raw: str | None, *, name: str, default: int, maximum: int) -> int:
    if raw is None:
        return default
    text = raw.strip()
    # ASCII digits only: int() would also take "+5", "1_0" and Arabic-Indic or full-width digits.
    if not _WHOLE_NUMBER.fullmatch(text):
        raise ApiError(400, "invalid_parameter", f"{name}={shown(raw)} is not a whole number; use 1 to {maximum}", field=name)
    if len(text) > 6:
        raise ApiError(400, "invalid_parameter", f"{name}={shown(raw)} is out of range; use 1 to {maximum}", field=name)
    value = int(text)
    if not 1 <= value <= maximum:
        raise ApiError(400, "invalid_parameter", f"{name}={value} is out of range; use 1 to {maximum}", field=name)
    return value


def _query(request: HttpRequest, allowed: tuple[str, ...]) -> dict[str, str]:
    unknown = sorted(set(request.GET) - set(allowed))
    if unknown:
        accepted = ", ".join(allowed) or "none"
        name = unknown[0]
        raise ApiError(400, "unknown_parameter", f"Unknown parameter {shown(name)}; accepted: {accepted}", field=name[:100])
    result = {}
    for name in request.GET:
        values = request.GET.getlist(name)
        if len(values) != 1:
            raise ApiError(400, "invalid_parameter", f"{name} was given {len(values)} times; give it once", field=name)
        result[name] = values[0]
    return result


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _json_body(request: HttpRequest, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    content_type = request.content_type or ""
    if content_type and content_type not in BODY_TYPES and not content_type.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"The body is {shown(content_type, 60)}; send a JSON object with Content-Type: application/json",
        )

    def reject_constant(name: str) -> None:
        raise ValueError(f"{name} is not a number; send numbers as decimal strings")

    try:
        # Numbers are read as Decimal, exactly: an int() of thousands of digits would be refused by Python.
        body = json.loads(
            request.body,
            parse_float=Decimal,
            parse_int=Decimal,
            parse_constant=reject_constant,
            object_pairs_hook=_no_duplicates,
        )
    except _DuplicateKey as duplicate:
        key = str(duplicate)
        raise ApiError(400, "malformed_json", f"The field {shown(key)} appears twice; send it once", field=key[:100]) from None
    except RecursionError:
        raise ApiError(400, "malformed_json", "The request body is nested too deeply; send a flat JSON object") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(
            400, "malformed_json", f"The request body is not valid JSON ({shown(str(error), 120)[1:-1]}); send a JSON object"
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, "malformed_json", f"The request body must be a JSON object, not {_json_kind(body)}")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        name = unknown[0]
        accepted = ", ".join(allowed) or "none"
        raise ApiError(400, "unknown_field", f"Unknown field {shown(name)}; accepted: {accepted}", field=name[:100])
    return body


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an object" if isinstance(value, dict) else "a list"


def _text_field(body: dict[str, Any], name: str, *, max_length: int) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        raise ApiError(400, "invalid_field", f"{name} must be a string of at most {max_length} characters", field=name)
    if len(value) > max_length:
        raise ApiError(400, "invalid_field", f"{name} has {len(value)} characters; at most {max_length} are allowed", field=name)
    if _UNSTORABLE.search(value):
        raise ApiError(
            400, "invalid_field", f"{name} contains control characters or invalid Unicode; send plain text", field=name
        )
    return value


def api_view(*methods: str, perm: str = VIEW_DASHBOARD) -> Callable[[Callable[..., Any]], Callable[..., JsonResponse]]:
    """Wrap a handler `(request, actor, **kwargs) -> (data, status)` with auth, permission, method, CSRF and the
    envelope. `perm` guards `methods`; anything else asked of the endpoint (OPTIONS, a wrong method) is a read."""

    # HEAD is GET without the body (the server drops it); OPTIONS names the methods.
    allowed = (*methods, *(("HEAD",) if "GET" in methods else ()), "OPTIONS")

    def decorate(handler: Callable[..., Any]) -> Callable[..., JsonResponse]:
        @csrf_exempt  # checked below, for session callers only: a bearer token is not sent by browsers on their own
        @wraps(handler)
        def view(request: HttpRequest, **kwargs: Any) -> JsonResponse:
            try:
                user, actor, needs_csrf = _authenticate(request)
                _authorize(user, perm if request.method in methods else VIEW_DASHBOARD, via_token=not needs_csrf)
                if request.method == "OPTIONS":
                    response = envelope(data={"allow": list(allowed)})
                    response["Allow"] = ", ".join(allowed)
                    return response
                if request.method not in allowed:
                    response = envelope(
                        error=ApiError(
                            405,
                            "method_not_allowed",
                            f"{shown(request.method, 20)[1:-1]} is not allowed here; use {', '.join(methods)}",
                        )
                    )
                    response["Allow"] = ", ".join(allowed)
                    return response
                if needs_csrf and request.method not in ("GET", "HEAD", "OPTIONS"):
                    _require_csrf(request)
                data, status = handler(request, actor, **kwargs)
                return envelope(data=data, status=status)
            except ApiError as error:
                return envelope(error=error)
            except RequestDataTooBig:
                limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
                return envelope(error=ApiError(413, "payload_too_large", f"The request body is larger than {limit} bytes"))
            except TooManyFieldsSent:
                limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
                return envelope(
                    error=ApiError(400, "invalid_parameter", f"More than {limit} query parameters; send only the documented ones")
                )
            except SuspiciousOperation as suspicious:
                return envelope(
                    error=ApiError(400, "invalid_parameter", f"The request was refused: {shown(str(suspicious), 120)[1:-1]}")
                )
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
    return selectors.engine_status(control.engine_stopping_settle(actor=control.LOOKED_AT_BY_WEB))


def order_data(row: dict[str, Any]) -> dict[str, Any]:
    """An order row from `selectors.orders_recent_api_rows`, in the API's field names."""
    fills = [
        {
            "trade_id": fill["trade_id"],
            "price": decimal_text(fill["price"]),
            "volume": decimal_text(fill["volume"]),
            "funds": decimal_text(fill["funds"]),
            "fee": decimal_text(fill["fee"]),
            "ts": fill["ts_text"],
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
        "created_at": row["ts_text"],
        "updated_at": row["updated_at_text"],
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


# ---------------------------------------------------------------------------------------------------
# Endpoints
# ---------------------------------------------------------------------------------------------------
@api_view("GET")
def engine_status(request: HttpRequest, actor: str) -> tuple[Any, int]:
    _query(request, ())
    return status_data(), 200


@api_view("POST", perm=CONTROL_ENGINE)
def engine_control(request: HttpRequest, actor: str, action: str) -> tuple[Any, int]:
    if action not in ("start", "stop", "reset"):
        raise ApiError(404, "not_found", f"No engine action {action!r}; use start, stop or reset")
    _query(request, ())
    body = _json_body(request, ("reason",))
    reason = _text_field(body, "reason", max_length=REASON_MAX)
    try:
        done = control.engine_command(action=action, actor=actor, reason=reason)
    except services.EngineOffline as offline:
        hint = f"The engine process is not running; {offline.params['hint']}"
        raise ApiError(503, "engine_offline", offline.message, hint=hint, reason=offline.code) from None
    except services.TransitionNotAllowed as refused:
        raise ApiError(409, "transition_not_allowed", refused.message, current=refused.current, reason=refused.code) from None
    data = {
        "from": done.transition.old,
        "to": done.transition.new,
        "at": done.transition.at,
        "actor": actor,
        "note": done.note,
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
    return [order_data(row) for row in selectors.orders_recent_api_rows(limit=limit)], 200


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


def _is_api(request: HttpRequest) -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A 400 raised before any view (a Host not in ALLOWED_HOSTS, a malformed request): the envelope under /api/."""
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, DisallowedHost):
        message = "The Host header is not one this server answers to (DJANGO_ALLOWED_HOSTS)"
    else:
        message = "The request could not be read"
    return envelope(error=ApiError(400, "bad_request", message))


def server_error(request: HttpRequest) -> HttpResponse:
    if not _is_api(request):
        return defaults.server_error(request)
    return envelope(error=ApiError(500, "internal_error", "Something went wrong on the server; see its log"))


@csrf_exempt
def not_found(request: HttpRequest) -> JsonResponse:
    return envelope(error=ApiError(404, "not_found", f"No API endpoint at {request.path}; see docs/API.md"))
