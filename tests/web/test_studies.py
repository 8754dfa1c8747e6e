"""The parameter searches on the console: the study page, its chart, the admin tables, and applying the best parameters."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import OptimizationStudyFactory, OptimizationTrialFactory, StrategyConfigFactory, UserFactory
from trading.models import EngineEvent, StrategyConfig

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    study = OptimizationStudyFactory(name="macd-search")
    OptimizationTrialFactory(study=study, number=3, value=1.25, test_value=0.9, params={"fast": 8})
    OptimizationTrialFactory(study=study, number=5, value=1.1, test_value=-0.2, collapsed=True, params={"fast": 6})
    OptimizationTrialFactory(study=study, number=7, state="PRUNED", value=None, test_value=None, params={"fast": 19})
    return study


def client_in(*groups: str) -> Client:
    client = Client()
    client.force_login(UserFactory(username="-".join(groups) or "nobody", groups=list(groups)))
    return client


def test_the_study_page_shows_best_parameters_train_vs_test_chart_and_importance(study):
    page = client_in("Viewers").get(reverse("study_detail", args=[study.pk])).content.decode()
    assert "fast=8" in page
    assert page.index("#3") < page.index("#5")  # best first
    assert "#7" not in page  # an invalid combination is no best trial
    assert "collapses" in page
    assert reverse("study_chart", args=[study.pk]) in page
    assert "Parameter importance" in page
    assert "Apply to the live macd strategy" not in page  # a viewer may not apply
    chart = client_in("Viewers").get(reverse("study_chart", args=[study.pk]))
    assert chart["Content-Type"] == "image/svg+xml"
    assert chart.content.decode() == study.chart_svg
    listing = client_in("Viewers").get(reverse("studies")).content.decode()
    assert "macd-search" in listing


def test_applying_the_best_parameters_writes_the_strategy_through_its_service_and_records_who(study):
    StrategyConfigFactory(strategy="macd", params={"fast": 12, "slow": 26, "signal": 9})
    client = client_in("Operators")
    assert "Apply to the live macd strategy" in client.get(reverse("study_detail", args=[study.pk])).content.decode()
    response = client.post(reverse("study_apply", args=[study.pk]), follow=True)
    assert "now drive macd" in response.content.decode()
    params = StrategyConfig.objects.get(strategy="macd").params
    assert (params["fast"], params["slow"], params["signal"]) == (8, 40, 9)
    events = list(EngineEvent.objects.filter(kind="config_changed").order_by("id"))
    assert [event.actor for event in events] == ["user:Operators", "user:Operators"]
    assert events[0].meta["old"]["fast"] == 12
    assert events[1].meta["study"] == "macd-search"
    assert events[1].meta["trial"] == 3


def test_applying_is_refused_without_the_permission_and_changes_nothing(study):
    StrategyConfigFactory(strategy="macd", params={"fast": 12, "slow": 26, "signal": 9})
    response = client_in("Viewers").post(reverse("study_apply", args=[study.pk]))
    assert response.status_code == 403
    assert "trading.change_strategyconfig" in response.content.decode()
    assert StrategyConfig.objects.get(strategy="macd").params["fast"] == 12
    assert not EngineEvent.objects.exists()


def test_a_study_without_a_finished_trial_has_nothing_to_apply():
    study = OptimizationStudyFactory(best_params={}, best_trial_number=None, best_value=None)
    response = client_in("Operators").post(reverse("study_apply", args=[study.pk]), follow=True)
    assert "has no finished trial to apply" in response.content.decode()
    assert not StrategyConfig.objects.exists()
    assert not EngineEvent.objects.exists()


def test_parameters_the_strategy_refuses_are_not_applied(study):
    study.best_params = {"fast": 50, "slow": 40, "signal": 9}
    study.save()
    response = client_in("Operators").post(reverse("study_apply", args=[study.pk]), follow=True)
    assert "must be less than slow" in response.content.decode()
    assert not StrategyConfig.objects.exists()
    assert not EngineEvent.objects.exists()


def test_the_admin_tables_are_read_only_and_export_as_csv(study, admin_client):
    for model in ("optimizationstudy", "optimizationtrial"):
        assert admin_client.get(reverse(f"admin:trading_{model}_changelist")).status_code == 200
        assert admin_client.get(reverse(f"admin:trading_{model}_add")).status_code == 403
    change = admin_client.get(reverse("admin:trading_optimizationstudy_change", args=[study.pk])).content.decode()
    assert 'name="_save"' not in change
    assert reverse("study_detail", args=[study.pk]) in change
    export = admin_client.get(reverse("admin:trading_optimizationtrial_export", args=["csv"]))
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert sorted(row["number"] for row in rows) == ["3", "5", "7"]
    assert {row["study_name"] for row in rows} == {"macd-search"}
    studies = admin_client.get(reverse("admin:trading_optimizationstudy_export", args=["csv"]))
    header = b"".join(studies.streaming_content).decode().splitlines()[0]
    assert "best_params" in header
    assert "chart_svg" not in header
