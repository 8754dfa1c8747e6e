"""Stored English sentences shown in the reader's language: signal explanations and event messages.

Strategies explain their decisions in English (they are pure and know nothing of Django), and the engine
writes its events' messages in English: that stored text is the audit trail (logs, the API, exports) and
stays as it is. A page shows it through `shown_sentence`, which recognises the known sentence shapes
below and writes them again in the active language, with the same figures. A sentence it does not know
(an exchange's own error text, say) is shown as stored.

Each shape is an English template with named `%(placeholders)s`, marked with `gettext_noop` so
`makemessages` puts it in the catalogue; its translation must use the same placeholders. Placeholders
named in `NESTED` hold sentences of their own (a reason, a risk gate's reasons joined by "; ") and are
translated in turn. An explanation's parts are joined by "; " (outside brackets): a text that is not one
known sentence as a whole is translated part by part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from django.utils.translation import get_language, gettext, gettext_noop

from trading.labels import code_label

NESTED = frozenset({"why", "reason", "reasons", "order", "problem", "what"})
# Placeholders that hold a code, shown by its name in the active language (trading.labels).
CODES = {
    "old": "state",
    "new": "state",
    "status": "order_status",
    "side": "side",
    "action": "action",
    "source": "intent_source",
    "rule": "decision_reason",
}
# Placeholders that may hold several "; "-joined sentences; every other one holds a single part, so a shape
# never takes in the next part of an explanation.
MULTI_PART = frozenset({"reason", "reasons", "problem", "error", "note", "checks", "orders", "instead", "step"})

TEMPLATES: tuple[str, ...] = (
    # --- signal explanations: trading/strategies/base.py -----------------------------------------------
    gettext_noop(
        "HOLD: entry signal held back, the volatility (ATR/close) is not known yet (the ATR is warming up; limit %(limit)s)"
    ),
    gettext_noop("HOLD: entry signal held back, the volatility (ATR/close) %(ratio)s%% is above max_volatility_pct %(limit)s"),
    gettext_noop("HOLD: warming up, %(count)s of %(needed)s candles needed before an entry"),
    gettext_noop("HOLD: exit signal but no position to sell"),
    # A decision's head: its action, then why (before the indicators' shapes, whose first placeholder would
    # otherwise take the "HOLD:" in).
    gettext_noop("BUY: %(why)s"),
    gettext_noop("SELL: %(why)s"),
    gettext_noop("HOLD: %(why)s"),
    gettext_noop("holding %(volume)s at an average %(price)s (%(change)s)"),
    # --- protective exits: trading/strategies/protective.py ---------------------------------------------
    gettext_noop("SELL (stop-loss %(pct)s): price %(price)s is at or below the stop %(level)s"),
    gettext_noop("SELL (ATR stop %(mult)s × ATR %(atr)s below the peak): price %(price)s is at or below the stop %(level)s"),
    gettext_noop(
        "SELL (ATR stop %(mult)s × ATR %(atr)s below the average buy price): price %(price)s is at or below the stop %(level)s"
    ),
    gettext_noop(
        "SELL (trailing stop %(pct)s): price %(price)s is at or below %(level)s, %(pct)s under the highest price "
        "since entry %(peak)s"
    ),
    gettext_noop("SELL (take-profit %(pct)s): price %(price)s reached the target %(level)s"),
    gettext_noop("average buy price %(price)s (%(change)s)"),
    # --- MACD ---------------------------------------------------------------------------------------------
    gettext_noop(
        "%(name)s line %(line)s crossed above its signal %(signal)s (histogram %(histogram)s; previous candle: "
        "line %(previous_line)s <= signal %(previous_signal)s)"
    ),
    gettext_noop(
        "%(name)s line %(line)s crossed below its signal %(signal)s (histogram %(histogram)s; previous candle: "
        "line %(previous_line)s >= signal %(previous_signal)s)"
    ),
    gettext_noop("%(name)s line %(line)s is above its signal %(signal)s (histogram %(histogram)s), no cross"),
    gettext_noop("%(name)s line %(line)s is below its signal %(signal)s (histogram %(histogram)s), no cross"),
    gettext_noop("%(name)s line %(line)s is on its signal %(signal)s (histogram %(histogram)s), no cross"),
    # --- RSI ------------------------------------------------------------------------------------------------
    gettext_noop("%(name)s %(value)s crossed above oversold %(level)s (previous candle: %(previous)s <= %(level)s)"),
    gettext_noop("%(name)s %(value)s crossed above overbought %(level)s (previous candle: %(previous)s <= %(level)s)"),
    gettext_noop("%(name)s is not known yet"),
    gettext_noop("%(name)s %(value)s is at or below oversold %(level)s, no cross"),
    gettext_noop("%(name)s %(value)s is at or above overbought %(level)s, no cross"),
    gettext_noop("%(name)s %(value)s is between oversold %(low)s and overbought %(high)s, no cross"),
    # --- volatility breakout ------------------------------------------------------------------------------
    gettext_noop("no target for trading day %(day)s (09:00 KST): the candles do not hold the complete previous day"),
    gettext_noop("trading day %(day)s ends with this candle"),
    gettext_noop(
        "sell to be out at the next day's open (target %(target)s = day open %(open)s + %(k)s × yesterday's range %(range)s)"
    ),
    gettext_noop(
        "close %(close)s broke above the target %(target)s = day open %(open)s + %(k)s × yesterday's range %(range)s, "
        "but the day ends with this candle"
    ),
    gettext_noop("no entry"),
    gettext_noop("position carried into trading day %(day)s"),
    gettext_noop("the breakout trade ends at the day change"),
    gettext_noop("close %(close)s broke above the target %(target)s = day open %(open)s + %(k)s × yesterday's range %(range)s"),
    gettext_noop(
        "close %(close)s is above the target %(target)s = day open %(open)s + %(k)s × yesterday's range %(range)s, "
        "no breakout cross"
    ),
    gettext_noop(
        "close %(close)s is at or below the target %(target)s = day open %(open)s + %(k)s × yesterday's range %(range)s, "
        "no breakout cross"
    ),
    # --- SMA cross (after MACD: its shape is the loosest) --------------------------------------------------
    gettext_noop(
        "%(fast)s %(fast_value)s crossed above %(slow)s %(slow_value)s (previous candle: %(fast_before)s <= %(slow_before)s)"
    ),
    gettext_noop(
        "%(fast)s %(fast_value)s crossed below %(slow)s %(slow_value)s (previous candle: %(fast_before)s >= %(slow_before)s)"
    ),
    gettext_noop("%(fast)s %(fast_value)s is above %(slow)s %(slow_value)s, no cross"),
    gettext_noop("%(fast)s %(fast_value)s is below %(slow)s %(slow_value)s, no cross"),
    gettext_noop("%(fast)s %(fast_value)s is level with %(slow)s %(slow_value)s, no cross"),
    # --- manual orders (trading/engine/manual.py) --------------------------------------------------------
    gettext_noop("Manual buy (krw amount) requested by %(actor)s"),
    gettext_noop("Manual sell (volume) requested by %(actor)s"),
    gettext_noop("Manual sell all requested by %(actor)s"),
    gettext_noop("Manual close position requested by %(actor)s"),
    gettext_noop("manual (%(actor)s): buy %(krw)s KRW"),
    gettext_noop("manual (%(actor)s): sell %(volume)s"),
    gettext_noop("manual (%(actor)s): sell everything"),
    # --- event messages (trading/events.py and the engine) -----------------------------------------------
    gettext_noop("Engine process %(owner)s started"),
    gettext_noop("Engine process %(owner)s took over from %(previous)s, which had stopped (no process or a stale heartbeat)"),
    gettext_noop("Engine process %(owner)s refused to start: %(running)s is already running (last heartbeat %(age)s)"),
    gettext_noop("Engine process %(owner)s exited: %(reason)s"),
    gettext_noop("The launcher restarted the engine process (%(note)s); %(owner)s runs it now"),
    gettext_noop("%(old)s → %(new)s by %(actor)s: %(reason)s"),
    gettext_noop("%(old)s → %(new)s by %(actor)s"),
    gettext_noop("%(what)s changed by %(actor)s"),
    gettext_noop("Manual order queued by %(actor)s: buy %(krw)s KRW on %(market)s"),
    gettext_noop("Manual order queued by %(actor)s: sell %(volume)s on %(market)s"),
    gettext_noop("Manual order queued by %(actor)s: sell all on %(market)s"),
    gettext_noop("Manual order queued by %(actor)s: close position on %(market)s"),
    gettext_noop("Manual order #%(id)s rejected: %(problem)s"),
    gettext_noop("Manual order #%(id)s cancelled by %(actor)s before the engine carried it out"),
    gettext_noop("Manual order #%(id)s expired unexecuted: queued %(age)s s ago, longer than MANUAL_ORDER_TTL_SEC=%(ttl)s"),
    gettext_noop("Cancel requested by %(actor)s for %(count)s open order(s): %(orders)s"),
    gettext_noop("Paper account reset by %(actor)s to %(krw)s KRW (%(count)s open paper order(s) cancelled)"),
    gettext_noop(
        "History older than %(days)s days pruned: %(events)s events, %(signals)s HOLD signals, %(snapshots)s balance "
        "snapshots (orders and fills are kept)"
    ),
    gettext_noop("Order intent: %(order)s (%(reason)s)"),
    gettext_noop("Order placed: %(order)s → %(status)s (uuid %(uuid)s)"),
    gettext_noop("Order rejected by the exchange: %(order)s: %(error)s"),
    gettext_noop("Order refused: %(problem)s"),
    gettext_noop("Order outcome unknown (%(error)s); no new order on %(market)s until it is found"),
    gettext_noop("Order %(identifier)s cancelled as requested by %(actor)s: now %(status)s"),
    gettext_noop("Order %(identifier)s cancelled: %(reason)s"),
    gettext_noop(
        "Start-up reconciliation: %(checked)s open order(s) checked, %(resolved)s settled, %(unknown)s still unknown, "
        "%(fills)s fill(s) recovered"
    ),
    gettext_noop("Fill: %(side)s %(volume)s %(market)s @ %(price)s KRW (fee %(fee)s KRW)"),
    gettext_noop("Exchange error while %(step)s: %(error)s (consecutive failures: %(count)s); retrying in %(seconds)s s"),
    gettext_noop("Exchange error while %(step)s: %(error)s (consecutive failures: %(count)s)"),
    gettext_noop("Kill-switch tripped: %(reason)s"),
    gettext_noop("%(side)s from %(source)s blocked by the risk gate: %(reasons)s"),
    gettext_noop("Order shrunk by the slippage limit: %(reason)s"),
    gettext_noop("Order rules unavailable (%(error)s); using Upbit's KRW fee 0.05%% and minimum 5,000 KRW"),
    gettext_noop("Tick size of %(market)s unavailable (%(error)s); limit prices use %(instead)s until Upbit answers"),
    gettext_noop("Live pre-flight for %(market)s failed: %(checks)s"),
    gettext_noop("Notification via %(channel)s failed: %(error)s"),
    gettext_noop("best parameters of study %(study)s (trial #%(trial)s) applied to %(strategy)s by %(actor)s"),
    gettext_noop("Strategy parameters for %(strategy)s are invalid (%(error)s); using the defaults"),
    gettext_noop("Start pressed in the admin"),
    gettext_noop("Stop pressed in the admin"),
    gettext_noop("Reset pressed in the admin"),
    # --- why an order was made (trading/engine/cycle.py) ------------------------------------------------
    gettext_noop("%(action)s by %(strategy)s: %(rule)s"),
    # --- an order as a message names it (events.order_described) -----------------------------------------
    gettext_noop("buy price %(krw)s KRW on %(market)s"),
    gettext_noop("buy limit %(volume)s @ %(price)s KRW on %(market)s"),
    gettext_noop("sell limit %(volume)s @ %(price)s KRW on %(market)s"),
    gettext_noop("sell market %(volume)s on %(market)s"),
    gettext_noop("buy best %(krw)s on %(market)s"),
    gettext_noop("sell best %(volume)s on %(market)s"),
    # --- the risk gate's reasons (trading/engine/risk_text.py) --------------------------------------------
    gettext_noop(
        "cooldown: the last %(side)s order was %(elapsed)s s ago; the next %(side)s is allowed in %(wait)s s "
        "(ORDER_COOLDOWN_SEC=%(cooldown)s)"
    ),
    gettext_noop("nothing to sell: the free coin balance is 0"),
    gettext_noop("the coin would be %(share)s%% of equity (cap %(cap)s%%)"),
    gettext_noop("a buy of %(krw)s is below Upbit's minimum order of %(minimum)s"),
    gettext_noop("a buy of %(krw)s is more than %(bound)s allows; the most allowed now is %(most)s"),
    gettext_noop(
        "daily loss limit reached: today's PnL %(pnl)s (realized %(realized)s, unrealized %(unrealized)s) is at or below "
        "-%(limit)s; no new entries until local midnight"
    ),
    gettext_noop(
        "daily loss limit of %(limit)s was reached earlier today (%(day)s); no new entries until local midnight "
        "(today's PnL now %(pnl)s)"
    ),
    gettext_noop("kill switch is on: %(reason)s; no new entries until it is reset"),
    gettext_noop("kill switch is on; no new entries until it is reset"),
)

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


@dataclass(frozen=True, slots=True)
class Template:
    msgid: str
    pattern: re.Pattern[str]
    anchor: str  # the template's longest literal piece: a cheap test before the regular expression


def _compiled(msgid: str) -> Template:
    parts: list[str] = []
    literals: list[str] = []
    seen: set[str] = set()
    position = 0
    for match in _PLACEHOLDER.finditer(msgid):
        literal = msgid[position : match.start()]
        parts.append(re.escape(literal))
        literals.append(literal)
        name = match.group(1)
        if name is None:
            parts.append("%")
            literals.append("%")
        elif name in seen:
            parts.append(f"(?P={name})")
        else:
            seen.add(name)
            parts.append(f"(?P<{name}>.+?)")
        position = match.end()
    parts.append(re.escape(msgid[position:]))
    literals.append(msgid[position:])
    return Template(msgid=msgid, pattern=re.compile("".join(parts), re.DOTALL), anchor=max(literals, key=len))


COMPILED: tuple[Template, ...] = tuple(_compiled(msgid) for msgid in TEMPLATES)


def split_parts(text: str) -> list[str]:
    """`text` split at each "; " outside brackets (a bracket may hold a "; " of its own)."""
    if "; " not in text:
        return [text]
    parts: list[str] = []
    start = scan = depth = 0
    while (at := text.find("; ", scan)) >= 0:
        between = text[scan:at]
        depth = max(depth + between.count("(") - between.count(")"), 0)
        if depth == 0:
            parts.append(text[start:at])
            start = at + 2
        scan = at + 2
    parts.append(text[start:])
    return parts


def _sentence(text: str, depth: int) -> str | None:
    """`text` as one known sentence in the active language, or None when it is not one."""
    for template in COMPILED:
        if template.anchor not in text:
            continue
        match = template.pattern.fullmatch(text)
        if match is None or any(
            name not in MULTI_PART and len(split_parts(value)) > 1 for name, value in match.groupdict().items()
        ):
            continue
        values = {name: _value(name, value, depth) for name, value in match.groupdict().items()}
        try:
            return gettext(template.msgid) % values
        except (KeyError, TypeError, ValueError):
            return None
    return None


def _value(name: str, value: str, depth: int) -> str:
    if name in CODES:
        return code_label(value, CODES[name])
    return _translated(value, depth + 1) if name in NESTED and depth < 3 else value


def _translated(text: str, depth: int = 0) -> str:
    whole = _sentence(text, depth)
    if whole is not None:
        return whole
    parts = split_parts(text)
    if len(parts) == 1:
        return text
    # Each run of parts that is one known sentence (a sentence may hold a "; " of its own), longest first.
    shown: list[str] = []
    start = 0
    while start < len(parts):
        for end in range(len(parts), start, -1):
            sentence = _sentence("; ".join(parts[start:end]), depth) if end - start < len(parts) else None
            if sentence is not None:
                shown.append(sentence)
                start = end
                break
        else:
            shown.append(parts[start])
            start += 1
    return "; ".join(shown)


@lru_cache(maxsize=4096)
def _shown(text: str, language: str) -> str:
    return _translated(text)


def shown_sentence(text: str) -> str:
    """A stored English sentence (an explanation, an event's message) in the active language."""
    language = get_language() or "en"
    if not text or language.startswith("en"):
        return text
    return _shown(text, language)
