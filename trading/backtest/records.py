"""The backtest's inputs and records: its configuration, each fill and each decision that did not become one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from exchange.rules import DEFAULT_FEE_RATE, KRW_MAX_ORDER_TOTAL
from exchange.types import SideName
from trading.engine import risk, risk_limits

ZERO = Decimal("0")
# --no-limits: the risk rules still run, with limits no order can reach.
NO_LIMIT_KRW = Decimal("1000000000000000")


class BacktestError(ValueError):
    """A backtest that cannot run as asked; the text is one line for the person."""


@dataclass(frozen=True)
class BacktestConfig:
    market: str
    unit: int
    strategy: str
    params: dict[str, Any]
    start: datetime
    end: datetime
    initial_krw: Decimal
    limits: risk.RiskLimits
    fees: bool = True
    """False: fee rate 0 (for comparisons with fee-less backtesters)."""
    max_slippage_pct: Decimal | None = None
    """The engine's MAX_SLIPPAGE_PCT, applied to the book model (which never slips); None: off."""

    @property
    def fee_rate(self) -> Decimal:
        return self.limits.fee_rate if self.fees else ZERO


def backtest_limits(
    *, fees: bool = True, limits: bool = True, overrides: dict[str, Any] | None = None, time_zone: str | None = None
) -> risk.RiskLimits:
    """The live engine's limits from settings, with overrides; `limits=False` lifts every limit we set
    ourselves (order size up to Upbit's maximum, no cooldown, no position cap, no daily loss limit), while
    Upbit's own rules (minimum order, tick grid, 8-decimal volumes) always apply."""
    values: dict[str, Any] = dict(overrides or {})
    if time_zone:
        values["time_zone"] = time_zone
    if not limits:
        values.update(
            max_order_krw=KRW_MAX_ORDER_TOTAL,
            max_daily_loss_krw=NO_LIMIT_KRW,
            max_position_ratio=Decimal("1"),
            cooldown_sec=0,
        )
    values["fee_rate"] = DEFAULT_FEE_RATE if fees else ZERO
    return risk_limits.risk_limits_from_settings(values)


@dataclass(slots=True)
class TradeRecord:
    """One fill of the backtest (a whole market order: the synthetic book has one level)."""

    index: int
    ts: datetime
    side: SideName
    reason: str
    decided_at: datetime
    price: Decimal
    volume: Decimal
    funds: Decimal
    fee: Decimal
    realized_pnl: Decimal
    krw_after: Decimal
    coin_after: Decimal
    equity_after: Decimal
    total: Decimal | None = None
    """Buy: the KRW total sent (the risk gate's size); the fee was reserved on top."""

    @property
    def ts_epoch(self) -> int:
        return int(self.ts.timestamp())


@dataclass(slots=True)
class BlockedOrder:
    """A BUY or SELL decision that did not become a fill, and why (the rule and its message)."""

    index: int
    decided_at: datetime
    side: SideName
    reason: str
    rule: str
    message: str
    numbers: dict[str, str] = field(default_factory=dict)
    """The figures the blocking rule used (the risk gate's RiskCheck.numbers)."""
