"""Orders on the sandbox follow Upbit's rules: locks, fees, dust, states, rejections, lookups, cancels.

Expected amounts are worked out here from the order book the sandbox shows and Upbit's published
rules (fee 0.05 %, 8 decimals, fee reserved on top of a bid), not read back from the sandbox.
"""

from __future__ import annotations

import json
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

import pytest
import requests

FEE = Decimal("0.0005")
Q8 = Decimal("0.00000001")


def fee(funds: Decimal) -> Decimal:
    return (funds * FEE).quantize(Q8, rounding=ROUND_HALF_UP)


def floor8(value: Decimal) -> Decimal:
    return value.quantize(Q8, rounding=ROUND_FLOOR)


def D(text: str) -> Decimal:
    return Decimal(text)


def place(sandbox, **body):
    body = {key: value for key, value in body.items() if value is not None}
    return sandbox.call("POST", "/v1/orders", body={"market": "KRW-BTC", **body})


def balances(sandbox) -> dict[str, dict[str, Decimal]]:
    rows = sandbox.call("GET", "/v1/accounts").json()
    return {row["currency"]: {k: D(row[k]) for k in ("balance", "locked", "avg_buy_price")} for row in rows}


def book(sandbox):
    return json.loads(sandbox.public("/v1/orderbook", markets="KRW-BTC").text, parse_float=Decimal)[0]["orderbook_units"]


def error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["name"]


# --- market buy and sell -------------------------------------------------------------------------------------


def test_market_buy_reproduces_upbits_published_example(sandbox):
    # Upbit's GET /v1/order example: 6000 KRW at 160,594,000 → 0.00003736 BTC, funds 5999.79184,
    # paid fee 2.99989592, remaining fee 0.00010408, locked (returned) 0.20826408, state cancel.
    sandbox.set_price("160593000")  # best bid 160,593,000, best ask 160,594,000
    assert book(sandbox)[0]["ask_price"] == D("160594000")

    response = place(sandbox, side="bid", ord_type="price", price="6000")
    order = sandbox.call("GET", "/v1/order", params={"uuid": response.json()["uuid"]}).json()

    assert response.status_code == 201
    assert order["state"] == "cancel"
    assert "volume" not in order
    assert "remaining_volume" not in order
    assert order["executed_volume"] == "0.00003736"
    assert order["reserved_fee"] == "3"
    assert order["paid_fee"] == "2.99989592"
    assert order["remaining_fee"] == "0.00010408"
    assert order["locked"] == "0.20826408"
    assert order["trades_count"] == 1
    assert order["trades"][0]["funds"] == "5999.79184"
    assert order["trades"][0]["trend"] == "up"
    account = balances(sandbox)
    assert account["KRW"]["balance"] == D("1000000") - D("5999.79184") - D("2.99989592")
    assert account["BTC"]["balance"] == D("0.00003736")
    assert account["BTC"]["avg_buy_price"] == D("160594000")


def test_market_buy_walks_the_book_when_the_first_level_is_too_small(sandbox):
    sandbox.set_price("100000000")
    sandbox.set_balance("KRW", "200000000")
    levels = book(sandbox)
    total = (levels[0]["ask_price"] * levels[0]["ask_size"] + Decimal("5000000")).quantize(Decimal(1))

    order = place(sandbox, side="bid", ord_type="price", price=str(total)).json()
    trades = sandbox.call("GET", "/v1/order", params={"uuid": order["uuid"]}).json()["trades"]

    first_volume = levels[0]["ask_size"]
    first_funds = levels[0]["ask_price"] * first_volume
    second_volume = floor8((total - first_funds) / levels[1]["ask_price"])
    assert [D(t["price"]) for t in trades] == [levels[0]["ask_price"], levels[1]["ask_price"]]
    assert [D(t["volume"]) for t in trades] == [first_volume, second_volume]
    assert D(order["executed_volume"]) == first_volume + second_volume
    funds = first_funds + levels[1]["ask_price"] * second_volume
    assert D(order["paid_fee"]) == fee(funds)
    assert D(order["locked"]) == (total - funds) + (fee(total) - fee(funds))


def test_market_sell_is_done_without_price_and_pays_fee_from_proceeds(sandbox):
    sandbox.set_price("100000000")
    sandbox.set_balance("BTC", "0.002", avg_buy_price="90000000")

    order = place(sandbox, side="ask", ord_type="market", volume="0.001").json()

    assert order["state"] == "done"
    assert "price" not in order
    assert order["executed_volume"] == "0.001"
    assert order["remaining_volume"] == "0"
    assert order["paid_fee"] == "50"
    account = balances(sandbox)
    assert account["KRW"]["balance"] == D("1000000") + D("100000") - D("50")
    assert account["BTC"]["balance"] == D("0.001")
    assert account["BTC"]["avg_buy_price"] == D("90000000")


