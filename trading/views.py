"""The web's doors: thin views that call selectors and services.

The dashboard is one page of named partials (`trading/dashboard.html#<name>-panel`). Each panel polls
its own URL with `If-None-Match`; a panel whose version key has not changed is answered with 204
(htmx: no swap) or 304 (any other client) before anything is rendered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event
from django_htmx.middleware import HtmxDetails

from exchange.preflight import run_live_preflight
from trading import (
    control,
    events,
    manual_requests,
    metrics_selectors,
    selectors,
    services,
    study_selectors,
    study_services,
    trade_selectors,
)
from trading.accounts import venue_current, venue_metric_text
from trading.auth import (
    CHANGE_STRATEGY,
    CONTROL_ENGINE,
    PLACE_MANUAL_ORDER,
    VIEW_DASHBOARD,
    TokenUserUnavailable,
    bearer_token_blocked_for,
    bearer_token_failure_record,
    bearer_token_valid,
    is_loopback,
    refusal_text,
    token_user,
    user_can,
)
from trading.errors import InvalidInput, ManualOrderRefused, ManualRequestNotCancellable
from trading.forms import AMOUNT_MAX_CHARS
from trading.manual_limits import manual_buy_limits
from trading.market_stream import live_quote_context
from trading.models import EngineState, ManualOrderRequest, OptimizationStudy


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


# ---------------------------------------------------------------------------------------------------
# Access
# ---------------------------------------------------------------------------------------------------
def permission_required(perm: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Login via the admin login page, then `perm` (trading/auth.py). An expired session in a poll redirects the
    whole page, not the panel; a missing permission is a 403 that says which one (htmx: just the sentence)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if user_can(request.user, perm):
                return view(request, *args, **kwargs)
            if not request.user.is_authenticated:
                if request.htmx:
                    return HttpResponseClientRedirect(f"{reverse(settings.LOGIN_URL)}?next={reverse('dashboard')}")
                return redirect_to_login(request.get_full_path())
            template = "trading/denied.html#denied" if request.htmx else "trading/denied.html"
            response = render(request, template, {"refusal": refusal_text(request.user, perm)}, status=403)
            # dashboard.js shows the sentence in place of its generic "refused" notice.
            response["X-Missing-Permission"] = perm
            return response

        return wrapper

    return decorate


def actor_of(request: HttpRequest) -> str:
    return f"user:{request.user.get_username()}"


# ---------------------------------------------------------------------------------------------------
# Panels: each builds only its own context
# ---------------------------------------------------------------------------------------------------
def _engine_context(state: EngineState) -> dict[str, Any]:
    status = selectors.engine_status(state)
    return {
        "status": status,
        "heartbeat_age": selectors.heartbeat_age_bucket(state),
        "stale_after": settings.ENGINE_STALE_AFTER_SEC,
        "live_problem": services.live_mode_problem(),
    }


def _market_context(state: EngineState) -> dict[str, Any]:
    return {"market": settings.TRADING_MARKET, "last_price": state.last_price, "signal": selectors.signal_latest()}


def _balance_context(state: EngineState) -> dict[str, Any]:
    return {"balance": selectors.balance_current(state)}


def _pnl_context(state: EngineState | None) -> dict[str, Any]:
    pnl = selectors.pnl_today()
    loss = selectors.daily_loss(pnl)
    limit = settings.MAX_DAILY_LOSS_KRW
    return {
        "pnl": pnl,
        "pnl_total": (pnl.realized + pnl.unrealized) if pnl else Decimal(0),
        "loss": loss,
        "loss_limit": limit,
        "loss_percent": max(0, min(100, int(loss * 100 / limit))) if limit else 0,
    }


def _risk_context(state: EngineState | None) -> dict[str, Any]:
    state = state or EngineState.load()
    balance = selectors.balance_current(state, with_unrealized=False)  # the position ratio is all it shows
    return {"risk": selectors.risk_overview(state, balance, selectors.pnl_today())}


def _chart_context(state: EngineState | None) -> dict[str, Any]:
    now = timezone.localtime()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today, week = selectors.equity_series_windows(midnight, midnight - timedelta(days=6))
    return {"equity_today": today, "equity_week": week}


def _signals_context(state: EngineState | None) -> dict[str, Any]:
    return {"signals": selectors.signals_recent(limit=15)}


def _orders_context(state: EngineState | None) -> dict[str, Any]:
    return {"orders": selectors.orders_recent_rows(limit=15)}


def _manual_context(state: EngineState | None) -> dict[str, Any]:
    return {"manual_requests": selectors.manual_requests_recent(limit=5)}


def _manualgate_context(state: EngineState) -> dict[str, Any]:
    """Whether the manual order form may be sent now; the reason shown beside its disabled button if not."""
    refusal = manual_requests.manual_order_refusal(state)
    return {"manual_refusal": refusal.text() if refusal else ""}


def _expire_manual_requests() -> None:
    """What the web lists is never shown PENDING past its time, even while no engine runs to expire it."""
    manual_requests.manual_order_requests_expire(now=timezone.now(), actor="web")


def _log_context(state: EngineState | None) -> dict[str, Any]:
    return {"events": selectors.events_recent(limit=30)}


# name → (context builder, needs the engine state row, poll every N times DASHBOARD_POLL_SEC)
PANELS: dict[str, tuple[Callable[[Any], dict[str, Any]], bool, int]] = {
    "engine": (_engine_context, True, 1),
    "market": (_market_context, True, 1),
    "balance": (_balance_context, True, 1),
    "pnl": (_pnl_context, False, 1),
    "risk": (_risk_context, True, 1),
    "chart": (_chart_context, False, 5),
    "signals": (_signals_context, False, 1),
    "orders": (_orders_context, False, 1),
    "manual": (_manual_context, False, 1),
    "manualgate": (_manualgate_context, True, 1),
    "log": (_log_context, False, 1),
    "trades": (trade_selectors.trades_panel_context, True, 1),
    "performance": (trade_selectors.performance_panel_context, False, 5),
}
# Panels whose markup lives in a template of its own, and whose version key comes from their own selectors.
PANEL_TEMPLATES = {"trades": "trading/trades.html#trades-panel", "performance": "trading/performance.html#performance-panel"}
PANEL_VERSIONS: dict[str, Callable[[EngineState | None], str]] = {
    "trades": trade_selectors.trades_panel_version,
    "performance": trade_selectors.performance_panel_version,
}


def panel_version(name: str, state: EngineState | None) -> str:
    own = PANEL_VERSIONS.get(name)
    return own(state) if own is not None else selectors.panel_version(name, state)


def panel_etag(name: str, version: str, request: HttpRequest) -> str:
    # The engine panel's buttons depend on who asks: a change of permission must re-render it.
    controls = "controls" if name == "engine" and user_can(request.user, CONTROL_ENGINE) else ""
    if name == "manual" and user_can(request.user, PLACE_MANUAL_ORDER):
        controls = "cancel"  # the cancel buttons on pending rows
    raw = f"{name}|{translation.get_language()}|{controls}|{version}".encode()
    return '"' + hashlib.blake2s(raw, digest_size=10).hexdigest() + '"'


def _panel_meta(name: str, version: str, request: HttpRequest) -> dict[str, Any]:
    etag = panel_etag(name, version, request)
    return {
        "etag": etag,
        "etag_headers": json.dumps({"If-None-Match": etag}),
        "poll_sec": settings.DASHBOARD_POLL_SEC * PANELS[name][2],
    }


def _panel_render(
    request: HttpRequest,
    name: str,
    state: EngineState | None,
    context: dict[str, Any] | None = None,
    *,
    version: str | None = None,
) -> HttpResponse:
    """Render panel `name`; `context` and `version` when the caller already has them."""
    builder, _needs_state, _every = PANELS[name]
    meta = _panel_meta(name, version if version is not None else panel_version(name, state), request)
    context = {**(context if context is not None else builder(state)), "panel": meta}
    response = render(request, PANEL_TEMPLATES.get(name, f"trading/dashboard.html#{name}-panel"), context)
    response["ETag"] = meta["etag"]
    response["Cache-Control"] = "no-cache, private"
    return response


def _if_none_match(request: HttpRequest) -> set[str]:
    header = request.headers.get("If-None-Match", "")
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


@require_safe
@permission_required(VIEW_DASHBOARD)
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    _expire_manual_requests()
    state = control.engine_stopping_settle(actor=control.LOOKED_AT_BY_WEB, state=EngineState.load())
    context: dict[str, Any] = {
        "poll_sec": settings.DASHBOARD_POLL_SEC,
        "mode": selectors.mode_current(),
        "venue": venue_current(),
        "account_label": selectors.account_current_label(),
        "market": settings.TRADING_MARKET,
        "manual_kinds": ManualOrderRequest.Kind.choices,
        "live": live_quote_context(),
        "manual_limits": manual_buy_limits(),
    }
    for name, (builder, _needs_state, _every) in PANELS.items():
        context.update(builder(state))
        context[f"{name}_panel"] = _panel_meta(name, panel_version(name, state), request)
    return render(request, "trading/dashboard.html", context)


@require_safe
@permission_required(VIEW_DASHBOARD)
def panel(request: HtmxHttpRequest, name: str) -> HttpResponse:
    if name not in PANELS:
        raise Http404("no such panel")
    _builder, needs_state, _every = PANELS[name]
    if name == "manual":
        _expire_manual_requests()
    state = control.engine_stopping_settle(actor=control.LOOKED_AT_BY_WEB, state=EngineState.load()) if needs_state else None
    if name == "risk":
        # Its version is its own content (see selectors.panel_version): read it once, use it for both.
        context = _risk_context(state)
        version = repr(context["risk"])
    else:
        context, version = None, panel_version(name, state)
    etag = panel_etag(name, version, request)
    if etag in _if_none_match(request):
        # htmx would swap a 304's empty body into the page; 204 is its "leave it alone".
        response = HttpResponse(status=204) if request.htmx else HttpResponseNotModified()
        response["ETag"] = etag
        return response
    return _panel_render(request, name, state, context, version=version)


# ---------------------------------------------------------------------------------------------------
# Control: Start / Stop / Reset and manual orders
# ---------------------------------------------------------------------------------------------------
@require_POST
@permission_required(CONTROL_ENGINE)
def engine_action(request: HtmxHttpRequest, action: str) -> HttpResponse:
    if action not in ("start", "stop", "reset"):
        raise Http404("no such action")
    notice, problem = "", ""
    try:
        done = control.engine_command(action=action, actor=actor_of(request))
        moved = _("%(old)s → %(new)s.") % {"old": done.transition.old, "new": done.transition.new}
        notice = " ".join(filter(None, [moved, _(done.note) if done.note else ""]))
    except services.TransitionNotAllowed as refused:
        problem = refused.text()
    if not request.htmx:
        (messages.error if problem else messages.success)(request, problem or notice)
        return redirect("dashboard")
    state = EngineState.load()
    response = _panel_render(request, "engine", state, {**_engine_context(state), "notice": notice, "problem": problem})
    return trigger_client_event(response, "engineChanged", {"action": action, "ok": not problem})


MANUAL_FIELD_LABELS = {
    "kind": gettext_lazy("Order"),
    "krw": gettext_lazy("KRW amount (buy)"),
    "volume": gettext_lazy("Volume (sell)"),
    "engine": gettext_lazy("Engine"),
}


def _field_error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "label": str(MANUAL_FIELD_LABELS.get(field, field)), "message": message}


@require_POST
@permission_required(PLACE_MANUAL_ORDER)
def manual_order(request: HtmxHttpRequest) -> HttpResponse:
    kind = request.POST.get("kind", "")
    krw = request.POST.get("krw", "").strip() or None
    volume = request.POST.get("volume", "").strip() or None
    context: dict[str, Any] = {
        "manual_kinds": ManualOrderRequest.Kind.choices,
        "form": {"kind": kind, "krw": krw, "volume": volume},
        "manual_limits": manual_buy_limits(),
    }
    too_long = next((name for name, value in (("krw", krw), ("volume", volume)) if value and len(value) > AMOUNT_MAX_CHARS), None)
    if too_long:
        # Not echoed back: nothing that long is an amount.
        context["form"][too_long] = ""
        message = _("That is not an amount (more than %(count)s characters).") % {"count": AMOUNT_MAX_CHARS}
        context.update(field_error=_field_error(too_long, message))
    else:
        try:
            queued = manual_requests.manual_order_request_create(
                kind=kind,
                actor=actor_of(request),
                krw=krw if kind == ManualOrderRequest.Kind.BUY else None,
                volume=volume if kind == ManualOrderRequest.Kind.SELL else None,
            )
        except services.InvalidInput as invalid:
            context.update(field_error=_field_error(invalid.field, invalid.text()))
        except ManualOrderRefused as refusal:
            context.update(field_error=_field_error("engine", refusal.text()))
        else:
            context.update(queued=queued, form={}, manual_ttl=settings.MANUAL_ORDER_TTL_SEC)
    state = EngineState.load()
    context.update(
        _manualgate_context(state),
        manualgate_panel=_panel_meta("manualgate", selectors.panel_version("manualgate", state), request),
    )
    if not request.htmx:
        if "queued" in context:
            messages.success(request, _("Manual order #%(id)s queued.") % {"id": context["queued"].pk})
        else:
            messages.error(request, f"{context['field_error']['label']}: {context['field_error']['message']}")
        return redirect("dashboard")
    response = render(request, "trading/dashboard.html#manual-form", context)
    if "queued" in context:
        trigger_client_event(response, "manualQueued", {"id": context["queued"].pk})
    return response


@require_POST
@permission_required(PLACE_MANUAL_ORDER)
def manual_order_cancel(request: HtmxHttpRequest, request_id: int) -> HttpResponse:
    notice, problem = "", ""
    try:
        manual_requests.manual_order_request_cancel(request_id=request_id, actor=actor_of(request))
        notice = _("Manual order #%(id)s cancelled.") % {"id": request_id}
    except ManualRequestNotCancellable as refusal:
        problem = refusal.text()
    if not request.htmx:
        (messages.error if problem else messages.success)(request, problem or notice)
        return redirect("dashboard")
    response = _panel_render(request, "manual", None, {**_manual_context(None), "notice": notice, "problem": problem})
    return trigger_client_event(response, "manualCancelled", {"id": request_id, "ok": not problem})


# ---------------------------------------------------------------------------------------------------
# The browser's own requests
# ---------------------------------------------------------------------------------------------------
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<circle cx="8" cy="8" r="7" fill="#15803d"/><path d="M4 10l3-3 2 2 3-4" stroke="#fff" stroke-width="1.6" fill="none"/>'
    "</svg>"
)


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on every page (the admin's too); answer instead of logging a 404."""
    response = HttpResponse(FAVICON_SVG, content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=86400"
    return response


# ---------------------------------------------------------------------------------------------------
# Health and metrics
# ---------------------------------------------------------------------------------------------------
def _utc_now_text() -> str:
    return timezone.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Monitors probe with GET or HEAD and send no CSRF token: a POST gets 405, not the CSRF page.
@csrf_exempt
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for monitors: no auth, no secrets; 503 when the database does not answer."""
    try:
        status = selectors.engine_health()
    except DatabaseError:
        response = JsonResponse({"ok": False, "database": "unreachable", "ts": _utc_now_text()}, status=503)
    else:
        response = JsonResponse({"ok": True, "database": "ok", **status, "ts": _utc_now_text()})
    response["Cache-Control"] = "no-store"
    return response


def _metrics_unreachable() -> HttpResponse:
    return HttpResponse("database unreachable\n", status=503, content_type="text/plain", headers={"Cache-Control": "no-store"})


@csrf_exempt
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition for a bearer token or a loopback caller."""
    blocked_for = bearer_token_blocked_for(request)
    if blocked_for:
        return HttpResponse(
            f"too many wrong bearer tokens from this address; try again in {blocked_for} seconds\n",
            status=429,
            content_type="text/plain",
            headers={"Retry-After": str(blocked_for)},
        )
    token = bearer_token_valid(request)
    if token is False:
        bearer_token_failure_record(request)
        return HttpResponse(
            "invalid bearer token\n", status=401, content_type="text/plain", headers={"WWW-Authenticate": "Bearer"}
        )
    if token is True:
        # The token acts as AUTOCOIN_API_USER, who must be allowed to see the figures.
        try:
            user = token_user()
        except TokenUserUnavailable as unavailable:
            return HttpResponse(f"{unavailable}\n", status=403, content_type="text/plain")
        except DatabaseError:
            return _metrics_unreachable()
        if not user_can(user, VIEW_DASHBOARD):
            return HttpResponse(f"{refusal_text(user, VIEW_DASHBOARD)}\n", status=403, content_type="text/plain")
    elif not is_loopback(request):
        return HttpResponse(
            "metrics are served to loopback callers or with Authorization: Bearer <AUTOCOIN_API_TOKEN>\n",
            status=403,
            content_type="text/plain",
        )
    try:
        body = metrics_selectors.metrics_text() + trade_selectors.position_metrics_text() + venue_metric_text()
    except DatabaseError:
        # A scrape that fails is itself the signal; say why in one line rather than a 500 page.
        return _metrics_unreachable()
    response = HttpResponse(body, content_type="text/plain; version=0.0.4; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------------------------------------------
# Live pre-flight
# ---------------------------------------------------------------------------------------------------
@require_POST
@permission_required(CONTROL_ENGINE)
def live_check(request: HtmxHttpRequest) -> HttpResponse:
    """The one door of the web process that reaches Upbit: a person asks, before live trading, whether it would work.
    It reads and sends a test order only (docs/ARCHITECTURE.md); the engine's process is not involved, so the check
    also works while the engine is stopped."""
    checks = run_live_preflight()
    passed = all(check.ok for check in checks)
    if not passed:
        events.live_preflight_failed(actor=f"web:{request.user.get_username()}", market=settings.TRADING_MARKET, checks=checks)
    template = "trading/preflight.html#preflight-panel" if request.htmx else "trading/preflight.html"
    return render(request, template, {"checks": checks, "passed": passed})


# ---------------------------------------------------------------------------------------------------
# Parameter searches (`manage.py optimize`)
# ---------------------------------------------------------------------------------------------------
def _study_or_404(pk: int) -> OptimizationStudy:
    study = study_selectors.study_get(pk=pk)
    if study is None:
        raise Http404
    return study


@require_safe
@permission_required(VIEW_DASHBOARD)
def studies(request: HttpRequest) -> HttpResponse:
    return render(request, "trading/studies.html", {"studies": study_selectors.studies_recent()})


@require_safe
@permission_required(VIEW_DASHBOARD)
def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    study = _study_or_404(pk)
    context = {
        "study": study,
        "best": study_selectors.study_best_trials(study=study),
        "importance": sorted(study.importance.items(), key=lambda item: -item[1]),
        "can_apply": user_can(request.user, CHANGE_STRATEGY),
    }
    return render(request, "trading/study.html", context)


@require_safe
@permission_required(VIEW_DASHBOARD)
def study_chart(request: HttpRequest, pk: int) -> HttpResponse:
    """The stored chart as its own same-origin image (the page's CSP allows no data: images)."""
    return stored_svg(_study_or_404(pk).chart_svg)


def stored_svg(svg: str) -> HttpResponse:
    """A chart the backtester stored, as an image of its own (404 when there is none)."""
    if not svg:
        raise Http404
    response = HttpResponse(svg, content_type="image/svg+xml")
    # Shown through <img> only; opened on its own it still may not run anything.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@require_POST
@permission_required(CHANGE_STRATEGY)
def study_apply(request: HttpRequest, pk: int) -> HttpResponse:
    study = _study_or_404(pk)
    try:
        study_services.study_best_params_apply(study=study, actor=actor_of(request))
    except InvalidInput as error:
        messages.error(request, error.text())
    else:
        messages.success(
            request,
            _("The best parameters of study %(study)s (trial #%(trial)s) now drive %(strategy)s from the engine's next cycle.")
            % {"study": study.name, "trial": study.best_trial_number, "strategy": study.strategy},
        )
    return redirect("study_detail", pk=study.pk)
