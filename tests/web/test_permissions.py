"""Who may do what: every role by every door (dashboard pages and htmx endpoints, the JSON API, the admin's
trading pages and actions) by every method, against the expected status and whether anything changed.

The door list is checked against the URL resolver and the admin's actions, so a new endpoint or action
without a rule here fails `test_every_door_has_a_rule`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from tests import factories
from tests.conftest import engine_running_online
from tests.web.conftest import API_TOKEN, API_USER
from trading import backtest_jobs
from trading import urls as trading_urls
from trading.backtest_job_models import BacktestJob
from trading.models import (
    BacktestRun,
    BalanceSnapshot,
    Candle,
    EngineEvent,
    EngineState,
    Fill,
    ManualOrderRequest,
    OptimizationStudy,
    OptimizationTrial,
    Order,
    PnlDaily,
    Signal,
    StrategyConfig,
)
from trading.schedule_models import PauseWindow

pytestmark = pytest.mark.django_db

# ---------------------------------------------------------------------------------------------------
# Roles, and what each may do (written out here, not read from the code under test)
# ---------------------------------------------------------------------------------------------------
TABLES = [
    EngineState,
    StrategyConfig,
    EngineEvent,
    Signal,
    Order,
    Fill,
    BalanceSnapshot,
    PnlDaily,
    ManualOrderRequest,
    Candle,
    BacktestRun,
    OptimizationStudy,
    OptimizationTrial,
    PauseWindow,
]
VIEWER_PERMS = {"view_dashboard", *(f"view_{model._meta.model_name}" for model in TABLES)}
OPERATOR_PERMS = VIEWER_PERMS | {
    "control_engine",
    "place_manual_order",
    "cancel_order",
    "run_backtest",
    "export_data",
    "add_strategyconfig",
    "change_strategyconfig",
    "add_pausewindow",
    "change_pausewindow",
    "delete_pausewindow",
}
NEVER = "never"  # a door nobody passes, superusers included (e.g. deleting audit rows)


@dataclass(frozen=True)
class Role:
    name: str
    perms: frozenset[str] | None  # None: a superuser
    session: bool  # logged in through the admin (else: anonymous, or the API token only)
    token: bool = False

    def can(self, perm: str | None) -> bool:
        if perm is None:
            return True
        if perm == NEVER or (not self.session and not self.token):
            return False
        return self.perms is None or perm.removeprefix("trading.") in self.perms


ROLES = [
    Role("anonymous", frozenset(), session=False),
    Role("staff-without-permissions", frozenset(), session=True),
    Role("viewer", frozenset(VIEWER_PERMS), session=True),
    Role("operator", frozenset(OPERATOR_PERMS), session=True),
    Role("superuser", None, session=True),
    Role("token-as-viewer", frozenset(VIEWER_PERMS), session=False, token=True),
    Role("token-as-operator", frozenset(OPERATOR_PERMS), session=False, token=True),
]


def client_for(role: Role) -> Client:
    if role.token:
        factories.UserFactory(
            username=API_USER, is_staff=False, groups=["Viewers" if "control_engine" not in role.perms else "Operators"]
        )
        return Client(headers={"Authorization": f"Bearer {API_TOKEN}"})
    client = Client()
    if role.session:
        if role.perms is None:
            user = factories.UserFactory(username="root", is_superuser=True)
        else:
            groups = {"staff-without-permissions": [], "viewer": ["Viewers"], "operator": ["Operators"]}[role.name]
            user = factories.UserFactory(username=role.name, groups=groups)
        client.force_login(user)
    return client


# ---------------------------------------------------------------------------------------------------
# Doors
# ---------------------------------------------------------------------------------------------------
# page: a dashboard view (login redirect, 403); api: the JSON envelope (401, 403); admin: the admin (login
# redirect, 403); public: answers everyone the same.
PAGE, API, ADMIN, PUBLIC = "page", "api", "admin", "public"


@dataclass(frozen=True)
class Door:
    name: str  # the URL name (admin: without "admin:"), or "<admin url prefix>:<action>" for an admin action
    surface: str
    method: str
    path: str | Callable[[dict[str, Any]], str]
    perm: str | None  # None: anyone who is signed in (pages, admin) or anyone at all (public)
    ok: int  # the status for someone who may pass
    data: Any = None
    writes: bool = False  # a permitted request changes the database
    gate: str | None = None  # admin actions: the changelist's own permission, checked before the action's
    refused: int = 403  # admin actions: an action the user may not run is not offered; the list is shown (200)
    htmx: bool = False
    running: bool = False  # the engine RUNNING and online first: manual orders are accepted only then

    def url(self, rows: dict[str, Any]) -> str:
        return self.path(rows) if callable(self.path) else self.path

    def body(self, rows: dict[str, Any]) -> Any:
        return self.data(rows) if callable(self.data) else self.data

    def passes(self, role: Role) -> bool:
        if self.surface == PUBLIC:
            return True
        if self.surface == API:
            return (role.session or role.token) and role.can(self.perm)
        return role.session and role.can(self.gate) and role.can(self.perm)

    def expected(self, role: Role) -> int:
        if self.passes(role) or (self.ok == 405 and self.surface == PAGE):  # pages check the method first
            return self.ok
        if self.surface == API:
            return 403 if role.session or role.token else 401
        if not role.session:
            return 200 if self.htmx else 302  # to the login page (htmx: HX-Redirect); the token is for the API only
        return 403 if not role.can(self.gate) else self.refused

    def __str__(self) -> str:
        return f"{self.method} {self.name}{' (htmx)' if self.htmx else ''} {self.url(_SAMPLE_ROWS)}"


class _SamplePk:
    pk = 1


_SAMPLE_ROWS: dict[str, Any] = {model.__name__: _SamplePk() for model in (*TABLES, BacktestJob)}

VIEW = "trading.view_dashboard"
CONTROL = "trading.control_engine"
PLACE = "trading.place_manual_order"
CANCEL = "trading.cancel_order"
EXPORT = "trading.export_data"
API_READS = [
    "api_engine_status",
    "api_account_balance",
    "api_orders_recent",
    "api_logs_recent",
    "api_signals_recent",
    "api_pnl_daily",
    "api_trades",
    "api_performance",
]
BUY = {"kind": "buy", "krw": "10000"}
API_BUY = {"side": "buy", "krw": "10000"}


def _manual_cancel_url(name: str) -> Callable[[dict[str, Any]], str]:
    return lambda rows: reverse(name, args=[rows["ManualOrderRequest"].pk])


def _page_doors() -> list[Door]:
    engine, manual = reverse("engine_action", args=["reset"]), reverse("manual_order")
    entries = reverse("entries_action", args=["pause"])
    doors = [
        Door("dashboard", PAGE, "GET", "/", VIEW, 200),
        Door("dashboard", PAGE, "POST", "/", VIEW, 405),
        Door("panel", PAGE, "GET", reverse("panel", args=["engine"]), VIEW, 200),
        Door("panel", PAGE, "GET", reverse("panel", args=["orders"]), VIEW, 200, htmx=True),
        Door("panel", PAGE, "POST", reverse("panel", args=["engine"]), VIEW, 405),
        Door("live_quote", PAGE, "GET", reverse("live_quote"), VIEW, 200),
        Door("live_quote", PAGE, "GET", reverse("live_quote"), VIEW, 200, htmx=True),
        Door("live_quote", PAGE, "POST", reverse("live_quote"), VIEW, 405),
        Door("chart_candles", PAGE, "GET", reverse("chart_candles"), VIEW, 200),
        Door("chart_candles", PAGE, "POST", reverse("chart_candles"), VIEW, 405),
        Door("engine_action", PAGE, "GET", engine, CONTROL, 405),
        Door("engine_action", PAGE, "POST", engine, CONTROL, 302, writes=True),
        Door("engine_action", PAGE, "POST", engine, CONTROL, 200, writes=True, htmx=True),
        Door("entries_action", PAGE, "GET", entries, CONTROL, 405),
        Door("entries_action", PAGE, "POST", entries, CONTROL, 302, writes=True),
        Door("entries_action", PAGE, "POST", entries, CONTROL, 200, writes=True, htmx=True),
        Door("manual_order", PAGE, "GET", manual, PLACE, 405),
        Door("manual_order", PAGE, "POST", manual, PLACE, 302, data=BUY, writes=True, running=True),
        Door("manual_order", PAGE, "POST", manual, PLACE, 200, data=BUY, writes=True, htmx=True, running=True),
        Door("manual_order_cancel", PAGE, "GET", _manual_cancel_url("manual_order_cancel"), PLACE, 405),
        Door("manual_order_cancel", PAGE, "POST", _manual_cancel_url("manual_order_cancel"), PLACE, 302, writes=True),
        Door("manual_order_cancel", PAGE, "POST", _manual_cancel_url("manual_order_cancel"), PLACE, 200, writes=True, htmx=True),
        # The live pre-flight asks Upbit (here: a closed local port) and records the failed check.
        Door("live_check", PAGE, "GET", reverse("live_check"), CONTROL, 405),
        Door("live_check", PAGE, "POST", reverse("live_check"), CONTROL, 200, writes=True),
        Door("live_check", PAGE, "POST", reverse("live_check"), CONTROL, 200, writes=True, htmx=True),
        # Parameter searches: read by viewers; applying the best parameters changes the strategy's configuration.
        *_study_doors(),
        # Backtests from the console: viewers read them; running one and applying its parameters need their permissions.
        *_backtest_doors(),
        # The test client calls from 127.0.0.1: /metrics serves loopback callers (and checks a token's user).
        Door("metrics", PUBLIC, "GET", reverse("metrics"), None, 200),
        Door("set_language", PUBLIC, "POST", reverse("set_language"), None, 302, data={"language": "en", "next": "/"}),
    ]
    for name, ok in (("healthz", 200), ("favicon", 200), ("metrics", None)):
        doors += [
            Door(name, PUBLIC, method, reverse(name), None, status) for method, status in (("GET", ok), ("POST", 405)) if status
        ]
    return doors


def _study(view: str) -> Callable[[dict[str, Any]], str]:
    return lambda rows: reverse(view, args=[rows["OptimizationStudy"].pk])


def _study_doors() -> list[Door]:
    doors = [
        Door("studies", PAGE, "GET", reverse("studies"), VIEW, 200),
        Door("studies", PAGE, "POST", reverse("studies"), VIEW, 405),
    ]
    for name in ("study_detail", "study_chart"):
        doors += [Door(name, PAGE, "GET", _study(name), VIEW, 200), Door(name, PAGE, "POST", _study(name), VIEW, 405)]
    change = "trading.change_strategyconfig"
    return [
        *doors,
        Door("study_apply", PAGE, "GET", _study("study_apply"), change, 405),
        Door("study_apply", PAGE, "POST", _study("study_apply"), change, 302, writes=True),
    ]


def _backtest_form(rows: dict[str, Any]) -> dict[str, str]:
    """A valid "New backtest" form over the one stored candle (today, Seoul time), every parameter at its default."""
    from zoneinfo import ZoneInfo

    day = timezone.now().astimezone(ZoneInfo("Asia/Seoul")).date().isoformat()
    return {
        "strategy": "macd",
        "params_for": "macd",
        "market": "KRW-BTC",
        "unit": "1",
        "date_from": day,
        "date_to": day,
        "initial_krw": "1000000",
        "max_order_krw": "10000",
        "max_daily_loss_krw": "50000",
        "max_position_ratio": "0.3",
        "cooldown_sec": "30",
    }


def _job(view: str) -> Callable[[dict[str, Any]], str]:
    return lambda rows: reverse(view, args=[rows["BacktestJob"].pk])


def _run(view: str) -> Callable[[dict[str, Any]], str]:
    return lambda rows: reverse(view, args=[rows["BacktestRun"].pk])


def _backtest_doors() -> list[Door]:
    run, change = "trading.run_backtest", "trading.change_strategyconfig"
    doors = []
    for name, perm in (("backtests", VIEW), ("backtest_params", run), ("backtest_compare", VIEW)):
        ok = 302 if name == "backtest_compare" else 200  # one finished run: nothing to compare, back to the list
        doors += [Door(name, PAGE, "GET", reverse(name), perm, ok), Door(name, PAGE, "POST", reverse(name), perm, 405)]
    for name, perm in (("backtest_detail", VIEW), ("backtest_progress", VIEW), ("backtest_trades_csv", EXPORT)):
        doors += [Door(name, PAGE, "GET", _job(name), perm, 200), Door(name, PAGE, "POST", _job(name), perm, 405)]
    doors += [
        Door("backtest_run_equity", PAGE, "GET", _run("backtest_run_equity"), VIEW, 200),
        Door("backtest_run_equity", PAGE, "POST", _run("backtest_run_equity"), VIEW, 405),
    ]
    return [
        *doors,
        Door("backtest_new", PAGE, "GET", reverse("backtest_new"), run, 405),
        Door("backtest_new", PAGE, "POST", reverse("backtest_new"), run, 302, data=_backtest_form, writes=True),
        Door("backtest_apply", PAGE, "GET", _job("backtest_apply"), change, 200),
        Door("backtest_apply", PAGE, "POST", _job("backtest_apply"), change, 302, writes=True),
    ]


def _api_doors() -> list[Door]:
    doors = []
    for name in API_READS:
        doors += [Door(name, API, "GET", reverse(name), VIEW, 200), Door(name, API, "POST", reverse(name), VIEW, 405)]
    control, manual = reverse("api_engine_control", args=["reset"]), reverse("api_orders_manual")
    return [
        *doors,
        Door("api_engine_control", API, "GET", control, VIEW, 405),
        Door("api_engine_control", API, "POST", control, CONTROL, 200, data={}, writes=True),
        Door("api_engine_pause_entries", API, "GET", reverse("api_engine_pause_entries"), VIEW, 405),
        Door("api_engine_pause_entries", API, "POST", reverse("api_engine_pause_entries"), CONTROL, 200, writes=True),
        Door("api_engine_resume_entries", API, "GET", reverse("api_engine_resume_entries"), VIEW, 405),
        # Entries are not paused in the rows below: a resume answers 200 and changes nothing.
        Door("api_engine_resume_entries", API, "POST", reverse("api_engine_resume_entries"), CONTROL, 200),
        Door("api_orders_manual", API, "GET", manual, VIEW, 405),
        Door("api_orders_manual", API, "POST", manual, PLACE, 202, data=API_BUY, writes=True, running=True),
        Door("api_orders_manual_cancel", API, "GET", _manual_cancel_url("api_orders_manual_cancel"), VIEW, 405),
        Door("api_orders_manual_cancel", API, "POST", _manual_cancel_url("api_orders_manual_cancel"), PLACE, 200, writes=True),
        Door("api_not_found", PUBLIC, "GET", "/api/nothing-here", None, 404),
        Door("api_not_found", PUBLIC, "POST", "/api/nothing-here", None, 404),
    ]


def _admin_url(model: type, view: str, *args: Any) -> str:
    return reverse(f"admin:trading_{model._meta.model_name}_{view}", args=args)


def _row_url(model: type, view: str) -> Callable[[dict[str, Any]], str]:
    return lambda rows: _admin_url(model, view, rows[model.__name__].pk)


def _action(model: type, action: str, **extra: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda rows: {"action": action, "_selected_action": [rows[model.__name__].pk], **extra}


# Who may open an admin's add page (Django's add permission, as each admin narrows it); the rest: nobody.
ADD_PERM = {StrategyConfig: "trading.add_strategyconfig", ManualOrderRequest: PLACE, PauseWindow: "trading.add_pausewindow"}
# Who may open an admin's delete page; the rest: nobody (money and audit rows are never deleted).
DELETE_PERM = {PauseWindow: "trading.delete_pausewindow"}


def _admin_doors() -> list[Door]:
    doors = []
    for model in TABLES:
        name, view = f"trading_{model._meta.model_name}", f"trading.view_{model._meta.model_name}"
        doors += [
            Door(f"{name}_changelist", ADMIN, "GET", _admin_url(model, "changelist"), view, 302 if model is EngineState else 200),
            Door(f"{name}_change", ADMIN, "GET", _row_url(model, "change"), view, 200),
            Door(f"{name}_history", ADMIN, "GET", _row_url(model, "history"), view, 200),
            Door(f"{name}_add", ADMIN, "GET", _admin_url(model, "add"), ADD_PERM.get(model, NEVER), 200),
            Door(f"{name}_delete", ADMIN, "GET", _row_url(model, "delete"), DELETE_PERM.get(model, NEVER), 200),
            Door(f"{name}_export", ADMIN, "GET", _admin_url(model, "export", "csv"), EXPORT, 200, gate=view),
        ]
        if model is not EngineState:
            doors += [
                Door(
                    f"{name}:{action}",
                    ADMIN,
                    "POST",
                    _admin_url(model, "changelist"),
                    EXPORT,
                    200,
                    data=_action(model, action),
                    gate=view,
                    refused=200,
                )
                for action in ("export_selected_csv", "export_selected_excel", "export_selected_json")
            ]
    for control in ("start", "stop", "reset", "paper_reset", "pause_entries", "resume_entries"):
        url = reverse(f"admin:trading_enginestate_{control}")
        writes = control in ("reset", "paper_reset", "pause_entries")  # entries are not paused: a resume changes nothing
        doors += [
            # From ERROR only Reset and the paper reset change anything; Start and Stop are refused with a message.
            Door(f"trading_enginestate_{control}", ADMIN, "POST", url, CONTROL, 302, writes=writes),
            Door(f"trading_enginestate_{control}", ADMIN, "GET", url, None, 405),
        ]
    cancel = _action(Order, "cancel_open_orders", post="yes")
    return [
        *doors,
        Door(
            "trading_order:cancel_open_orders",
            ADMIN,
            "POST",
            _admin_url(Order, "changelist"),
            CANCEL,
            302,
            data=cancel,
            writes=True,
            gate="trading.view_order",
            refused=200,
        ),
        Door(
            "trading_manualorderrequest_add",
            ADMIN,
            "POST",
            _admin_url(ManualOrderRequest, "add"),
            PLACE,
            302,
            data=BUY,
            writes=True,
            running=True,
        ),
        Door(
            "trading_manualorderrequest:cancel_pending_requests",
            ADMIN,
            "POST",
            _admin_url(ManualOrderRequest, "changelist"),
            PLACE,
            302,
            data=_action(ManualOrderRequest, "cancel_pending_requests"),
            writes=True,
            gate="trading.view_manualorderrequest",
            refused=200,
        ),
        Door(
            "trading_pausewindow_change",
            ADMIN,
            "POST",
            _row_url(PauseWindow, "change"),
            "trading.change_pausewindow",
            302,
            data={
                "label": "FOMC",
                "starts_at_0": "2026-12-10",
                "starts_at_1": "23:30:00",
                "ends_at_0": "2026-12-11",
                "ends_at_1": "01:00:00",
                "enabled": "on",
            },
            writes=True,
        ),
        Door(
            "trading_strategyconfig_change",
            ADMIN,
            "POST",
            _row_url(StrategyConfig, "change"),
            "trading.change_strategyconfig",
            302,
            data={"param_fast": "10", "param_slow": "30", "param_signal": "9"},
            writes=True,
        ),
    ]


DOORS = _page_doors() + _api_doors() + _admin_doors()


# ---------------------------------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _no_real_exchange(settings, monkeypatch):
    settings.UPBIT_API_BASE = "http://127.0.0.1:9"  # the discard port: refused at once, never api.upbit.com
    settings.UPBIT_CONNECT_TIMEOUT_SEC = 1
    # A queued backtest's worker is not started here (its own tests start real ones).
    monkeypatch.setattr(backtest_jobs, "backtest_job_launch", lambda *, job: 0)


@pytest.fixture
def rows() -> dict[str, Any]:
    """One row in every table, an open order to cancel, and the engine in ERROR so that Reset has an effect."""
    EngineState.load()
    EngineState.objects.filter(pk=EngineState.SINGLETON_PK).update(state=EngineState.State.ERROR)
    order = factories.OrderFactory(status=Order.Status.WAIT)
    return {
        "EngineState": EngineState.load(),
        "StrategyConfig": factories.StrategyConfigFactory(strategy="macd", params={}),
        "EngineEvent": factories.EngineEventFactory(),
        "Signal": factories.SignalFactory(),
        "Order": order,
        "Fill": factories.FillFactory(order=order),
        "BalanceSnapshot": factories.BalanceSnapshotFactory(),
        "PnlDaily": factories.PnlDailyFactory(),
        "ManualOrderRequest": factories.ManualOrderRequestFactory(),
        "Candle": factories.CandleFactory(),
        "BacktestRun": factories.BacktestRunFactory(equity_svg='<svg xmlns="http://www.w3.org/2000/svg"/>'),
        "OptimizationStudy": (study := factories.OptimizationStudyFactory()),
        "OptimizationTrial": factories.OptimizationTrialFactory(study=study),
        "BacktestJob": BacktestJob.objects.create(
            status=BacktestJob.Status.DONE,
            progress=100,
            run=factories.BacktestRunFactory(),
            chart={"bars": [], "trades": []},
            request={"strategy": "macd", "market": "KRW-BTC"},
        ),
        "PauseWindow": PauseWindow.objects.create(
            label="maintenance", starts_at=timezone.now() + timedelta(days=1), ends_at=timezone.now() + timedelta(days=1, hours=1)
        ),
    }


def snapshot() -> tuple[Any, ...]:
    """Everything a door could change: the engine, the audit trail, queued orders, cancels, parameters, row counts."""
    return (
        EngineState.load().state,
        EngineEvent.objects.count(),
        ManualOrderRequest.objects.count(),
        Order.objects.filter(cancel_requested_at__isnull=False).count(),
        list(StrategyConfig.objects.values_list("params", flat=True)),
        [model.objects.count() for model in TABLES],
        BacktestJob.objects.count(),
    )


def send(client: Client, door: Door, rows: dict[str, Any]):
    url, body = door.url(rows), door.body(rows)
    headers = {"HX-Request": "true"} if door.htmx else {}
    if door.method == "GET":
        return client.get(url, headers=headers)
    if door.surface == API:
        return client.post(url, data="" if body is None else json.dumps(body), content_type="application/json", headers=headers)
    return client.post(url, body or {}, headers=headers)


def _check(door: Door, role: Role, rows: dict[str, Any]) -> list[str]:
    client = client_for(role)
    if door.running:
        engine_running_online()
    before = snapshot()
    response = send(client, door, rows)
    expected = door.expected(role)
    if response.status_code != expected:
        return [f"{role.name}: {response.status_code}, expected {expected}"]
    passed = door.passes(role) and expected != 405
    if (snapshot() != before) != (door.writes and passed):
        return [f"{role.name}: the database {'did not change' if door.writes and passed else 'changed'}"]
    if passed:
        return []
    if door.surface == API and expected == 403:
        error = response.json()["error"]
        assert error["code"] == "permission_denied"
        assert error["permission"] == door.perm
    elif door.surface in (PAGE, ADMIN) and not role.session and expected != 405:
        location = response["HX-Redirect"] if door.htmx else response["Location"]
        assert location.startswith(reverse("admin:login")), location
    elif door.surface == PAGE and expected == 403:
        assert door.perm in response.content.decode()
        assert response["X-Missing-Permission"] == door.perm
    return []


@pytest.mark.parametrize("door", DOORS, ids=str)
def test_each_role_at_each_door(door: Door, rows):
    problems = []
    for role in ROLES:
        # Each role starts from the same rows: its users and its effects are rolled back afterwards.
        with transaction.atomic():
            problems += _check(door, role, rows)
            transaction.set_rollback(True)
    assert problems == [], f"{door}: " + "; ".join(problems)


# ---------------------------------------------------------------------------------------------------
# The matrix is complete
# ---------------------------------------------------------------------------------------------------
def _admin_names() -> set[str]:
    names = set()
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label != "trading":
            continue
        names |= {pattern.name for pattern in model_admin.get_urls() if isinstance(pattern, URLPattern) and pattern.name}
        request = _request_as_superuser()
        names |= {f"trading_{model._meta.model_name}:{action}" for action in model_admin.get_actions(request)}
    return names


def _request_as_superuser():
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = factories.UserFactory(username="root-for-actions", is_superuser=True)
    return request


def test_every_door_has_a_rule():
    ruled = {door.name for door in DOORS}
    trading_names = {pattern.name for pattern in trading_urls.urlpatterns}
    admin_names = _admin_names()
    assert trading_names - ruled == set(), "endpoints in trading/urls.py without a permission rule"
    assert admin_names - ruled == set(), "admin pages or actions without a permission rule"
    assert ruled - trading_names - admin_names == {"set_language"}, "rules for doors that are gone"
    registered = {model for model in admin.site._registry if model._meta.app_label == "trading"}
    assert registered == set(TABLES)
    top = [str(p.pattern) for p in get_resolver().url_patterns if isinstance(p, URLResolver | URLPattern)]
    assert top == ["admin/", "i18n/", ""], "a new top-level URL needs rules here"
    for name in trading_names:
        assert {door.method for door in DOORS if door.name == name} == {"GET", "POST"}, name


def test_roles_come_from_the_groups_the_migration_created():
    from django.contrib.auth.models import Group

    contents = {
        group.name: {p.codename for p in group.permissions.all()}
        for group in Group.objects.filter(name__in=["Viewers", "Operators"])
    }
    assert contents == {"Viewers": VIEWER_PERMS, "Operators": OPERATOR_PERMS}