def test_buying_all_krw_needs_room_for_the_fee(sandbox):
    sandbox.set_price("100000000")

    too_much = place(sandbox, side="bid", ord_type="price", price="999600")
    fits = place(sandbox, side="bid", ord_type="price", price="999500")  # 999500 + 499.75 ≤ 1,000,000

    assert error(too_much) == (400, "insufficient_funds_bid")
    assert fits.status_code == 201


# --- limit orders ---------------------------------------------------------------------------------------------


def test_limit_bid_locks_total_plus_fee_and_fills_when_price_reaches_it(sandbox):
    sandbox.set_price("100000000")

    order = place(sandbox, side="bid", ord_type="limit", price="99000000", volume="0.001", identifier="bid-1").json()
    locked = balances(sandbox)["KRW"]

    assert order["state"] == "wait"
    assert order["reserved_fee"] == "49.5"
    assert order["locked"] == "99049.5"
    assert locked["locked"] == D("99049.5")
    assert locked["balance"] == D("900950.5")

    sandbox.set_price("98900000")
    filled = sandbox.call("GET", "/v1/order", params={"identifier": "bid-1"}).json()
    after = balances(sandbox)

    assert filled["state"] == "done"
    assert filled["paid_fee"] == "49.5"
    assert filled["remaining_fee"] == "0"
    assert filled["trades"][0]["price"] == "99000000"
    assert filled["trades"][0]["volume"] == "0.001"
    assert after["KRW"] == {"balance": D("900950.5"), "locked": D("0"), "avg_buy_price": D("0")}
    assert after["BTC"]["balance"] == D("0.001")
    assert after["BTC"]["avg_buy_price"] == D("99000000")


def test_limit_ask_locks_volume_and_fills_when_price_rises_to_it(sandbox):
    sandbox.set_price("100000000")
    sandbox.set_balance("BTC", "0.01")

    order = place(sandbox, side="ask", ord_type="limit", price="101000000", volume="0.005").json()
    held = balances(sandbox)["BTC"]
    sandbox.set_price("101000000")
    done = sandbox.call("GET", "/v1/order", params={"uuid": order["uuid"]}).json()
    after = balances(sandbox)

    assert order["state"] == "wait"
    assert held["locked"] == D("0.005")
    assert held["balance"] == D("0.005")
    assert done["state"] == "done"
    assert done["paid_fee"] == "252.5"
    assert after["KRW"]["balance"] == D("1000000") + D("505000") - D("252.5")
    assert after["BTC"] == {"balance": D("0.005"), "locked": D("0"), "avg_buy_price": D("0")}


def test_marketable_limit_bid_fills_at_the_better_ask_and_releases_the_difference(sandbox):
    sandbox.set_price("100000000")
    ask = book(sandbox)[0]["ask_price"]  # 100,001,000

    order = place(sandbox, side="bid", ord_type="limit", price="100005000", volume="0.0001").json()

    funds = ask * D("0.0001")
    assert order["state"] == "done"
    assert D(order["executed_funds"]) == funds
    assert D(order["paid_fee"]) == fee(funds)
    assert balances(sandbox)["KRW"] == {"balance": D("1000000") - funds - fee(funds), "locked": D("0"), "avg_buy_price": D("0")}


def test_ioc_fills_what_crosses_and_cancels_the_rest(sandbox):
    sandbox.set_price("100000000")
    sandbox.set_balance("KRW", "900000000")
    first = book(sandbox)[0]

    order = place(
        sandbox,
        side="bid",
        ord_type="limit",
        price=str(first["ask_price"]),
        volume=str(first["ask_size"] + 1),
        time_in_force="ioc",
    ).json()

    assert order["state"] == "cancel"
    assert D(order["executed_volume"]) == first["ask_size"]
    assert balances(sandbox)["KRW"]["locked"] == 0


def test_post_only_that_would_take_is_cancelled_unfilled(sandbox):
    sandbox.set_price("100000000")

    order = place(sandbox, side="bid", ord_type="limit", price="100001000", volume="0.0001", time_in_force="post_only").json()

    assert order["state"] == "cancel"
    assert order["executed_volume"] == "0"
    assert balances(sandbox)["KRW"] == {"balance": D("1000000"), "locked": D("0"), "avg_buy_price": D("0")}


