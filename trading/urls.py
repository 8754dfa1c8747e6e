"""The dashboard, its htmx partials, the JSON API, health and metrics."""

from __future__ import annotations

from django.urls import path

from trading import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
]
