"""URL wiring: the admin console, the dashboard and its JSON API."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("trading.urls")),
]

# Errors raised before a view runs (e.g. a Host header not in ALLOWED_HOSTS): the API's envelope under /api/.
handler400 = "trading.api.bad_request"
handler500 = "trading.api.server_error"
