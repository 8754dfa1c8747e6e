"""The ledger per exchange account outside the engine: the migration that labels existing rows, the admin's
account column and filter, rebuildpnl per account and pruning that keeps every account's balance."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from exchange.account import LEGACY_LIVE_ACCOUNT, PAPER_ACCOUNT, key_fingerprint
from tests.factories import BalanceSnapshotFactory, FillFactory, OrderFactory, PnlDailyFactory
from tests.trading.admin_pages import admin_url
from trading import housekeeping
from trading.models import BalanceSnapshot, EngineState, Fill, Order, PnlDaily

SANDBOX = "live:127.0.0.1:8765:3fa9c1d2e4b5"
UPBIT = "live:api.upbit.com:0b1e2d3c4f5a"
ACCESS_KEY = "Qm7xR2vT9kLp4Wn8Hc3Jd6Fs1Gb5Ya0Ze9Ui2Oo7"
BEFORE = [("trading", "0007_permissions_and_groups")]
AFTER = [("trading", "0010_exchange_account")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_labels_paper_rows_paper_and_live_rows_the_legacy_live_account():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    day = date(2026, 11, 30)
    for mode in ("paper", "live"):
        old.get_model("trading", "Order").objects.create(
            market="KRW-BTC", side="buy", ord_type="price", price=Decimal("10000"), mode=mode, identifier=f"ac-{mode}"
        )
        # The same day and market in both modes: only one row per account may remain unique after the migration.
        old.get_model("trading", "PnlDaily").objects.create(date=day, market="KRW-BTC", mode=mode)
        old.get_model("trading", "BalanceSnapshot").objects.create(
            mode=mode, krw=Decimal("1"), coin_symbol="BTC", coin_volume=Decimal("0"), total_krw=Decimal("1")
        )
        old.get_model("trading", "DecisionState").objects.create(market="KRW-BTC", mode=mode, peak_price=Decimal("1"))

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    try:
        for name in ("Order", "PnlDaily", "BalanceSnapshot", "DecisionState"):
            rows = set(new.get_model("trading", name).objects.values_list("mode", "account"))
            assert rows == {("paper", PAPER_ACCOUNT), ("live", LEGACY_LIVE_ACCOUNT)}, name
    finally:
        call_command("migrate", verbosity=0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "make"),
    [
        (Order, lambda account: OrderFactory(mode="live", account=account)),
        (Fill, lambda account: FillFactory(order=OrderFactory(mode="live", account=account))),
        (BalanceSnapshot, lambda account: BalanceSnapshotFactory(mode="live", account=account)),
        (PnlDaily, lambda account: PnlDailyFactory(mode="live", account=account)),
    ],
)
def test_the_admin_names_each_rows_account_and_filters_by_it(admin_client, model, make):
    make(SANDBOX)
    make(UPBIT)
    make(LEGACY_LIVE_ACCOUNT)

    page = admin_client.get(admin_url(model, "changelist")).content.decode()
    only_sandbox = admin_client.get(admin_url(model, "changelist"), {"account": SANDBOX}).content.decode()

    assert "live · sandbox 127.0.0.1:8765 · key 3fa9c1…" in page
    assert "live · api.upbit.com · key 0b1e2d…" in page
    assert "live · recorded before accounts (key unknown)" in page
    assert "live · sandbox 127.0.0.1:8765 · key 3fa9c1…" in only_sandbox
    assert "key 0b1e2d…</span>" not in only_sandbox


@pytest.mark.django_db
def test_rebuildpnl_keeps_one_ledger_per_account_and_can_rebuild_one_alone():
    day = timezone.localtime().replace(hour=12)
    for account, sell_price in ((SANDBOX, Decimal("110000000")), (UPBIT, Decimal("90000000"))):
        buy = OrderFactory(mode="live", account=account, side="buy", ts=day)
        FillFactory(order=buy, ts=day, price=Decimal("100000000"), volume=Decimal("0.001"), funds=Decimal("100000"), fee=0)
        sell = OrderFactory(mode="live", account=account, side="sell", ord_type="market", ts=day)
        funds = sell_price * Decimal("0.001")
        FillFactory(order=sell, ts=day + timedelta(minutes=1), price=sell_price, volume=Decimal("0.001"), funds=funds, fee=0)

    out = io.StringIO()
    call_command("rebuildpnl", stdout=out)
    realized = {row.account: row.realized for row in PnlDaily.objects.all()}

    assert realized == {SANDBOX: Decimal("10000"), UPBIT: Decimal("-10000")}
    assert f"KRW-BTC {SANDBOX}: realized 10000 KRW" in out.getvalue()

    PnlDaily.objects.update(realized=0)
    call_command("rebuildpnl", "--account", UPBIT, stdout=io.StringIO())
    assert {row.account: row.realized for row in PnlDaily.objects.all()} == {SANDBOX: 0, UPBIT: Decimal("-10000")}


@pytest.mark.django_db
def test_rebuildpnl_current_names_the_account_the_settings_trade_in(settings):
    settings.PAPER_MODE = True
    OrderFactory(mode="live", account=UPBIT)
    FillFactory(order=OrderFactory(mode="paper", account=PAPER_ACCOUNT))
    FillFactory(order=OrderFactory(mode="live", account=UPBIT))

    call_command("rebuildpnl", "--account", "current", stdout=io.StringIO())

    assert set(PnlDaily.objects.values_list("account", flat=True)) == {PAPER_ACCOUNT}


@pytest.mark.django_db
def test_pruning_keeps_the_newest_balance_of_every_account():
    old = timezone.now() - timedelta(days=40)
    BalanceSnapshotFactory(ts=old - timedelta(days=1), account=SANDBOX, mode="live")
    sandbox_newest = BalanceSnapshotFactory(ts=old, account=SANDBOX, mode="live")
    paper_newest = BalanceSnapshotFactory(ts=old - timedelta(days=2), account=PAPER_ACCOUNT)

    housekeeping.history_prune(days=30)

    assert set(BalanceSnapshot.objects.values_list("pk", flat=True)) == {sandbox_newest.pk, paper_newest.pk}


@pytest.mark.django_db
def test_the_engine_page_and_the_dashboard_name_the_account_the_settings_trade_in(admin_client, settings):
    settings.PAPER_MODE = False
    settings.UPBIT_API_BASE = "https://api.upbit.com"
    settings.UPBIT_ACCESS_KEY = ACCESS_KEY
    settings.UPBIT_SECRET_KEY = "secret-never-shown"
    label = f"live · api.upbit.com · key {key_fingerprint(ACCESS_KEY)[:6]}…"

    engine_page = admin_client.get(admin_url(EngineState, "change", 1)).content.decode()
    dashboard = admin_client.get(reverse("dashboard")).content.decode()

    for page in (engine_page, dashboard):
        assert label in page
        assert ACCESS_KEY not in page