# --- rejections -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"side": "bid", "ord_type": "price", "price": "4999"}, "under_min_total_bid"),
        ({"side": "bid", "ord_type": "limit", "price": "100000000", "volume": "0.00004"}, "under_min_total_bid"),
        ({"side": "bid", "ord_type": "limit", "price": "100000500", "volume": "0.001"}, "invalid_price_bid"),
        ({"side": "ask", "ord_type": "limit", "price": "100000001", "volume": "0.001"}, "invalid_price_ask"),
        ({"side": "ask", "ord_type": "market", "volume": "0.1"}, "insufficient_funds_ask"),
        ({"side": "bid", "ord_type": "limit", "price": "100000000", "volume": "0.1"}, "insufficient_funds_bid"),
        ({"side": "bid", "ord_type": "price", "price": "10000", "volume": "0.1"}, "create_bid_error"),
        ({"side": "ask", "ord_type": "market", "volume": "0.1", "price": "100000000"}, "create_ask_error"),
        ({"side": "ask", "ord_type": "price", "price": "10000"}, "create_ask_error"),
        ({"side": "bid", "ord_type": "limit", "volume": "0.1"}, "validation_error"),
        ({"side": "sideways", "ord_type": "limit", "price": "100000000", "volume": "0.001"}, "validation_error"),
        ({"side": "bid", "ord_type": "limit", "price": "abc", "volume": "0.001"}, "validation_error"),
        ({"side": "bid", "ord_type": "limit", "price": "1e400", "volume": "0.001"}, "validation_error"),
        (
            {"side": "ask", "ord_type": "limit", "price": "100000000", "volume": "99999999999999999999999999999"},
            "validation_error",
        ),
        (
            {
                "side": "bid",
                "ord_type": "limit",
                "price": "100000000",
                "volume": "0.001",
                "time_in_force": "post_only",
                "smp_type": "reduce",
            },
            "invalid_post_only",
        ),
        (
            {"side": "bid", "ord_type": "limit", "price": "100000000", "volume": "0.001", "time_in_force": "gtc"},
            "invalid_time_in_force",
        ),
        ({"market": "KRW-NOPE", "side": "bid", "ord_type": "price", "price": "10000"}, "notfoundmarket"),
    ],
)
def test_upbit_rejections_are_400_with_upbits_names_and_change_nothing(sandbox, body, expected):
    sandbox.set_price("100000000")

    response = place(sandbox, **body)

    assert error(response) == (400, expected)
    assert balances(sandbox) == {"KRW": {"balance": D("1000000"), "locked": D("0"), "avg_buy_price": D("0")}}
    assert sandbox.state()["orders"] == []


def test_over_max_total_is_over_krw_funds(sandbox):
    sandbox.set_price("100000000")
    sandbox.set_balance("KRW", "5000000000")

    response = place(sandbox, side="bid", ord_type="limit", price="100000000", volume="10.1")

    assert error(response) == (400, "over_krw_funds_bid")


def test_identifier_is_unique_forever_even_after_a_rejection(sandbox):
    sandbox.set_price("100000000")
    first = place(sandbox, side="bid", ord_type="price", price="10000", identifier="id-1")
    again = place(sandbox, side="bid", ord_type="price", price="10000", identifier="id-1")
    refused = place(sandbox, side="bid", ord_type="price", price="100", identifier="id-2")
    reuse_of_refused = place(sandbox, side="bid", ord_type="price", price="10000", identifier="id-2")

    assert first.status_code == 201
    assert error(again) == (400, "duplicated_identifier")
    assert error(refused) == (400, "under_min_total_bid")
    assert error(reuse_of_refused) == (400, "duplicated_identifier")
    assert len(sandbox.state()["orders"]) == 1


# --- lookups and cancels -------------------------------------------------------------------------------------------


def test_cancel_returns_the_wait_snapshot_then_the_order_is_cancelled_and_funds_return(sandbox):
    sandbox.set_price("100000000")
    order = place(sandbox, side="bid", ord_type="limit", price="90000000", volume="0.001").json()

    cancelled = sandbox.call("DELETE", "/v1/order", params={"uuid": order["uuid"]})
    after = sandbox.call("GET", "/v1/order", params={"uuid": order["uuid"]}).json()
    twice = sandbox.call("DELETE", "/v1/order", params={"uuid": order["uuid"]})

    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "wait"
    assert after["state"] == "cancel"
    assert balances(sandbox)["KRW"] == {"balance": D("1000000"), "locked": D("0"), "avg_buy_price": D("0")}
    assert error(twice) == (404, "order_not_found")


