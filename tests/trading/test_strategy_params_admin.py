"""The admin's strategy parameter page: a field per parameter (current, default, range, help), the strategy's own
validation and sentences, every registered strategy listed with the engine's one marked, changes recorded."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from tests.factories import StrategyConfigFactory
from trading.models import EngineEvent, EngineState, StrategyConfig
from trading.param_fields import param_text, range_text
from trading.strategies import registry
from trading.strategies.params import InvalidParams

pytestmark = pytest.mark.django_db


def change_url(config: StrategyConfig) -> str:
    return reverse("admin:trading_strategyconfig_change", args=[config.pk])


@pytest.mark.parametrize("strategy", list(registry.STRATEGIES))
def test_every_strategy_gets_a_field_per_parameter_with_its_default_range_and_help(admin_client, strategy):
    page = html.unescape(admin_client.get(reverse("admin:trading_strategyconfig_add"), {"strategy": strategy}).content.decode())
    assert f'name="strategy" value="{strategy}"' in page
    for spec in registry.get_strategy(strategy).all_param_specs:
        assert f'name="param_{spec.name}"' in page
        assert spec.help in page
        assert range_text(spec) in page
        assert f"Default: {param_text(spec.default) or 'off'}" in page
    assert "json-editor" not in page
    assert ">null<" not in page


@pytest.mark.parametrize("strategy", list(registry.STRATEGIES))
def test_every_strategy_saves_its_defaults_through_the_service(admin_client, strategy):
    response = admin_client.post(reverse("admin:trading_strategyconfig_add") + f"?strategy={strategy}", {"strategy": strategy})
    assert response.status_code == 302, response.content.decode()[:3000]
    config = StrategyConfig.objects.get(strategy=strategy)
    assert registry.validate_params(strategy, config.params) == registry.validate_params(strategy, {})
    assert set(config.params) == {spec.name for spec in registry.get_strategy(strategy).all_param_specs}
    assert EngineEvent.objects.filter(kind="config_changed", meta__what=f"strategy {strategy} parameters").exists()


def test_the_change_page_shows_the_current_values_and_saves_a_change(admin_client):
    config = StrategyConfigFactory(strategy="macd", params={"fast": 10, "slow": 30, "signal": 9, "stop_loss_pct": "2.5"})
    page = admin_client.get(change_url(config)).content.decode()
    assert 'name="param_fast" value="10"' in page
    assert 'name="param_stop_loss_pct" value="2.5"' in page
    assert 'name="param_take_profit_pct" value=""' in page or 'name="param_take_profit_pct" inputmode' in page  # off
    response = admin_client.post(
        change_url(config), {"param_fast": "8", "param_slow": "30", "param_signal": "9", "param_candle_unit": "60"}
    )
    assert response.status_code == 302
    config.refresh_from_db()
    assert (config.params["fast"], config.params["stop_loss_pct"]) == (8, None)  # emptied: off
    event = EngineEvent.objects.get(kind="config_changed")
    assert (event.meta["old"]["fast"], event.meta["new"]["fast"]) == (10, 8)
    assert event.actor.startswith("admin:")


@pytest.mark.parametrize(
    ("typed", "field"),
    [
        ({"param_fast": "30", "param_slow": "20"}, "param_fast"),
        ({"param_fast": "twelve"}, "param_fast"),
        ({"param_signal": "0"}, "param_signal"),
        ({"param_stop_loss_pct": "100"}, "param_stop_loss_pct"),
        ({"param_atr_period": "1.5"}, "param_atr_period"),
    ],
)
def test_bad_values_are_refused_with_the_engines_own_sentence_next_to_the_field(admin_client, typed, field):
    config = StrategyConfigFactory(strategy="macd", params={"fast": 12, "slow": 26, "signal": 9})
    response = admin_client.post(change_url(config), {"param_candle_unit": "60", **typed})
    assert response.status_code == 200
    raw = {name.removeprefix("param_"): value for name, value in typed.items()}
    with pytest.raises(InvalidParams) as expected:
        registry.validate_params("macd", {"candle_unit": 60, **raw})
    assert response.context["adminform"].form.errors[field] == [str(expected.value)]
    config.refresh_from_db()
    assert config.params == {"fast": 12, "slow": 26, "signal": 9}
    assert not EngineEvent.objects.filter(kind="config_changed").exists()


def test_the_list_names_every_strategy_and_marks_the_engines_one(admin_client, settings):
    settings.STRATEGY = "macd"
    StrategyConfigFactory(strategy="sma_cross", params={"fast": 5, "slow": 20})
    EngineState.objects.filter(pk=EngineState.load().pk).update(state=EngineState.State.RUNNING)
    page = html.unescape(admin_client.get(reverse("admin:trading_strategyconfig_changelist")).content.decode())
    for name in registry.STRATEGIES:
        assert name in page
    assert "fast=5, slow=20" in page  # the stored row, its parameters readable
    assert "Strategies on their default parameters" in page
    assert "▶ running" in page
    assert f"{reverse('admin:trading_strategyconfig_add')}?strategy=macd" in page
    assert StrategyConfig.objects.count() == 1  # looking at the list writes nothing


def test_every_strategy_title_and_parameter_help_can_be_translated():
    from trading.param_fields import STRATEGY_TEXTS

    for strategy in registry.STRATEGIES.values():
        assert strategy.title in STRATEGY_TEXTS
        for spec in strategy.all_param_specs:
            assert spec.help in STRATEGY_TEXTS, f"add {spec.help!r} to trading/param_fields.py STRATEGY_TEXTS"
