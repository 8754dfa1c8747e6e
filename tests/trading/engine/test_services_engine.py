from __future__ import annotations

import pytest

from trading import services
from trading.models import EngineEvent, StrategyConfig


@pytest.mark.django_db
def test_strategy_config_update_validates_stores_and_records_the_change():
    config = services.strategy_config_update(strategy="sma_cross", params={"fast": "3", "slow": 30}, actor="user:alice")

    assert config.params["fast"] == 3
    assert config.params["slow"] == 30
    assert config.updated_by == "user:alice"
    event = EngineEvent.objects.get(kind="config_changed")
    assert event.actor == "user:alice"
    assert event.meta["new"]["fast"] == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("strategy", "params", "field"),
    [("sma_cross", {"fast": 30, "slow": 10}, "params"), ("nope", {}, "strategy"), ("macd", {"fast": "x"}, "params")],
)
def test_strategy_config_update_refuses_bad_input_and_keeps_the_old_values(strategy, params, field):
    StrategyConfig.objects.create(strategy="sma_cross", params={"fast": 5, "slow": 20})
    with pytest.raises(services.InvalidInput) as error:
        services.strategy_config_update(strategy=strategy, params=params, actor="user:alice")
    assert error.value.field == field
    assert StrategyConfig.objects.get(strategy="sma_cross").params == {"fast": 5, "slow": 20}
    assert not EngineEvent.objects.filter(kind="config_changed").exists()


@pytest.mark.django_db
def test_claim_heartbeat_and_release():
    assert services.engine_claim(owner="host:1").claimed
    assert services.engine_heartbeat(owner="host:1", metrics={"cycles_total": 1})
    assert not services.engine_claim(owner="host:2").claimed
    assert not services.engine_heartbeat(owner="host:2")
    assert services.engine_release(owner="host:1")
    assert services.engine_claim(owner="host:2").claimed
