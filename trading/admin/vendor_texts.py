"""Texts of installed apps that bring no Korean catalogue of their own (django-axes: the login lockout tables),
and those of Django's admin whose Korean translation reads wrong ("보기위한 1%s 를(을) 선택").

Listed here so `makemessages` keeps them in autocoin's catalogue (locale/), which Django reads before the
apps' own: the console then names those tables and their columns in Korean too. Never imported."""

from __future__ import annotations

from django.utils.translation import gettext_noop

AXES = (
    gettext_noop("Access Attempt"),
    gettext_noop("Access lock out"),
    gettext_noop("Attempt Remaining"),
    gettext_noop("Attempt Time"),
    gettext_noop("Clean up expired attempts"),
    gettext_noop("Expires At"),
    gettext_noop("Failed Logins"),
    gettext_noop("Form Data"),
    gettext_noop("GET Data"),
    gettext_noop("HTTP Accept"),
    gettext_noop("IP Address"),
    gettext_noop("Locked Out"),
    gettext_noop("Logout Time"),
    gettext_noop("Meta Data"),
    gettext_noop("Not set"),
    gettext_noop("POST Data"),
    gettext_noop("Path"),
    gettext_noop("Session key hash (sha256)"),
    gettext_noop("The time when access attempt expires and is no longer valid."),
    gettext_noop("User Agent"),
    gettext_noop("Username"),
    gettext_noop("access attempt expiration"),
    gettext_noop("access attempt expirations"),
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
)

DJANGO_ADMIN = (
    gettext_noop("Select %s to view"),
    gettext_noop("View %s"),
)