def test_cancel_with_a_body_is_refused_like_upbit(sandbox):
    sandbox.set_price("100000000")
    order = place(sandbox, side="bid", ord_type="limit", price="90000000", volume="0.001").json()
    headers = sandbox.token(f"uuid={order['uuid']}")

    response = requests.delete(f"{sandbox.base_url}/v1/order", json={"uuid": order["uuid"]}, headers=headers, timeout=5)

    assert error(response) == (400, "QUERY_PARAMETER_NOT_SUPPORTED")
    assert sandbox.call("GET", "/v1/order", params={"uuid": order["uuid"]}).json()["state"] == "wait"


def test_malformed_requests_are_400_never_a_server_error(sandbox):
    nested = b"[" * 100_000
    headers = {**sandbox.token(""), "Content-Type": "application/json"}

    far_future = sandbox.call("GET", "/v1/orders/closed", params={"start_time": "99999999999999999999"})
    deep = requests.post(f"{sandbox.base_url}/v1/orders", data=nested, headers=headers, timeout=5)

    assert error(far_future) == (400, "validation_error")
    assert error(deep) == (400, "invalid_parameter")
    assert sandbox.state()["orders"] == []


def test_unknown_order_is_404_order_not_found(sandbox):
    response = sandbox.call("GET", "/v1/order", params={"identifier": "never-used"})

    assert error(response) == (404, "order_not_found")


def test_created_at_is_kst_and_numbers_are_strings(sandbox):
    sandbox.set_price("100000000")
    order = place(sandbox, side="bid", ord_type="limit", price="90000000", volume="0.001").json()

    assert order["created_at"].endswith("+09:00")
    assert isinstance(order["trades_count"], int)
    assert all(isinstance(order[k], str) for k in ("price", "volume", "locked", "reserved_fee", "executed_volume"))


def test_order_lists_open_closed_uuids_and_legacy(sandbox):
    sandbox.set_price("100000000")
    resting = place(sandbox, side="bid", ord_type="limit", price="90000000", volume="0.001", identifier="rest").json()
    bought = place(sandbox, side="bid", ord_type="price", price="10000", identifier="buy").json()

    open_orders = sandbox.call("GET", "/v1/orders/open", params={"market": "KRW-BTC"}).json()
    closed = sandbox.call("GET", "/v1/orders/closed", params={"market": "KRW-BTC"}).json()
    by_ids = sandbox.call("GET", "/v1/orders/uuids", params=[("identifiers[]", "rest"), ("identifiers[]", "buy")]).json()
    legacy_wait = sandbox.call("GET", "/v1/orders", params={"market": "KRW-BTC", "state": "wait"}).json()
    legacy_mixed = sandbox.call("GET", "/v1/orders", params=[("states[]", "wait"), ("states[]", "done")])

    assert [o["uuid"] for o in open_orders] == [resting["uuid"]]
    assert [o["uuid"] for o in closed] == [bought["uuid"]]
    assert {o["uuid"] for o in by_ids} == {resting["uuid"], bought["uuid"]}
    assert [o["uuid"] for o in legacy_wait] == [resting["uuid"]]
    assert "executed_funds" in open_orders[0]
    assert error(legacy_mixed) == (400, "validation_error")


def test_chance_shows_fees_limits_and_accounts(sandbox):
    chance = sandbox.call("GET", "/v1/orders/chance", params={"market": "KRW-BTC"}).json()
    unknown = sandbox.call("GET", "/v1/orders/chance", params={"market": "KRW-NOPE"})

    assert chance["bid_fee"] == "0.0005"
    assert chance["ask_fee"] == "0.0005"
    assert chance["market"]["bid"] == {"currency": "KRW", "min_total": "5000"}
    assert chance["market"]["max_total"] == "1000000000"
    assert chance["bid_account"]["balance"] == "1000000"
    assert error(unknown) == (400, "notfoundmarket")


def test_test_order_is_checked_but_not_placed(sandbox):
    sandbox.set_price("100000000")

    ok = sandbox.call("POST", "/v1/orders/test", body={"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "10000"})
    bad = sandbox.call("POST", "/v1/orders/test", body={"market": "KRW-BTC", "side": "bid", "ord_type": "price", "price": "10"})

    assert ok.status_code == 201
    assert error(bad) == (400, "under_min_total_bid")
    assert sandbox.state()["orders"] == []
    assert balances(sandbox)["KRW"]["balance"] == D("1000000")
