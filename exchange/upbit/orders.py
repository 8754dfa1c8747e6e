"""The order body Upbit accepts: local checks first, so a malformed order never reaches Upbit, then
tick and precision correction, then the wire form (bid/ask, plain decimal strings)."""

from __future__ import annotations

from decimal import Decimal

from exchange.exceptions import OrderRejected
from exchange.rules import quantize_volume, round_to_tick
from exchange.types import OrderRequest

_SIDE_TO_WIRE = {"buy": "bid", "sell": "ask"}
TIME_IN_FORCE = frozenset({"ioc", "fok", "post_only"})


def format_decimal(value: Decimal) -> str:
    """A plain decimal string (no exponent, no trailing zeros): what Upbit expects in an order body."""
    text = format(value.normalize(), "f")
    return text if text not in ("-0", "") else "0"


def order_body(request: OrderRequest) -> dict[str, str]:
    """The JSON body for a request, after local checks and tick/precision correction.

    Raises OrderRejected(validation_error) for anything Upbit would refuse as malformed."""

    def reject(message: str) -> OrderRejected:
        return OrderRejected(f"order {request.identifier or '(no identifier)'}: {message}", name="validation_error")

    if request.side not in _SIDE_TO_WIRE:
        raise reject(f"side must be buy or sell, not {request.side!r}")
    if not request.identifier:
        raise reject("an identifier is required so the order can be found again after a timeout")
    if not request.market or "-" not in request.market:
        raise reject(f"market must look like KRW-BTC, not {request.market!r}")
    for label, value in (("price", request.price), ("volume", request.volume)):
        if value is not None and (not isinstance(value, Decimal) or not value.is_finite() or value <= 0):
            raise reject(f"{label} must be a positive Decimal, not {value!r}")
    tif = request.time_in_force
    if tif is not None and tif not in TIME_IN_FORCE:
        raise reject(f"time_in_force must be one of {sorted(TIME_IN_FORCE)}, not {tif!r}")

    price, volume = request.price, request.volume
    ord_type = request.ord_type
    if ord_type == "limit":
        if price is None or volume is None:
            raise reject("a limit order needs both price and volume")
        if request.market.startswith("KRW-"):
            # Off-grid prices are refused (invalid_price_*): snap in the direction that never worsens the deal.
            price = round_to_tick(price, "down" if request.side == "buy" else "up", tick=request.tick_size)
    elif ord_type == "price":
        if request.side != "buy":
            raise reject("ord_type 'price' (market buy by total) is for buys only; sell with ord_type 'market'")
        if price is None or volume is not None:
            raise reject("a market buy ('price') takes the total to spend as price and no volume")
    elif ord_type == "market":
        if request.side != "sell":
            raise reject("ord_type 'market' (market sell by volume) is for sells only; buy with ord_type 'price'")
        if volume is None or price is not None:
            raise reject("a market sell ('market') takes a volume and no price")
    elif ord_type == "best":
        if tif not in ("ioc", "fok"):
            raise reject("a 'best' order needs time_in_force ioc or fok")
        if request.side == "buy" and (price is None or volume is not None):
            raise reject("a 'best' buy takes the total to spend as price and no volume")
        if request.side == "sell" and (volume is None or price is not None):
            raise reject("a 'best' sell takes a volume and no price")
    else:
        raise reject(f"ord_type must be limit, price, market or best, not {ord_type!r}")
    if tif == "post_only" and ord_type != "limit":
        raise reject("post_only is only for limit orders")
    if tif in ("ioc", "fok") and ord_type not in ("limit", "best"):
        raise reject(f"{tif} is only for limit and best orders")
    if volume is not None:
        volume = quantize_volume(volume)
        if volume <= 0:
            raise reject(f"volume {request.volume} is below the smallest tradable amount (0.00000001)")

    body = {"market": request.market, "side": _SIDE_TO_WIRE[request.side]}
    if volume is not None:
        body["volume"] = format_decimal(volume)
    if price is not None:
        body["price"] = format_decimal(price)
    body["ord_type"] = ord_type
    body["identifier"] = request.identifier
    if tif is not None:
        body["time_in_force"] = tif
    return body
