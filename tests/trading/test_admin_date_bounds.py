"""Date range filters on every changelist and export: days too far off, garbage and reversed ranges
come back as a message (a warning on the list, a 400 on the export), never a server error."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.urls import reverse

from tests.factories import EngineEventFactory
from trading.admin_filters import DateRangeFilter

pytestmark = pytest.mark.django_db

FILTERED_MODELS = sorted(
    (
        model
        for model, model_admin in admin.site._registry.items()
        if any(isinstance(spec, type) and issubclass(spec, DateRangeFilter) for spec in model_admin.list_filter)
    ),
    key=lambda model: model._meta.model_name,
)

BAD_QUERIES = [
    ("to=9999-12-31", "to='9999-12-31' is out of range; use a day from 2000-01-01 to 2099-12-31"),
    ("from=0001-01-01", "from='0001-01-01' is out of range; use a day from 2000-01-01 to 2099-12-31"),
    ("from=0001-01-01&to=9999-12-31", "from='0001-01-01' is out of range"),
    ("from=1999-12-31", "from='1999-12-31' is out of range"),
    ("to=2100-01-01", "to='2100-01-01' is out of range"),
    ("from=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-01-01", "is not a date; use YYYY-MM-DD"),
    ("to=99999999", "to='99999999' is not a date"),
    ("from=%00", "is not a date"),
    ("from=-1", "from='-1' is not a date"),
]


def test_the_bad_dates_reach_every_filtered_changelist():
    assert len(FILTERED_MODELS) >= 5, FILTERED_MODELS


@pytest.mark.parametrize("model", FILTERED_MODELS, ids=lambda model: model._meta.model_name)
@pytest.mark.parametrize(("query", "why"), BAD_QUERIES, ids=[query for query, _ in BAD_QUERIES])
def test_a_bad_date_on_a_changelist_is_a_warning(admin_client, model, query, why):
    url = reverse(f"admin:trading_{model._meta.model_name}_changelist")

    response = admin_client.get(f"{url}?{query}")

    assert response.status_code == 200
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert any(why in text and text.startswith("Date range ignored:") for text in shown), shown


@pytest.mark.parametrize("model", FILTERED_MODELS, ids=lambda model: model._meta.model_name)
@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize(("query", "why"), BAD_QUERIES[:3], ids=[query for query, _ in BAD_QUERIES[:3]])
def test_a_bad_date_on_an_export_is_refused_with_the_reason(admin_client, model, fmt, query, why):
    url = reverse(f"admin:trading_{model._meta.model_name}_export", args=[fmt])

    response = admin_client.get(f"{url}?{query}")

    assert response.status_code == 400
    assert response.content.decode().startswith("Export refused: ")
    assert why in response.content.decode()


def test_the_edge_days_themselves_are_allowed(admin_client):
    EngineEventFactory(message="inside-the-range")
    url = reverse("admin:trading_engineevent_changelist")

    response = admin_client.get(f"{url}?from=2000-01-01&to=2099-12-31")

    assert response.status_code == 200
    assert "inside-the-range" in response.content.decode()
    assert not list(get_messages(response.wsgi_request))
    export = admin_client.get(reverse("admin:trading_engineevent_export", args=["csv"]) + "?from=2000-01-01&to=2099-12-31")
    assert export.status_code == 200
    assert "inside-the-range" in b"".join(export.streaming_content).decode()
