"""Every factory builds a row the database accepts (constraints included)."""

from __future__ import annotations

import pytest

from tests import factories


@pytest.mark.django_db
@pytest.mark.parametrize(
    "factory",
    [
        factories.EngineEventFactory,
        factories.SignalFactory,
        factories.OrderFactory,
        factories.FillFactory,
        factories.BalanceSnapshotFactory,
        factories.PnlDailyFactory,
        factories.ManualOrderRequestFactory,
        factories.StrategyConfigFactory,
        factories.CandleFactory,
        factories.BacktestRunFactory,
    ],
)
def test_factory_creates_a_valid_row(factory):
    row = factory()
    row.full_clean()
    assert type(row).objects.filter(pk=row.pk).exists()
