"""The risk limits read from settings, and the conditions that trip the kill-switch.

The rules themselves and the gate that applies them are in trading/engine/risk.py; this module only builds
their inputs from Django settings and names the kill-switch's conditions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings

from trading.engine.risk import RiskCheck, RiskContext, RiskLimits, Rule


def kill_switch_reasons(
    daily_loss_exceeded: bool,
    consecutive_order_failures: int,
    consecutive_api_failures: int,
    max_failures: int,
) -> list[RiskCheck]:
    """The kill-switch conditions that hold now (empty: none). Each is a RiskCheck with allowed=False.

    Conditions: the daily loss limit reached; `max_failures` (MAX_CONSECUTIVE_FAILURES) or more orders
    failed in a row; as many exchange API calls failed in a row.
    """
    reasons: list[RiskCheck] = []
    if daily_loss_exceeded:
        reasons.append(RiskCheck(False, Rule.DAILY_LOSS, "daily loss limit reached", {}))
    if consecutive_order_failures >= max_failures:
        reasons.append(
            RiskCheck(
                False,
                Rule.ORDER_FAILURES,
                f"{consecutive_order_failures} orders failed in a row (MAX_CONSECUTIVE_FAILURES={max_failures})",
                {"consecutive_order_failures": str(consecutive_order_failures), "max_failures": str(max_failures)},
            )
        )
    if consecutive_api_failures >= max_failures:
        reasons.append(
            RiskCheck(
                False,
                Rule.API_FAILURES,
                f"{consecutive_api_failures} exchange API calls failed in a row (MAX_CONSECUTIVE_FAILURES={max_failures})",
                {"consecutive_api_failures": str(consecutive_api_failures), "max_failures": str(max_failures)},
            )
        )
    return reasons


def risk_limits_from_settings(overrides: Mapping[str, Any] | None = None) -> RiskLimits:
    """The limits from django settings (MAX_ORDER_KRW, MAX_DAILY_LOSS_KRW, MAX_POSITION_RATIO, ORDER_COOLDOWN_SEC,
    MAX_CONSECUTIVE_FAILURES, TIME_ZONE), with optional overrides by field name (e.g. from a backtest form)."""
    values: dict[str, Any] = {
        "max_order_krw": settings.MAX_ORDER_KRW,
        "max_daily_loss_krw": settings.MAX_DAILY_LOSS_KRW,
        "max_position_ratio": settings.MAX_POSITION_RATIO,
        "cooldown_sec": settings.ORDER_COOLDOWN_SEC,
        "max_consecutive_failures": settings.MAX_CONSECUTIVE_FAILURES,
        "time_zone": settings.TIME_ZONE,
    }
    values.update(overrides or {})
    return RiskLimits(**values)


def risk_context_from_settings(**fields: Any) -> RiskContext:
    """A RiskContext with `limits` from django settings and the given fields (now, price, krw_free, coin_volume, …)."""
    return RiskContext(limits=risk_limits_from_settings(), **fields)
