"""quick_init: the same frozen objects as the dataclass makes, made faster; unsupported classes refused."""

from __future__ import annotations

import pickle
from dataclasses import FrozenInstanceError, dataclass, field
from decimal import Decimal

import pytest

from exchange.frozen import quick_init
from exchange.matching import BuyFill, LevelFill
from exchange.types import OrderBookLevel, OrderRequest


@quick_init
@dataclass(frozen=True, slots=True)
class Quick:
    side: str
    price: Decimal
    volume: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Plain:
    side: str
    price: Decimal
    volume: Decimal | None = None


def test_objects_compare_hash_print_and_pickle_like_the_dataclass_s_own() -> None:
    quick = Quick("buy", Decimal("100"))
    assert quick.volume is None
    assert quick == Quick(side="buy", price=Decimal("100"), volume=None)
    assert hash(quick) == hash(Quick("buy", Decimal("100"), None))
    assert repr(quick) == repr(Plain("buy", Decimal("100"))).replace("Plain", "Quick")
    assert pickle.loads(pickle.dumps(quick)) == quick  # noqa: S301 - our own bytes
    assert Quick("buy", Decimal("1"), Decimal("2")).volume == Decimal("2")


def test_they_stay_frozen() -> None:
    quick = Quick("buy", Decimal("100"))
    with pytest.raises(FrozenInstanceError):
        quick.side = "sell"  # type: ignore[misc]


def test_arguments_are_checked_as_the_dataclass_checks_them() -> None:
    with pytest.raises(TypeError, match="price"):
        Quick("buy")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword"):
        Quick("buy", Decimal("1"), size=Decimal("1"))  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Quick("buy", Decimal("1"), None, 4)  # type: ignore[call-arg]


def test_the_exchange_s_hot_classes_use_it_and_keep_their_fields() -> None:
    level = OrderBookLevel(Decimal("100"), Decimal("2"), Decimal("99"), Decimal("3"))
    assert (level.ask_price, level.ask_size, level.bid_price, level.bid_size) == (100, 2, 99, 3)
    request = OrderRequest("KRW-BTC", "sell", "market", "x", volume=Decimal("1"))
    assert request.price is None
    assert request.time_in_force is None
    assert request.volume == 1
    fill = LevelFill(Decimal("1"), Decimal("2"), Decimal("2"), Decimal("0.001"))
    zero = Decimal("0")
    buy = BuyFill(Decimal("2"), (fill,), Decimal("2"), Decimal("2"), zero, zero, zero, zero, "done")
    assert buy.fills == (fill,)
    assert buy.state == "done"


def test_unsupported_classes_are_refused_when_defined() -> None:
    with pytest.raises(TypeError, match="frozen dataclass with slots"):

        @quick_init
        @dataclass(frozen=True)
        class NoSlots:
            a: int

    with pytest.raises(TypeError, match="frozen dataclass with slots"):

        @quick_init
        @dataclass(slots=True)
        class NotFrozen:
            a: int

    with pytest.raises(TypeError, match="plain fields"):

        @quick_init
        @dataclass(frozen=True, slots=True)
        class WithFactory:
            a: list[int] = field(default_factory=list)

    with pytest.raises(TypeError, match="__post_init__"):

        @quick_init
        @dataclass(frozen=True, slots=True)
        class WithPostInit:
            a: int

            def __post_init__(self) -> None:
                pass
