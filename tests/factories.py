"""factory-boy factories for every model."""

from __future__ import annotations

import importlib
import uuid
from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth.models import Group, Permission, User
from django.utils import timezone
from factory.django import DjangoModelFactory

from exchange.factory import account_current
from trading.models import (
    BacktestRun,
    BalanceSnapshot,
    Candle,
    EngineEvent,
    Fill,
    ManualOrderRequest,
    Mode,
    OptimizationStudy,
    OptimizationTrial,
    Order,
    PnlDaily,
    Signal,
    StrategyConfig,
)


class EngineEventFactory(DjangoModelFactory[EngineEvent]):
    class Meta:
        model = EngineEvent

    kind = EngineEvent.Kind.CYCLE
    level = EngineEvent.Level.INFO
    state = "RUNNING"
    actor = "engine"
    message = factory.Sequence(lambda n: f"cycle {n} finished")
    meta = factory.LazyFunction(dict)


class SignalFactory(DjangoModelFactory[Signal]):
    class Meta:
        model = Signal

    market = "KRW-BTC"
    action = Signal.Action.BUY
    score = Decimal("0.5")
    source = "macd"
    explanation = "MACD crossed above its signal line"


class OrderFactory(DjangoModelFactory[Order]):
    class Meta:
        model = Order

    market = "KRW-BTC"
    side = "buy"
    ord_type = Order.OrdType.PRICE
    price = Decimal("10000")
    volume = None
    status = Order.Status.DONE
    mode = Mode.PAPER
    # The account the settings name for the row's mode: a live row belongs to the configured live account.
    account = factory.LazyAttribute(lambda row: account_current(paper=row.mode == Mode.PAPER))
    identifier = factory.LazyFunction(lambda: f"ac-{uuid.uuid4()}")
    exchange_uuid = factory.LazyFunction(lambda: str(uuid.uuid4()))
    executed_volume = Decimal("0.0001")
    executed_funds = Decimal("9995")
    paid_fee = Decimal("4.9975")
    reason = "strategy BUY"


class FillFactory(DjangoModelFactory[Fill]):
    class Meta:
        model = Fill

    order = factory.SubFactory(OrderFactory)
    price = Decimal("99950000")
    volume = Decimal("0.0001")
    funds = Decimal("9995")
    fee = Decimal("4.9975")
    trade_id = factory.LazyFunction(lambda: str(uuid.uuid4()))


class BalanceSnapshotFactory(DjangoModelFactory[BalanceSnapshot]):
    class Meta:
        model = BalanceSnapshot

    mode = Mode.PAPER
    # The account the settings name for the row's mode: a live row belongs to the configured live account.
    account = factory.LazyAttribute(lambda row: account_current(paper=row.mode == Mode.PAPER))
    krw = Decimal("990000")
    coin_symbol = "BTC"
    coin_volume = Decimal("0.0001")
    avg_buy_price = Decimal("99950000")
    price = Decimal("100000000")
    total_krw = Decimal("1000000")


class PnlDailyFactory(DjangoModelFactory[PnlDaily]):
    class Meta:
        model = PnlDaily

    date = factory.Sequence(lambda n: timezone.localdate() - timedelta(days=n))
    market = "KRW-BTC"
    mode = Mode.PAPER
    # The account the settings name for the row's mode: a live row belongs to the configured live account.
    account = factory.LazyAttribute(lambda row: account_current(paper=row.mode == Mode.PAPER))
    realized = Decimal("1200")
    unrealized = Decimal("-300")
    fees = Decimal("10")
    max_drawdown = Decimal("500")


class ManualOrderRequestFactory(DjangoModelFactory[ManualOrderRequest]):
    class Meta:
        model = ManualOrderRequest

    market = "KRW-BTC"
    kind = ManualOrderRequest.Kind.BUY
    krw = Decimal("10000")
    requested_by = "user:admin"


class StrategyConfigFactory(DjangoModelFactory[StrategyConfig]):
    class Meta:
        model = StrategyConfig
        django_get_or_create = ("strategy",)

    strategy = "macd"
    params = factory.LazyFunction(lambda: {"fast": 12, "slow": 26, "signal": 9})


