"""autocoin's tables. Money and volumes are Decimal end to end; every timestamp is stored in UTC."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from exchange.account import ACCOUNT_MAX_LENGTH
from trading.formatting import krw_text, local_time_text, price_text, volume_text
from trading.sentences import shown_sentence

# Upbit sends up to 8 decimals for prices, volumes and fees; 24 digits leave 16 before the point,
# far above the 10^12 KRW a price or total can reach.
MONEY = {"max_digits": 24, "decimal_places": 8}
ZERO = Decimal("0")


def money_field(**kwargs: Any) -> models.DecimalField[Any, Any]:
    return models.DecimalField(max_digits=MONEY["max_digits"], decimal_places=MONEY["decimal_places"], **kwargs)


class Mode(models.TextChoices):
    PAPER = "paper", _("Paper")
    LIVE = "live", _("Live")


def account_field() -> models.CharField[Any, Any]:
    """The exchange account a ledger row belongs to (exchange/account.py): "paper", or a live API's host and a
    fingerprint of its access key. Ledger reads filter on it; `mode` only describes the row."""
    return models.CharField(
        _("account"),
        max_length=ACCOUNT_MAX_LENGTH,
        help_text=_("the exchange account: paper, or a live API host and key fingerprint"),
    )


class Side(models.TextChoices):
    BUY = "buy", _("Buy")
    SELL = "sell", _("Sell")


# ---------------------------------------------------------------------------------------------------
# The engine's state: one row, created by a migration, never deleted.
# ---------------------------------------------------------------------------------------------------
class EngineState(models.Model):
    SINGLETON_PK = 1

    class State(models.TextChoices):
        IDLE = "IDLE", _("Idle")
        RUNNING = "RUNNING", _("Running")
        STOPPING = "STOPPING", _("Stopping")
        ERROR = "ERROR", _("Error")

    id = models.PositiveSmallIntegerField(_("ID"), primary_key=True, default=SINGLETON_PK, editable=False)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.IDLE)
    state_since = models.DateTimeField(_("state since"), default=timezone.now)
    state_reason = models.TextField(_("state reason"), blank=True, default="")
    state_changed_by = models.CharField(_("state changed by"), max_length=150, blank=True, default="")
    last_error = models.TextField(_("last error"), blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    consecutive_order_failures = models.PositiveIntegerField(_("consecutive order failures"), default=0)
    iteration = models.PositiveBigIntegerField(_("iteration"), default=0)
    owner = models.CharField(_("owner"), max_length=255, blank=True, default="", help_text=_("host:pid of the engine process"))
    heartbeat_at = models.DateTimeField(_("heartbeat"), null=True, blank=True)
    claim_generation = models.PositiveBigIntegerField(
        _("claim generation"),
        default=0,
        help_text=_("raised by every successful claim; an engine process sends orders only while it holds its own"),
    )
    last_cycle_at = models.DateTimeField(_("last cycle at"), null=True, blank=True)
    last_price = money_field(verbose_name=_("last price"), null=True, blank=True)
    kill_switch = models.BooleanField(_("kill-switch"), default=False)
    kill_switch_reason = models.TextField(_("kill-switch reason"), blank=True, default="")
    kill_switch_at = models.DateTimeField(_("kill-switch time"), null=True, blank=True)
    entries_paused = models.BooleanField(
        _("entries paused"), default=False, help_text=_("a person paused new entries; exits still run")
    )
    entries_paused_reason = models.TextField(_("pause reason"), blank=True, default="")
    entries_paused_by = models.CharField(_("paused by"), max_length=150, blank=True, default="")
    entries_paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    market_offline_at = models.DateTimeField(
        _("market offline at"), null=True, blank=True, help_text=_("when the exchange last said market_offline")
    )
    metrics = models.JSONField(
        _("metrics"),
        default=dict,
        encoder=DjangoJSONEncoder,
        blank=True,
        help_text=_("the engine process's counters, for /metrics"),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("engine state")
        verbose_name_plural = _("engine state")
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
        return str(_("Engine: %(state)s") % {"state": self.get_state_display()})

    @classmethod
    def load(cls) -> EngineState:
        state, _ = cls.objects.get_or_create(pk=cls.SINGLETON_PK)
        return state


class StrategyConfig(models.Model):
    """Run-time parameters of one strategy, edited from the admin and read by the engine each cycle."""

    strategy = models.CharField(_("strategy"), max_length=64, unique=True)
    params = models.JSONField(_("parameters"), default=dict, encoder=DjangoJSONEncoder, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.CharField(_("updated by"), max_length=150, blank=True, default="")

    class Meta:
        verbose_name = _("strategy parameters")
        verbose_name_plural = _("strategy parameters")
        ordering = ("strategy",)

    def __str__(self) -> str:
        return self.strategy


# ---------------------------------------------------------------------------------------------------
# Audit: events and signals.
# ---------------------------------------------------------------------------------------------------
class EngineEvent(models.Model):
    class Level(models.TextChoices):
        DEBUG = "DEBUG", _("Debug")
        INFO = "INFO", _("Info")
        WARNING = "WARNING", _("Warning")
        ERROR = "ERROR", _("Error")

    class Kind(models.TextChoices):
        STATE_CHANGED = "state_changed", _("State changed")
        TRANSITION_REFUSED = "transition_refused", _("Transition refused")
        ENGINE_CLAIMED = "engine_claimed", _("Engine process claimed")
        ENGINE_RELEASED = "engine_released", _("Engine process released")
        ENGINE_REFUSED = "engine_refused", _("Engine process refused")
        CYCLE = "cycle", _("Cycle")
        SIGNAL = "signal", _("Signal")
        RISK_BLOCKED = "risk_blocked", _("Risk gate blocked")
        ORDER_INTENT = "order_intent", _("Order intent")
        ORDER_SUBMITTED = "order_submitted", _("Order submitted")
        ORDER_REJECTED = "order_rejected", _("Order rejected")
        ORDER_UNKNOWN = "order_unknown", _("Order outcome unknown")
        ORDER_RECONCILED = "order_reconciled", _("Order reconciled")
        ORDER_CANCELLED = "order_cancelled", _("Order cancelled")
        FILL = "fill", _("Fill")
        BALANCE = "balance", _("Balance")
        PNL = "pnl", _("PnL")
        KILL_SWITCH = "kill_switch", _("Kill-switch")
        EXCHANGE_ERROR = "exchange_error", _("Exchange error")
        CONFIG_CHANGED = "config_changed", _("Configuration changed")
        PAPER_RESET = "paper_reset", _("Paper account reset")
        MANUAL_ORDER = "manual_order", _("Manual order")
        NOTIFICATION = "notification", _("Notification")
        MARKET_STREAM = "market_stream", _("Market data stream")
        ERROR = "error", _("Error")

    ts = models.DateTimeField(_("time"), default=timezone.now, editable=False)
    level = models.CharField(_("level"), max_length=8, choices=Level.choices, default=Level.INFO)
    state = models.CharField(_("state"), max_length=16, choices=EngineState.State.choices, blank=True, default="")
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    actor = models.CharField(_("actor"), max_length=150, blank=True, default="")
    message = models.TextField(_("message"))
    meta = models.JSONField(_("meta"), default=dict, encoder=DjangoJSONEncoder, blank=True)

    class Meta:
        verbose_name = _("engine event")
        verbose_name_plural = _("engine events")
        ordering = ("-ts", "-id")
        indexes = (
            models.Index(fields=["-ts", "-id"], name="event_ts_desc"),
            models.Index(fields=["level", "-ts"], name="event_level_ts"),
            models.Index(fields=["kind", "-ts"], name="event_kind_ts"),
        )

    def __str__(self) -> str:
        return f"{self.get_level_display()} {self.get_kind_display()}: {shown_sentence(self.message)[:60]}"


class Signal(models.Model):
    class Action(models.TextChoices):
        BUY = "BUY", _("Buy")
        SELL = "SELL", _("Sell")
        HOLD = "HOLD", _("Hold")

    MANUAL_SOURCE = "manual"

    ts = models.DateTimeField(_("time"), default=timezone.now, editable=False)
    market = models.CharField(_("market"), max_length=32)
    action = models.CharField(_("action"), max_length=4, choices=Action.choices)
    score = models.DecimalField(_("score"), max_digits=24, decimal_places=8, default=ZERO)
    source = models.CharField(_("source"), max_length=64, help_text=_("strategy name, or manual"))
    explanation = models.TextField(_("explanation"), blank=True, default="")
    meta = models.JSONField(_("meta"), default=dict, encoder=DjangoJSONEncoder, blank=True)

    class Meta:
        verbose_name = _("signal")
        verbose_name_plural = _("signals")
        ordering = ("-ts", "-id")
        indexes = (
            models.Index(fields=["-ts", "-id"], name="signal_ts_desc"),
            models.Index(fields=["market", "-ts"], name="signal_market_ts"),
            models.Index(fields=["action", "-ts"], name="signal_action_ts"),
        )
        constraints = (models.CheckConstraint(condition=Q(action__in=["BUY", "SELL", "HOLD"]), name="signal_known_action"),)

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.market} ({self.source})"


# ---------------------------------------------------------------------------------------------------
# Orders and fills. "Our intent" (market, side, ord_type, price, volume, identifier) is written before
# the exchange is called; the exchange-reported fields (uuid, executed volume, fees, raw) follow.
# ---------------------------------------------------------------------------------------------------
class Order(models.Model):
    class OrdType(models.TextChoices):
        LIMIT = "limit", _("Limit")
        PRICE = "price", _("Market buy (KRW amount)")
        MARKET = "market", _("Market sell (volume)")
        BEST = "best", _("Best")

    class Status(models.TextChoices):
        NEW = "NEW", _("New (intent written, not yet sent)")
        WAIT = "WAIT", _("Open on the exchange")
        DONE = "DONE", _("Filled")
        CANCEL = "CANCEL", _("Cancelled")
        REJECTED = "REJECTED", _("Rejected")
        UNKNOWN = "UNKNOWN", _("Outcome unknown")
        ABSENT = "ABSENT", _("Never reached the exchange")

    FINAL_STATUSES = (Status.DONE, Status.CANCEL, Status.REJECTED, Status.ABSENT)
    OPEN_STATUSES = (Status.NEW, Status.WAIT, Status.UNKNOWN)

    ts = models.DateTimeField(_("time"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    market = models.CharField(_("market"), max_length=32)
    side = models.CharField(_("side"), max_length=4, choices=Side.choices)
    ord_type = models.CharField(_("order type"), max_length=8, choices=OrdType.choices)
    price = money_field(
        verbose_name=_("price"), null=True, blank=True, help_text=_("unit price (limit) or KRW total (market buy)")
    )
    volume = money_field(verbose_name=_("volume"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.NEW)
    mode = models.CharField(_("mode"), max_length=5, choices=Mode.choices)
    account = account_field()
    identifier = models.CharField(_("identifier"), max_length=64, unique=True)
    exchange_uuid = models.CharField(_("exchange UUID"), max_length=64, null=True, blank=True)
    exchange_state = models.CharField(_("exchange state"), max_length=16, blank=True, default="")
    executed_volume = money_field(verbose_name=_("executed volume"), default=ZERO)
    executed_funds = money_field(verbose_name=_("executed funds"), default=ZERO)
    paid_fee = money_field(verbose_name=_("paid fee"), default=ZERO)
    reason = models.CharField(_("reason"), max_length=255, blank=True, default="", help_text=_("why the order was made"))
    error_name = models.CharField(_("error name"), max_length=64, blank=True, default="")
    error_message = models.TextField(_("error message"), blank=True, default="")
    lookup_attempts = models.PositiveIntegerField(_("lookup attempts"), default=0)
    signal = models.ForeignKey(
        Signal, verbose_name=_("signal"), null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    raw = models.JSONField(_("raw (as reported)"), default=dict, encoder=DjangoJSONEncoder, blank=True)
    # A person asked (from the admin) to cancel this order; the engine, which owns every exchange call,
    # cancels it in its next cycle and clears nothing: the request stays as part of the audit trail.
    cancel_requested_at = models.DateTimeField(_("cancel requested at"), null=True, blank=True)
    cancel_requested_by = models.CharField(_("cancel requested by"), max_length=150, blank=True, default="")

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
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
        return f"{self.get_side_display()} {self.market} {self.identifier}"

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
    ts = models.DateTimeField(_("time"), default=timezone.now)
    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.PROTECT, related_name="fills")
    price = money_field(verbose_name=_("price"))
    volume = money_field(verbose_name=_("volume"))
    funds = money_field(verbose_name=_("funds"), default=ZERO)
    fee = money_field(verbose_name=_("fee"), default=ZERO)
    trade_id = models.CharField(_("trade ID"), max_length=64, unique=True, help_text=_("the exchange's trade id"))
    raw = models.JSONField(_("raw (as reported)"), default=dict, encoder=DjangoJSONEncoder, blank=True)

    class Meta:
        verbose_name = _("fill")
        verbose_name_plural = _("fills")
        ordering = ("-ts", "-id")
        indexes = (models.Index(fields=["-ts", "-id"], name="fill_ts_desc"),)
        constraints = (
            models.CheckConstraint(condition=Q(volume__gt=0), name="fill_positive_volume"),
            models.CheckConstraint(condition=Q(price__gt=0), name="fill_positive_price"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="fill_fee_not_negative"),
        )

    def __str__(self) -> str:
        return f"{volume_text(self.volume)} @ {price_text(self.price)} ({self.trade_id})"


# ---------------------------------------------------------------------------------------------------
# Balances and PnL.
# ---------------------------------------------------------------------------------------------------
class BalanceSnapshot(models.Model):
    ts = models.DateTimeField(_("time"), default=timezone.now, editable=False)
    mode = models.CharField(_("mode"), max_length=5, choices=Mode.choices, default=Mode.PAPER)
    account = account_field()
    krw = money_field(verbose_name=_("KRW"), help_text=_("KRW free and locked"))
    coin_symbol = models.CharField(_("coin symbol"), max_length=16)
    coin_volume = money_field(verbose_name=_("coin volume"), help_text=_("coin free and locked"))
    avg_buy_price = money_field(verbose_name=_("average buy price"), default=ZERO)
    price = money_field(verbose_name=_("price"), default=ZERO, help_text=_("the market price used for the evaluation"))
    total_krw = money_field(verbose_name=_("total (KRW)"), help_text=_("KRW plus the coin at the market price"))

    class Meta:
        verbose_name = _("balance snapshot")
        verbose_name_plural = _("balance snapshots")
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
        return f"{local_time_text(self.ts)} {krw_text(self.total_krw)} KRW"


class PnlDaily(models.Model):
    date = models.DateField(_("date"), help_text=_("the local (TIME_ZONE) trading day"))
    market = models.CharField(_("market"), max_length=32)
    mode = models.CharField(_("mode"), max_length=5, choices=Mode.choices)
    account = account_field()
    realized = money_field(verbose_name=_("realized"), default=ZERO)
    unrealized = money_field(verbose_name=_("unrealized"), default=ZERO)
    fees = money_field(verbose_name=_("fees"), default=ZERO)
    max_drawdown = money_field(
        verbose_name=_("max drawdown"), default=ZERO, help_text=_("largest fall of equity from the day's peak, in KRW")
    )
    equity_start = money_field(verbose_name=_("equity start"), null=True, blank=True)
    equity_peak = money_field(verbose_name=_("equity peak"), null=True, blank=True)
    equity_last = money_field(verbose_name=_("equity last"), null=True, blank=True)
    trades = models.PositiveIntegerField(_("trades"), default=0)
    start_price = money_field(
        verbose_name=_("start price"),
        null=True,
        blank=True,
        help_text=_("the close of the last candle before local midnight: it values the position carried into the day"),
    )
    start_unknown_since = models.DateTimeField(
        _("start unknown since"),
        null=True,
        blank=True,
        help_text=_(
            "set while a position was carried into the day and its value at midnight could not be read: "
            "new entries are blocked until it is"
        ),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("daily PnL")
        verbose_name_plural = _("daily PnL")
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
        BUY = "buy", _("Buy (KRW amount)")
        SELL = "sell", _("Sell (volume)")
        SELL_ALL = "sell_all", _("Sell all")
        CLOSE = "close", _("Close position")

    class Status(models.TextChoices):
        PENDING = "PENDING", _("Pending")
        PROCESSING = "PROCESSING", _("Processing")
        DONE = "DONE", _("Done")
        REJECTED = "REJECTED", _("Rejected")
        CANCELLED = "CANCELLED", _("Cancelled")
        EXPIRED = "EXPIRED", _("Expired")

    ts = models.DateTimeField(_("time"), default=timezone.now, editable=False)
    market = models.CharField(_("market"), max_length=32)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    krw = money_field(verbose_name=_("KRW"), null=True, blank=True)
    volume = money_field(verbose_name=_("volume"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.CharField(_("requested by"), max_length=150)
    result = models.TextField(_("result"), blank=True, default="")
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    order = models.ForeignKey(
        Order, verbose_name=_("order"), null=True, blank=True, on_delete=models.SET_NULL, related_name="manual_requests"
    )

    class Meta:
        verbose_name = _("manual order")
        verbose_name_plural = _("manual orders")
        ordering = ("-ts", "-id")
        indexes = (models.Index(fields=["status", "ts"], name="manual_status_ts"),)
        constraints = (
            models.CheckConstraint(condition=Q(krw__isnull=True) | Q(krw__gt=0), name="manual_positive_krw"),
            models.CheckConstraint(condition=Q(volume__isnull=True) | Q(volume__gt=0), name="manual_positive_volume"),
        )

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.market} ({self.get_status_display()})"


# ---------------------------------------------------------------------------------------------------
# Market data and backtests.
# ---------------------------------------------------------------------------------------------------
class Candle(models.Model):
    """One candle. `unit` is minutes (1, 3, 5, 15, 30, 60, 240) or 1440 for day candles."""

    market = models.CharField(_("market"), max_length=32)
    unit = models.PositiveIntegerField(_("candle unit (minutes)"))
    ts = models.DateTimeField(_("time"), help_text=_("candle start, UTC"))
    open = money_field(verbose_name=_("open"))
    high = money_field(verbose_name=_("high"))
    low = money_field(verbose_name=_("low"))
    close = money_field(verbose_name=_("close"))
    volume = money_field(verbose_name=_("volume"), default=ZERO)
    value = models.DecimalField(_("traded value (KRW)"), max_digits=32, decimal_places=8, default=ZERO)

    class Meta:
        verbose_name = _("candle")
        verbose_name_plural = _("candles")
        ordering = ("market", "unit", "ts")
        constraints = (models.UniqueConstraint(fields=["market", "unit", "ts"], name="candle_unique_market_unit_ts"),)

    def __str__(self) -> str:
        return f"{self.market} {self.unit}m {local_time_text(self.ts)}"


class BacktestRun(models.Model):
    ts = models.DateTimeField(_("time"), default=timezone.now, editable=False)
    market = models.CharField(_("market"), max_length=32)
    unit = models.PositiveIntegerField(_("candle unit (minutes)"))
    strategy = models.CharField(_("strategy"), max_length=64)
    params = models.JSONField(_("parameters"), default=dict, encoder=DjangoJSONEncoder, blank=True)
    date_from = models.DateTimeField(_("from"))
    date_to = models.DateTimeField(_("to"))
    initial_krw = money_field(verbose_name=_("initial KRW"))
    final_equity = money_field(verbose_name=_("final equity"), default=ZERO)
    metrics = models.JSONField(_("metrics"), default=dict, encoder=DjangoJSONEncoder, blank=True)
    equity_svg = models.TextField(_("equity chart (SVG)"), blank=True, default="")
    trades_csv_path = models.CharField(_("trades CSV path"), max_length=500, blank=True, default="")
    duration_sec = models.DecimalField(_("duration (s)"), max_digits=12, decimal_places=3, default=ZERO)

    class Meta:
        verbose_name = _("backtest run")
        verbose_name_plural = _("backtest runs")
        ordering = ("-ts", "-id")
        indexes = (models.Index(fields=["-ts", "-id"], name="backtest_ts_desc"),)

    def __str__(self) -> str:
        return f"{self.strategy} {self.market} {self.date_from:%Y-%m-%d}..{self.date_to:%Y-%m-%d}"


class DecisionState(models.Model):
    """What the decision rules must remember across cycles and restarts, per market and account (docs/DECISIONS.md):
    the trailing peak of the open position, the last closed candle the strategy acted on, and the candle
    that triggered the last exit (no re-entry on it)."""

    market = models.CharField(_("market"), max_length=32)
    mode = models.CharField(_("mode"), max_length=8, choices=Mode.choices)
    account = account_field()
    peak_price = models.DecimalField(_("peak price"), max_digits=24, decimal_places=8, null=True, blank=True)
    peak_entry_at = models.DateTimeField(
        _("peak entry at"), null=True, blank=True, help_text=_("entry time of the position the peak belongs to (UTC)")
    )
    decided_candle_start = models.DateTimeField(
        _("decided candle start"),
        null=True,
        blank=True,
        help_text=_("start of the last closed candle the strategy acted on (UTC)"),
    )
    exit_candle_start = models.DateTimeField(
        _("exit candle start"), null=True, blank=True, help_text=_("start of the candle that triggered the last exit (UTC)")
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("decision state")
        verbose_name_plural = _("decision states")
        constraints = (models.UniqueConstraint(fields=["market", "account"], name="decision_state_unique_market_account"),)

    def __str__(self) -> str:
        return f"{self.market} {self.account}"


from trading.backtest_job_models import BacktestJob  # noqa: E402, F401  (registered with the app)
from trading.chart_models import EngineCandle  # noqa: E402, F401 - registers the model with Django
from trading.schedule_models import PauseWindow  # noqa: E402, F401 - registers the schedule with Django
from trading.study_models import OptimizationStudy as OptimizationStudy  # noqa: E402 - the parameter searches
from trading.study_models import OptimizationTrial as OptimizationTrial  # noqa: E402
