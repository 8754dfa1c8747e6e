"""How close a risk limit is, in three words the risk panel shows: within it, at it, or over it.

An order of exactly MAX_ORDER_KRW is an ordinary order (the engine sizes its buys to the limit), so it is
"at the limit", shown neutral; only a figure beyond the limit is "over" and shown in alarm red.
"""

from __future__ import annotations

from decimal import Decimal

LEVEL_OK = "ok"
LEVEL_AT = "at"
LEVEL_OVER = "over"


def limit_level(used: Decimal | int | None, limit: Decimal | int | None) -> str:
    """ "ok" below the limit (or nothing used / no limit), "at" exactly at it, "over" beyond it."""
    if used is None or limit is None:
        return LEVEL_OK
    used, limit = Decimal(used), Decimal(limit)
    if used > limit:
        return LEVEL_OVER
    if used == limit and limit != 0:
        return LEVEL_AT
    return LEVEL_OK
