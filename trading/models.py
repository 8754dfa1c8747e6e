"""autocoin's tables. Money and volumes are Decimal end to end; every timestamp is stored in UTC."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from exchange.account import ACCOUNT_MAX_LENGTH

# Upbit sends up to 8 decimals for prices, volumes and fees; 24 digits leave 16 before the point,
# far above the 10^12 KRW a price or total can reach.
MONEY = {"max_digits": 24, "decimal_places": 8}
ZERO = Decimal("0")


def money_field(**kwargs: Any) -> models.DecimalField[Any, Any]:
    return models.DecimalField(max_digits=MONEY["max_digits"], decimal_places=MONEY["decimal_places"], **kwargs)


class Mode(models.TextChoices):
    PAPER = "paper", "Paper"
    LIVE = "live", "Live"


def account_field() -> models.CharField[Any, Any]:
    """The exchange account a ledger row belongs to (exchange/account.py): "paper", or a live API's host and a
    fingerprint of its access key. Ledger reads filter on it; `mode` only describes the row."""
    return models.CharField(
        max_length=ACCOUNT_MAX_LENGTH, help_text="the exchange account: paper, or a live API host and key fingerprint"
    )


class Side(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


# ---------------------------------------------------------------------------------------------------
# The engine's state: one row, created by a migration, never deleted.
# ---------------------------------------------------------------------------------------------------
class EngineState(models.Model):
    SINGLETON_PK = 1

    class State(models.TextChoices):
        IDLE = "IDLE", "Idle"
        RUNNING = "RUNNING", "Running"
        STOPPING = "STOPPING", "Stopping"
        ERROR = "ERROR", "Error"

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_PK, editable=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IDLE)
    state_since = models.DateTimeField(default=timezone.now)
    state_reason = models.TextField(blank=True, default="")
    state_changed_by = models.CharField(max_length=150, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(default=0)
    consecutive_order_failures = models.PositiveIntegerField(default=0)
    iteration = models.PositiveBigIntegerField(default=0)
    owner = models.CharField(max_length=255, blank=True, default="", help_text="host:pid of the engine process")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    claim_generation = models.PositiveBigIntegerField(
        default=0, help_text="raised by every successful claim; an engine process sends orders only while it holds its own"
    )
    last_cycle_at = models.DateTimeField(null=True, blank=True)
    last_price = money_field(null=True, blank=True)
    kill_switch = models.BooleanField(default=False)
    kill_switch_reason = models.TextField(blank=True, default="")
    kill_switch_at = models.DateTimeField(null=True, blank=True)
    entries_paused = models.BooleanField(default=False, help_text="a person paused new entries; exits still run")
    entries_paused_reason = models.TextField(blank=True, default="")
    entries_paused_by = models.CharField(max_length=150, blank=True, default="")
    entries_paused_at = models.DateTimeField(null=True, blank=True)
    market_offline_at = models.DateTimeField(null=True, blank=True, help_text="when the exchange last said market_offline")
    metrics = models.JSONField(
        default=dict, encoder=DjangoJSONEncoder, blank=True, help_text="the engine process's counters, for /metrics"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "engine state"
        verbose_name_plural = "engine state"
        # The console's own permissions (trading/auth.py enforces them in the dashboard, the API and the admin).
        # They live on the engine's row because they are about operating it; the strategy's is Django's own
        # change_strategyconfig.
        permissions = (
            ("view_dashboard", "Can view the dashboard and the read-only API"),
            ("control_engine", "Can start, stop and reset the engine"),
            ("place_manual_order", "Can place manual orders"),
            ("cancel_order", "Can cancel orders"),
            ("run_backtest", "Can run backtests"),
            ("export_data", "Can export data"),
        )
        constraints = (
            models.CheckConstraint(condition=Q(id=1), name="engine_state_singleton"),
            models.CheckConstraint(
                condition=Q(state__in=["IDLE", "RUNNING", "STOPPING", "ERROR"]), name="engine_state_known_state"
            ),
        )

    def __str__(self) -> str:
        return f"Engine {self.state}"

    @classmethod
    def load(cls) -> EngineState:
        state, _ = cls.objects.get_or_create(pk=cls.SINGLETON_PK)
        return state


class StrategyConfig(models.Model):
    """Run-time parameters of one strategy, edited from the admin and read by the engine each cycle."""

    strategy = models.CharField(max_length=64, unique=True)
    params = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        ordering = ("strategy",)

    def __str__(self) -> str:
        return self.strategy


# ---------------------------------------------------------------------------------------------------
# Audit: events and signals.
# ---------------------------------------------------------------------------------------------------
class EngineEvent(models.Model):
    class Level(models.TextChoices):
        DEBUG = "DEBUG", "Debug"
        INFO = "INFO", "Info"
        WARNING = "WARNING", "Warning"
        ERROR = "ERROR", "Error"

    class Kind(models.TextChoices):
        STATE_CHANGED = "state_changed", "State changed"
        TRANSITION_REFUSED = "transition_refused", "Transition refused"
        ENGINE_CLAIMED = "engine_claimed", "Engine process claimed"
        ENGINE_RELEASED = "engine_released", "Engine process released"
        ENGINE_REFUSED = "engine_refused", "Engine process refused"
        CYCLE = "cycle", "Cycle"
        SIGNAL = "signal", "Signal"
        RISK_BLOCKED = "risk_blocked", "Risk gate blocked"
        ORDER_INTENT = "order_intent", "Order intent"
        ORDER_SUBMITTED = "order_submitted", "Order submitted"
        ORDER_REJECTED = "order_rejected", "Order rejected"
        ORDER_UNKNOWN = "order_unknown", "Order outcome unknown"
        ORDER_RECONCILED = "order_reconciled", "Order reconciled"
        ORDER_CANCELLED = "order_cancelled", "Order cancelled"
        FILL = "fill", "Fill"
        BALANCE = "balance", "Balance"
        PNL = "pnl", "PnL"
        KILL_SWITCH = "kill_switch", "Kill-switch"
        EXCHANGE_ERROR = "exchange_error", "Exchange error"
        CONFIG_CHANGED = "config_changed", "Configuration changed"
        PAPER_RESET = "paper_reset", "Paper account reset"
        MANUAL_ORDER = "manual_order", "Manual order"
        NOTIFICATION = "notification", "Notification"
        MARKET_STREAM = "market_stream", "Market data stream"
        ERROR = "error", "Error"

    ts = models.DateTimeField(default=timezone.now, editable=False)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.INFO)
    state = models.CharField(max_length=16, choices=EngineState.State.choices, blank=True, default="")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    actor = models.CharField(max_length=150, blank=True, default="")
    message = models.TextField()
    meta = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)

    class Meta:
        ordering = ("-ts", "-id")
        indexes = (
            models.Index(fields=["-ts", "-id"], name="event_ts_desc"),
            models.Index(fields=["level", "-ts"], name="event_level_ts"),
            models.Index(fields=["kind", "-ts"], name="event_kind_ts"),
        )

    def __str__(self) -> str:
        return f"{self.level} {self.kind}: {self.message[:60]}"


class Signal(models.Model):
    class Action(models.TextChoices):
        BUY = "BUY", "Buy"
        SELL = "SELL", "Sell"
        HOLD = "HOLD", "Hold"

    MANUAL_SOURCE = "manual"

    ts = models.DateTimeField(default=timezone.now, editable=False)
    market = models.CharField(max_length=32)
    action = models.CharField(max_length=4, choices=Action.choices)
    score = models.DecimalField(max_digits=24, decimal_places=8, default=ZERO)
    source = models.CharField(max_length=64, help_text="strategy name, or manual")
    explanation = models.TextField(blank=True, default="")
    meta = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)

    class Meta:
        ordering = ("-ts", "-id")
        indexes = (
            models.Index(fields=["-ts", "-id"], name="signal_ts_desc"),
            models.Index(fields=["market", "-ts"], name="signal_market_ts"),
            models.Index(fields=["action", "-ts"], name="signal_action_ts"),
        )
        constraints = (models.CheckConstraint(condition=Q(action__in=["BUY", "SELL", "HOLD"]), name="signal_known_action"),)

    def __str__(self) -> str:
        return f"{self.action} {self.market} ({self.source})"


# ---------------------------------------------------------------------------------------------------
# Orders and fills. "Our intent" (market, side, ord_type, price, volume, identifier) is written before
# the exchange is called; the exchange-reported fields (uuid, executed volume, fees, raw) follow.
# ---------------------------------------------------------------------------------------------------
class Order(models.Model):
    class OrdType(models.TextChoices):
        LIMIT = "limit", "Limit"
        PRICE = "price", "Market buy (KRW amount)"
        MARKET = "market", "Market sell (volume)"
        BEST = "best", "Best"

    class Status(models.TextChoices):
        NEW = "NEW", "New (intent written, not yet sent)"
        WAIT = "WAIT", "Open on the exchange"
        DONE = "DONE", "Filled"
        CANCEL = "CANCEL", "Cancelled"
        REJECTED = "REJECTED", "Rejected"
        UNKNOWN = "UNKNOWN", "Outcome unknown"
        ABSENT = "ABSENT", "Never reached the exchange"

    FINAL_STATUSES = (Status.DONE, Status.CANCEL, Status.REJECTED, Status.ABSENT)
    OPEN_STATUSES = (Status.NEW, Status.WAIT, Status.UNKNOWN)

    ts = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    market = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=Side.choices)
    ord_type = models.CharField(max_length=8, choices=OrdType.choices)
    price = money_field(null=True, blank=True, help_text="unit price (limit) or KRW total (market buy)")
    volume = money_field(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    mode = models.CharField(max_length=5, choices=Mode.choices)
    account = account_field()
    identifier = models.CharField(max_length=64, unique=True)
    exchange_uuid = models.CharField(max_length=64, null=True, blank=True)
    exchange_state = models.CharField(max_length=16, blank=True, default="")
    executed_volume = money_field(default=ZERO)
    executed_funds = money_field(default=ZERO)
    paid_fee = money_field(default=ZERO)
    reason = models.CharField(max_length=255, blank=True, default="", help_text="why the order was made")
    error_name = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    lookup_attempts = models.PositiveIntegerField(default=0)
    signal = models.ForeignKey(Signal, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    raw = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)
    # A person asked (from the admin) to cancel this order; the engine, which owns every exchange call,
    # cancels it in its next cycle and clears nothing: the request stays as part of the audit trail.
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        ordering = ("-ts", "-id")
        indexes = (
            models.Index(fields=["-ts", "-id"], name="order_ts_desc"),
            models.Index(fields=["status", "-ts"], name="order_status_ts"),
            # The engine asks for the few open orders every cycle. Only they are in this index, so its cost
            # follows the open orders, never the history, whatever the planner's statistics say; a lookup
            # uses it when its filter repeats the condition exactly (`status__literal_in=OPEN_STATUSES`, the same
            # values in the same order; Meta cannot see the class's own names, so they are spelled out).
            # Account first: a planner weighing it against the account's whole history (order_account_market_ts)
            # always finds this one smaller.
            models.Index(
                fields=["account", "status", "market"],
                condition=Q(status__in=["NEW", "WAIT", "UNKNOWN"]),
                name="order_open_account_status",
            ),
            models.Index(fields=["account", "market", "-ts"], name="order_account_market_ts"),
            models.Index(fields=["market", "-ts"], name="order_market_ts"),
            models.Index(fields=["market", "side", "-ts"], name="order_market_side_ts"),
        )
        constraints = (
            models.UniqueConstraint(
                fields=["exchange_uuid"], condition=Q(exchange_uuid__isnull=False), name="order_exchange_uuid_unique"
            ),
            models.CheckConstraint(condition=Q(side__in=["buy", "sell"]), name="order_known_side"),
            models.CheckConstraint(condition=Q(mode__in=["paper", "live"]), name="order_known_mode"),
            models.CheckConstraint(condition=Q(volume__isnull=True) | Q(volume__gt=0), name="order_positive_volume"),
            models.CheckConstraint(condition=Q(price__isnull=True) | Q(price__gt=0), name="order_positive_price"),
            models.CheckConstraint(condition=Q(executed_volume__gte=0), name="order_executed_volume_not_negative"),
        )

    def __str__(self) -> str:
        return f"{self.side} {self.market} {self.identifier}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class LiteralIn(models.lookups.In):
    """`status__literal_in=(...)`: `IN` with the values written into the SQL text rather than bound.

    SQLite decides whether a partial index applies when it prepares a statement, before any parameter is
    bound, so a lookup that must use the open-orders index has to spell its condition out. Only plain
    codes (letters, digits, underscores) are accepted, so nothing can be smuggled into the SQL."""

    lookup_name = "literal_in"

    def process_rhs(self, compiler: Any, connection: Any) -> tuple[str, tuple[str | int, ...]]:
        codes = [str(value) for value in self.rhs]
        if not codes or not all(code.isascii() and code.replace("_", "").isalnum() for code in codes):
            raise ValueError(f"literal_in takes plain codes only, not {codes!r}")
        return "(" + ", ".join(f"'{code}'" for code in codes) + ")", ()


Order._meta.get_field("status").register_lookup(LiteralIn)


class Fill(models.Model):
    ts = models.DateTimeField(default=timezone.now)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    price = money_field()
    volume = money_field()
    funds = money_field(default=ZERO)
    fee = money_field(default=ZERO)
    trade_id = models.CharField(max_length=64, unique=True, help_text="the exchange's trade id")
    raw = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)

    class Meta:
        ordering = ("-ts", "-id")
        indexes = (models.Index(fields=["-ts", "-id"], name="fill_ts_desc"),)
        constraints = (
            models.CheckConstraint(condition=Q(volume__gt=0), name="fill_positive_volume"),
            models.CheckConstraint(condition=Q(price__gt=0), name="fill_positive_price"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="fill_fee_not_negative"),
        )

    def __str__(self) -> str:
        return f"{self.volume} @ {self.price} ({self.trade_id})"


# ---------------------------------------------------------------------------------------------------
# Balances and PnL.
# ---------------------------------------------------------------------------------------------------
class BalanceSnapshot(models.Model):
    ts = models.DateTimeField(default=timezone.now, editable=False)
    mode = models.CharField(max_length=5, choices=Mode.choices, default=Mode.PAPER)
    account = account_field()
    krw = money_field(help_text="KRW free and locked")
    coin_symbol = models.CharField(max_length=16)
    coin_volume = money_field(help_text="coin free and locked")
    avg_buy_price = money_field(default=ZERO)
    price = money_field(default=ZERO, help_text="the market price used for the evaluation")
    total_krw = money_field(help_text="KRW plus the coin at the market price")

    class Meta:
        ordering = ("-ts", "-id")
        indexes = (
            models.Index(fields=["-ts", "-id"], name="snapshot_ts_desc"),
            models.Index(fields=["account", "-ts"], name="snapshot_account_ts"),
        )
        constraints = (
            models.CheckConstraint(condition=Q(krw__gte=0), name="snapshot_krw_not_negative"),
            models.CheckConstraint(condition=Q(coin_volume__gte=0), name="snapshot_coin_not_negative"),
            models.CheckConstraint(condition=Q(mode__in=["paper", "live"]), name="snapshot_known_mode"),
        )

    def __str__(self) -> str:
        return f"{self.ts:%Y-%m-%d %H:%M} {self.total_krw} KRW"


class PnlDaily(models.Model):
    date = models.DateField(help_text="the local (TIME_ZONE) trading day")
    market = models.CharField(max_length=32)
    mode = models.CharField(max_length=5, choices=Mode.choices)
    account = account_field()
    realized = money_field(default=ZERO)
    unrealized = money_field(default=ZERO)
    fees = money_field(default=ZERO)
    max_drawdown = money_field(default=ZERO, help_text="largest fall of equity from the day's peak, in KRW")
    equity_start = money_field(null=True, blank=True)
    equity_peak = money_field(null=True, blank=True)
    equity_last = money_field(null=True, blank=True)
    trades = models.PositiveIntegerField(default=0)
    start_price = money_field(
        null=True,
        blank=True,
        help_text="the close of the last candle before local midnight: it values the position carried into the day",
    )
    start_unknown_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="set while a position was carried into the day and its value at midnight could not be read: "
        "new entries are blocked until it is",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "daily PnL"
        verbose_name_plural = "daily PnL"
        ordering = ("-date", "market")
        indexes = (
            models.Index(fields=["-date"], name="pnl_date_desc"),
            models.Index(fields=["market", "-date"], name="pnl_market_date"),
        )
        constraints = (
            models.UniqueConstraint(fields=["date", "market", "account"], name="pnl_daily_unique_day_market_account"),
            models.CheckConstraint(condition=Q(mode__in=["paper", "live"]), name="pnl_known_mode"),
            models.CheckConstraint(condition=Q(max_drawdown__gte=0), name="pnl_drawdown_not_negative"),
        )

    def __str__(self) -> str:
        return f"{self.date} {self.market} {self.account}"

    @property
    def total(self) -> Decimal:
        total: Decimal = self.realized + self.unrealized
        return total


# ---------------------------------------------------------------------------------------------------
# Manual orders: queued by a person (admin or API), carried out by the engine in its next cycle.
# ---------------------------------------------------------------------------------------------------
class ManualOrderRequest(models.Model):
    class Kind(models.TextChoices):
        BUY = "buy", gettext_lazy("Buy (KRW amount)")
        SELL = "sell", gettext_lazy("Sell (volume)")
        SELL_ALL = "sell_all", gettext_lazy("Sell all")
        CLOSE = "close", gettext_lazy("Close position")

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        PROCESSING = "PROCESSING", "Processing"
        DONE = "DONE", "Done"
        REJECTED = "REJECTED", "Rejected"
        CANCELLED = "CANCELLED", "Cancelled"
        EXPIRED = "EXPIRED", "Expired"

    ts = models.DateTimeField(default=timezone.now, editable=False)
    market = models.CharField(max_length=32)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    krw = money_field(null=True, blank=True)
    volume = money_field(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.CharField(max_length=150)
    result = models.TextField(blank=True, default="")
    processed_at = models.DateTimeField(null=True, blank=True)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="manual_requests")

    class Meta:
        ordering = ("-ts", "-id")
        indexes = (models.Index(fields=["status", "ts"], name="manual_status_ts"),)
        constraints = (
            models.CheckConstraint(condition=Q(krw__isnull=True) | Q(krw__gt=0), name="manual_positive_krw"),
            models.CheckConstraint(condition=Q(volume__isnull=True) | Q(volume__gt=0), name="manual_positive_volume"),
        )

    def __str__(self) -> str:
        return f"{self.kind} {self.market} ({self.status})"


# ---------------------------------------------------------------------------------------------------
# Market data and backtests.
# ---------------------------------------------------------------------------------------------------
class Candle(models.Model):
    """One candle. `unit` is minutes (1, 3, 5, 15, 30, 60, 240) or 1440 for day candles."""

    market = models.CharField(max_length=32)
    unit = models.PositiveIntegerField()
    ts = models.DateTimeField(help_text="candle start, UTC")
    open = money_field()
    high = money_field()
    low = money_field()
    close = money_field()
    volume = money_field(default=ZERO)
    value = models.DecimalField(max_digits=32, decimal_places=8, default=ZERO)

    class Meta:
        ordering = ("market", "unit", "ts")
        constraints = (models.UniqueConstraint(fields=["market", "unit", "ts"], name="candle_unique_market_unit_ts"),)

    def __str__(self) -> str:
        return f"{self.market} {self.unit}m {self.ts:%Y-%m-%d %H:%M}"


class BacktestRun(models.Model):
    ts = models.DateTimeField(default=timezone.now, editable=False)
    market = models.CharField(max_length=32)
    unit = models.PositiveIntegerField()
    strategy = models.CharField(max_length=64)
    params = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)
    date_from = models.DateTimeField()
    date_to = models.DateTimeField()
    initial_krw = money_field()
    final_equity = money_field(default=ZERO)
    metrics = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)
    equity_svg = models.TextField(blank=True, default="")
    trades_csv_path = models.CharField(max_length=500, blank=True, default="")
    duration_sec = models.DecimalField(max_digits=12, decimal_places=3, default=ZERO)

    class Meta:
        ordering = ("-ts", "-id")
        indexes = (models.Index(fields=["-ts", "-id"], name="backtest_ts_desc"),)

    def __str__(self) -> str:
        return f"{self.strategy} {self.market} {self.date_from:%Y-%m-%d}..{self.date_to:%Y-%m-%d}"


class DecisionState(models.Model):
    """What the decision rules must remember across cycles and restarts, per market and account (docs/DECISIONS.md):
    the trailing peak of the open position, the last closed candle the strategy acted on, and the candle
    that triggered the last exit (no re-entry on it)."""

    market = models.CharField(max_length=32)
    mode = models.CharField(max_length=8, choices=Mode.choices)
    account = account_field()
    peak_price = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    peak_entry_at = models.DateTimeField(null=True, blank=True, help_text="entry time of the position the peak belongs to (UTC)")
    decided_candle_start = models.DateTimeField(
        null=True, blank=True, help_text="start of the last closed candle the strategy acted on (UTC)"
    )
    exit_candle_start = models.DateTimeField(
        null=True, blank=True, help_text="start of the candle that triggered the last exit (UTC)"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = (models.UniqueConstraint(fields=["market", "account"], name="decision_state_unique_market_account"),)

    def __str__(self) -> str:
        return f"{self.market} {self.account}"


# ---------------------------------------------------------------------------------------------------
# Parameter searches (`manage.py optimize`): the study and each of its trials, mirrored from Optuna's storage.
# ---------------------------------------------------------------------------------------------------
class OptimizationStudy(models.Model):
    class State(models.TextChoices):
        RUNNING = "RUNNING", "running"
        INTERRUPTED = "INTERRUPTED", "interrupted"
        FINISHED = "FINISHED", "finished"

    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    strategy = models.CharField(max_length=64)
    market = models.CharField(max_length=32)
    unit = models.PositiveIntegerField()
    objective = models.CharField(max_length=32)
    space = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)
    fixed_params = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)
    train_from = models.DateTimeField()
    train_to = models.DateTimeField()
    test_from = models.DateTimeField()
    test_to = models.DateTimeField()
    folds = models.PositiveSmallIntegerField(default=0, help_text="0: one train/test split; K: rolling walk-forward")
    options = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True, help_text="money, fees, limits, seed")
    n_trials = models.PositiveIntegerField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.RUNNING)
    storage = models.CharField(max_length=300, blank=True, default="", help_text="where Optuna keeps the study")
    trials_done = models.PositiveIntegerField(default=0)
    best_trial_number = models.IntegerField(null=True, blank=True)
    best_value = models.FloatField(null=True, blank=True)
    best_params = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)
    importance = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)
    chart_svg = models.TextField(blank=True, default="")

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name_plural = "optimization studies"

    def __str__(self) -> str:
        return self.name


class OptimizationTrial(models.Model):
    class State(models.TextChoices):
        COMPLETE = "COMPLETE", "complete"
        PRUNED = "PRUNED", "invalid parameters"
        FAIL = "FAIL", "failed"
        RUNNING = "RUNNING", "running"
        WAITING = "WAITING", "waiting"

    study = models.ForeignKey(OptimizationStudy, on_delete=models.CASCADE, related_name="trials")
    number = models.PositiveIntegerField()
    state = models.CharField(max_length=10, choices=State.choices)
    params = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)
    value = models.FloatField(null=True, blank=True, help_text="the objective on the training period")
    test_value = models.FloatField(null=True, blank=True, help_text="the objective on the test period")
    train_metrics = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)
    test_metrics = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)
    folds = models.JSONField(default=list, encoder=DjangoJSONEncoder, blank=True)
    collapsed = models.BooleanField(default=False, help_text="the test result collapses against the training result")
    note = models.CharField(max_length=300, blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("study", "number")
        constraints = (models.UniqueConstraint(fields=["study", "number"], name="optimization_trial_unique_number"),)

    def __str__(self) -> str:
        return f"{self.study.name} #{self.number}"


from trading.backtest_job_models import BacktestJob  # noqa: E402, F401  (registered with the app)
from trading.chart_models import EngineCandle  # noqa: E402, F401 - registers the model with Django
from trading.schedule_models import PauseWindow  # noqa: E402, F401 - registers the schedule with Django