class CandleFactory(DjangoModelFactory[Candle]):
    class Meta:
        model = Candle

    market = "KRW-BTC"
    unit = 1
    ts = factory.Sequence(lambda n: timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=n))
    open = Decimal("100000000")
    high = Decimal("100100000")
    low = Decimal("99900000")
    close = Decimal("100050000")
    volume = Decimal("1.5")
    value = Decimal("150000000")


class BacktestRunFactory(DjangoModelFactory[BacktestRun]):
    class Meta:
        model = BacktestRun

    market = "KRW-BTC"
    unit = 1
    strategy = "macd"
    params = factory.LazyFunction(lambda: {"fast": 12, "slow": 26, "signal": 9})
    date_from = factory.LazyFunction(lambda: timezone.now() - timedelta(days=7))
    date_to = factory.LazyFunction(timezone.now)
    initial_krw = Decimal("1000000")
    final_equity = Decimal("1010000")
    metrics = factory.LazyFunction(lambda: {"total_return": "0.01", "trades": 4})


class OptimizationStudyFactory(DjangoModelFactory[OptimizationStudy]):
    class Meta:
        model = OptimizationStudy

    name = factory.Sequence(lambda n: f"study-{n}")
    strategy = "macd"
    market = "KRW-BTC"
    unit = 60
    objective = "sharpe"
    space = factory.LazyFunction(lambda: {"fast": {"kind": "int", "low": 5, "high": 20}})
    fixed_params = factory.LazyFunction(lambda: {"slow": 40, "signal": 9, "candle_unit": 60})
    train_from = factory.LazyFunction(lambda: timezone.now() - timedelta(days=60))
    train_to = factory.LazyFunction(lambda: timezone.now() - timedelta(days=30))
    test_from = factory.LazyFunction(lambda: timezone.now() - timedelta(days=30))
    test_to = factory.LazyFunction(timezone.now)
    n_trials = 10
    trials_done = 10
    state = OptimizationStudy.State.FINISHED
    best_trial_number = 3
    best_value = 1.25
    best_params = factory.LazyFunction(lambda: {"fast": 8, "slow": 40, "signal": 9, "candle_unit": 60})
    importance = factory.LazyFunction(lambda: {"fast": 1.0})
    chart_svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"></svg>'


class OptimizationTrialFactory(DjangoModelFactory[OptimizationTrial]):
    class Meta:
        model = OptimizationTrial

    study = factory.SubFactory(OptimizationStudyFactory)
    number = factory.Sequence(lambda n: n)
    state = OptimizationTrial.State.COMPLETE
    params = factory.LazyFunction(lambda: {"fast": 8})
    value = 1.25
    test_value = 0.9
    train_metrics = factory.LazyFunction(lambda: {"objective": 1.25, "return": 0.05, "round_trips": 12})
    test_metrics = factory.LazyFunction(lambda: {"objective": 0.9, "return": 0.02, "round_trips": 6})


# ---------------------------------------------------------------------------------------------------
# People: accounts in the console's groups (created by migration 0007)
# ---------------------------------------------------------------------------------------------------
USER_PASSWORD = "operator-password-1"
_GROUPS_MIGRATION = "trading.migrations.0007_permissions_and_groups"
LATER_VIEWS = ("view_optimizationstudy", "view_optimizationtrial")


def console_group(name: str) -> Group:
    """The group migration 0007 created; rebuilt from the migration's own list when a transactional test's
    flush has emptied the table (a flush recreates permissions, not groups)."""
    group, created = Group.objects.get_or_create(name=name)
    if created:
        # 0007's groups, and the view permissions a later migration added to both (the parameter searches).
        codenames = [*importlib.import_module(_GROUPS_MIGRATION).GROUPS[name], *LATER_VIEWS]
        group.permissions.set(Permission.objects.filter(content_type__app_label="trading", codename__in=codenames))
    return group


class UserFactory(DjangoModelFactory[User]):
    """A staff account (it can log in to the admin); `groups=["Viewers"]` puts it in console groups."""

    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person{n}")
    password = factory.django.Password(USER_PASSWORD)
    is_staff = True

    @factory.post_generation
    def groups(self, create: bool, names: list[str] | None, **kwargs: object) -> None:
        if create and names:
            self.groups.add(*(console_group(name) for name in names))
