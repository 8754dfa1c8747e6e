"""The permission rules beyond the matrix: the API token's user, what a refusal says, what the dashboard and
the admin show to someone who may only look, and the groups' migration."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.urls import reverse

from tests.autocoin.test_settings import load_settings, refused
from tests.factories import UserFactory
from tests.web.conftest import API_TOKEN, API_USER
from trading.models import EngineState, ManualOrderRequest

pytestmark = pytest.mark.django_db

TOKEN = {"Authorization": f"Bearer {API_TOKEN}"}


def viewer_client() -> Client:
    client = Client()
    client.force_login(UserFactory(username="viewer", groups=["Viewers"]))
    return client


# ---------------------------------------------------------------------------------------------------
# The API token acts as AUTOCOIN_API_USER
# ---------------------------------------------------------------------------------------------------
def test_token_without_its_user_is_refused_with_the_reason():
    response = Client(headers=TOKEN).get("/api/engine/status")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "api_user_unavailable"
    assert f"AUTOCOIN_API_USER={API_USER!r}" in error["message"]
    assert "no such user exists" in error["message"]


def test_token_whose_user_is_inactive_is_refused_and_changes_nothing():
    UserFactory(username=API_USER, groups=["Operators"], is_active=False)
    response = Client(headers=TOKEN).post("/api/orders/manual", {"side": "buy", "krw": "10000"}, content_type="application/json")
    assert response.status_code == 403
    assert "inactive" in response.json()["error"]["message"]
    assert not ManualOrderRequest.objects.exists()


def test_token_has_exactly_its_users_permissions():
    UserFactory(username=API_USER, is_staff=False, groups=["Viewers"])
    client = Client(headers=TOKEN)
    assert client.get("/api/engine/status").status_code == 200
    response = client.post("/api/engine/start", "", content_type="application/json")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["permission"] == "trading.control_engine"
    assert "AUTOCOIN_API_USER" in error["message"]
    assert "Operators" in error["message"]
    assert EngineState.load().state == EngineState.State.IDLE


def test_metrics_with_the_token_need_a_user_who_may_view():
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    assert Client(headers=TOKEN, **remote).get("/metrics").status_code == 403  # no such user yet
    user = UserFactory(username=API_USER, is_staff=False)
    denied = Client(headers=TOKEN, **remote).get("/metrics")
    assert denied.status_code == 403
    assert "trading.view_dashboard" in denied.content.decode()
    user.groups.add(Group.objects.get(name="Viewers"))
    assert Client(headers=TOKEN, **remote).get("/metrics").status_code == 200


def test_a_token_needs_a_user_setting(monkeypatch, capsys):
    error = refused(monkeypatch, capsys, AUTOCOIN_API_TOKEN="t" * 20, AUTOCOIN_API_USER="")
    assert "AUTOCOIN_API_TOKEN is set but AUTOCOIN_API_USER is not" in error
    assert "t" * 20 not in error
    assert load_settings(monkeypatch, AUTOCOIN_API_TOKEN="t" * 20, AUTOCOIN_API_USER="api")["AUTOCOIN_API_USER"] == "api"


# ---------------------------------------------------------------------------------------------------
# Refusals say which permission is missing
# ---------------------------------------------------------------------------------------------------
def test_htmx_refusal_is_one_sentence_naming_the_permission():
    response = viewer_client().post(reverse("engine_action", args=["start"]), headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert response["X-Missing-Permission"] == "trading.control_engine"
    body = response.content.decode().strip()
    assert body.startswith('<p class="problem" role="alert"')
    assert body.endswith("</p>")
    assert "Signed in as viewer, who may not start, stop and reset the engine" in body
    assert "Operators group" in body


def test_page_refusal_is_a_page_with_a_way_out():
    client = Client()
    client.force_login(UserFactory(username="nobody"))
    response = client.get("/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "may not view the dashboard and the read-only API" in body
    assert "Viewers group" in body
    assert reverse("admin:logout") in body


def test_refusal_speaks_korean():
    client = viewer_client()
    client.cookies["django_language"] = "ko"
    response = client.post(reverse("manual_order"), headers={"HX-Request": "true", "Accept-Language": "ko"})
    assert response.status_code == 403
    assert "trading.place_manual_order" in response.content.decode()
    assert "Operators" in response.content.decode()
    assert "viewer(으)로 로그인되어 있지만 수동 주문을 넣을 권한이 없습니다" in response.content.decode()


# ---------------------------------------------------------------------------------------------------
# Controls are shown only to those who may use them
# ---------------------------------------------------------------------------------------------------
def test_dashboard_hides_controls_from_a_viewer(operator):
    page = viewer_client().get("/").content.decode()
    assert reverse("engine_action", args=["start"]) not in page
    assert reverse("manual_order") not in page
    panel = viewer_client().get(reverse("panel", args=["engine"]), headers={"HX-Request": "true"}).content.decode()
    assert "btn-start" not in panel

    client = Client()
    client.force_login(operator)
    page = client.get("/").content.decode()
    assert reverse("engine_action", args=["start"]) in page
    assert reverse("manual_order") in page


def test_engine_panel_is_rendered_again_when_the_permission_changes(operator):
    client = Client()
    client.force_login(operator)
    url, htmx = reverse("panel", args=["engine"]), {"HX-Request": "true"}
    first = client.get(url, headers=htmx)
    assert "btn-reset" in first.content.decode()
    assert client.get(url, headers={**htmx, "If-None-Match": first["ETag"]}).status_code == 204

    operator.groups.set([Group.objects.get(name="Viewers")])
    again = client.get(url, headers={**htmx, "If-None-Match": first["ETag"]})
    assert again.status_code == 200
    assert "btn-reset" not in again.content.decode()


def test_admin_shows_a_viewer_no_controls_and_no_exports():
    client = viewer_client()
    engine = client.get(reverse("admin:trading_enginestate_change", args=[EngineState.load().pk])).content.decode()
    assert reverse("admin:trading_enginestate_start") not in engine
    assert "trading.control_engine" in engine
    assert reverse("admin:trading_enginestate_export", args=["csv"]) not in engine
    orders = client.get(reverse("admin:trading_order_changelist")).content.decode()
    assert reverse("admin:trading_order_export", args=["csv"]) not in orders
    assert "cancel_open_orders" not in orders
    assert (
        reverse("admin:trading_manualorderrequest_add")
        not in client.get(reverse("admin:trading_manualorderrequest_changelist")).content.decode()
    )


# ---------------------------------------------------------------------------------------------------
# The groups' migration runs both ways
# ---------------------------------------------------------------------------------------------------
def test_groups_migration_is_reversible():
    migration = importlib.import_module("trading.migrations.0007_permissions_and_groups")
    studies = importlib.import_module("trading.migrations.0012_optimization_study")  # adds the studies' view rights
    pauses = importlib.import_module("trading.migrations.0016_entries_pause")  # adds the pause windows' rights
    before = {group.name: set(group.permissions.values_list("codename", flat=True)) for group in Group.objects.all()}
    editor = SimpleNamespace(connection=connection)  # the functions only ask it which database to use
    pauses.revoke(django_apps, editor)
    studies.revoke_view(django_apps, editor)
    migration.remove_groups(django_apps, editor)
    assert not Group.objects.filter(name__in=["Viewers", "Operators"]).exists()
    migration.create_groups(django_apps, editor)
    studies.grant_view(django_apps, editor)
    pauses.grant(django_apps, editor)
    after = {group.name: set(group.permissions.values_list("codename", flat=True)) for group in Group.objects.all()}
    assert after == before
    assert django_apps.get_app_config("trading").models_module is not None
