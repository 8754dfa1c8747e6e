"""/metrics: the engine's counters (EngineState.metrics) and state, in Prometheus text format."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from trading.market_stream import stream_metric_samples
from trading.models import EngineState
from trading.pause_selectors import entries_pause_samples
from trading.selectors import engine_online, engine_state_get, heartbeat_age_sec


def _metric_number(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    if not number.is_finite():
        return None
    return format(number.normalize(), "f") if number != number.to_integral_value() else str(int(number))


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _histogram_buckets(raw: object, count: int) -> list[tuple[str, int]]:
    """Cumulative (le, count) pairs from a {le: n} mapping or [[le, n], ...], cumulative or per-bucket."""
    pairs: list[tuple[Decimal, str, int]] = []
    items = raw.items() if isinstance(raw, dict) else (raw if isinstance(raw, list) else [])
    for item in items:
        try:
            le, n = item
            text = str(le)
            bound = Decimal("Infinity") if text in ("+Inf", "inf", "Inf") else Decimal(text)
            pairs.append((bound, "+Inf" if bound.is_infinite() else _metric_number(bound) or text, int(n)))
        except (TypeError, ValueError, ArithmeticError):
            continue
    pairs.sort(key=lambda pair: pair[0])
    counts = [n for _, _, n in pairs]
    already_cumulative = counts == sorted(counts) and bool(counts) and counts[-1] == count
    result, running = [], 0
    for _bound, label, n in pairs:
        running = n if already_cumulative else running + n
        result.append((label, running))
    if not result or result[-1][0] != "+Inf":
        result.append(("+Inf", count))
    return result


def metrics_text() -> str:
    state = engine_state_get()
    data = state.metrics if isinstance(state.metrics, dict) else {}
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, object]]) -> None:
        rendered = [(labels, _metric_number(value)) for labels, value in samples]
        rendered = [(labels, value) for labels, value in rendered if value is not None]
        lines.append(f"# HELP autocoin_{name} {help_text}")
        lines.append(f"# TYPE autocoin_{name} {kind}")
        lines.extend(f"autocoin_{name}{labels} {value}" for labels, value in rendered)

    metric(
        "engine_state",
        "gauge",
        "1 for the engine's current state, 0 for the others.",
        [(f'{{state="{choice}"}}', int(state.state == choice)) for choice in EngineState.State.values],
    )
    metric("engine_online", "gauge", "1 when the engine process's heartbeat is fresh.", [("", int(engine_online(state)))])
    age = heartbeat_age_sec(state)
    metric("engine_heartbeat_age_seconds", "gauge", "Seconds since the engine process's last heartbeat.", [("", age)])
    metric("engine_iteration", "counter", "Cycles the engine has started.", [("", state.iteration)])
    metric(
        "engine_consecutive_failures", "gauge", "Consecutive failures counted by the engine.", [("", state.consecutive_failures)]
    )
    metric("kill_switch", "gauge", "1 when the kill-switch is tripped.", [("", int(state.kill_switch))])
    for name, help_text, value in entries_pause_samples(state):
        metric(name, "gauge", help_text, [("", value)])
    metric(
        "last_price_krw",
        "gauge",
        "The engine's last seen market price.",
        [(f'{{market="{_label(settings.TRADING_MARKET)}"}}', state.last_price)],
    )
    metric("cycles_total", "counter", "Trading cycles completed.", [("", data.get("cycles_total", 0))])
    duration = data.get("cycle_duration_seconds") or {}
    if isinstance(duration, dict):
        count = int(duration.get("count") or 0)
        lines.append("# HELP autocoin_cycle_duration_seconds Duration of one trading cycle.")
        lines.append("# TYPE autocoin_cycle_duration_seconds histogram")
        for le, n in _histogram_buckets(duration.get("buckets") or {}, count):
            lines.append(f'autocoin_cycle_duration_seconds_bucket{{le="{le}"}} {n}')
        lines.append(f"autocoin_cycle_duration_seconds_sum {_metric_number(duration.get('sum') or 0) or 0}")
        lines.append(f"autocoin_cycle_duration_seconds_count {count}")
    metric("orders_placed_total", "counter", "Orders accepted by the exchange.", [("", data.get("orders_placed_total", 0))])
    metric("orders_failed_total", "counter", "Orders that failed or were rejected.", [("", data.get("orders_failed_total", 0))])
    errors = data.get("exchange_errors_total") or {}
    metric(
        "exchange_errors_total",
        "counter",
        "Exchange errors by kind.",
        [(f'{{kind="{_label(kind)}"}}', n) for kind, n in sorted(errors.items())] if isinstance(errors, dict) else [],
    )
    metric("rate_limited_total", "counter", "HTTP 429 answers from the exchange.", [("", data.get("rate_limited_total", 0))])
    metric("equity_krw", "gauge", "Total equity in KRW at the last price.", [("", data.get("equity_krw"))])
    metric("pnl_today_krw", "gauge", "Today's realized plus unrealized PnL in KRW.", [("", data.get("pnl_today_krw"))])
    for name, kind, help_text, samples in stream_metric_samples(data if state.owner else {}):
        metric(name, kind, help_text, samples)
    return "\n".join(lines) + "\n"
