"""The permission backend (trading/auth.py PermissionsBackend): Django's ModelBackend answers, in one query."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import UserFactory
from trading.auth import CONTROL_ENGINE, EXPORT_DATA, VIEW_DASHBOARD, PermissionsBackend, user_can

pytestmark = pytest.mark.django_db


def _permission(perm: str) -> Permission:
    app_label, codename = perm.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def _fresh(user):
    """The same account as a new request sees it: no permission sets kept on the object."""
    return get_user_model().objects.get(pk=user.pk)


def _django_answers(user) -> tuple[set[str], set[str], set[str]]:
    backend = ModelBackend()
    user = _fresh(user)
    return backend.get_user_permissions(user), backend.get_group_permissions(user), backend.get_all_permissions(user)


def test_the_backend_is_the_one_django_asks_after_axes(settings):
    assert settings.AUTHENTICATION_BACKENDS == ["axes.backends.AxesStandaloneBackend", "trading.auth.PermissionsBackend"]


def test_own_and_group_permissions_are_djangos_in_one_query(django_assert_num_queries):
    user = UserFactory(groups=["Viewers"])
    user.user_permissions.add(_permission(EXPORT_DATA))
    user = _fresh(user)
    backend = PermissionsBackend()
    with django_assert_num_queries(1):
        every = backend.get_all_permissions(user)
        assert backend.get_user_permissions(user) == {EXPORT_DATA}  # kept from the same query
        assert VIEW_DASHBOARD in backend.get_group_permissions(user)
    assert (user._user_perm_cache, user._group_perm_cache, every) == _django_answers(user)
    assert {VIEW_DASHBOARD, EXPORT_DATA} <= every
    assert CONTROL_ENGINE not in every


def test_a_permission_both_given_and_granted_by_a_group_counts_once():
    user = UserFactory(groups=["Viewers", "Operators"])
    user.user_permissions.add(_permission(VIEW_DASHBOARD))
    assert PermissionsBackend().get_all_permissions(_fresh(user)) == _django_answers(user)[2]


def test_no_group_and_no_permission_is_nothing(django_assert_num_queries):
    user = _fresh(UserFactory())
    with django_assert_num_queries(1):
        assert PermissionsBackend().get_all_permissions(user) == set()
        assert not user.has_perm(VIEW_DASHBOARD)


def test_a_superuser_has_every_permission():
    user = _fresh(UserFactory(is_superuser=True))
    every = {f"{app}.{codename}" for app, codename in Permission.objects.values_list("content_type__app_label", "codename")}
    assert PermissionsBackend().get_all_permissions(user) == every == _django_answers(user)[2]


@pytest.mark.parametrize("superuser", [False, True])
def test_an_inactive_account_has_none_and_asks_nothing(django_assert_num_queries, superuser):
    user = _fresh(UserFactory(groups=["Operators"], is_active=False, is_superuser=superuser))
    with django_assert_num_queries(0):
        assert PermissionsBackend().get_all_permissions(user) == set()
        assert not PermissionsBackend().has_perm(user, VIEW_DASHBOARD)
        assert not user_can(user, VIEW_DASHBOARD)


def test_anonymous_and_object_permissions_are_none(django_assert_num_queries):
    user = _fresh(UserFactory(groups=["Operators"]))
    with django_assert_num_queries(0):
        assert PermissionsBackend().get_all_permissions(AnonymousUser()) == set()
        assert PermissionsBackend().get_all_permissions(user, obj=object()) == set()


def test_the_sets_are_read_once_per_user_object_and_a_new_object_sees_a_change(django_assert_num_queries):
    user = _fresh(UserFactory(groups=["Viewers"]))
    with django_assert_num_queries(1):
        assert user_can(user, VIEW_DASHBOARD)
        assert not user_can(user, CONTROL_ENGINE)
        every = user.get_all_permissions()
    assert every == _django_answers(user)[2]
    user.groups.add(Group.objects.get(name="Operators"))
    assert not user_can(user, CONTROL_ENGINE)  # this object keeps what it read, as Django's backend does
    assert user_can(_fresh(user), CONTROL_ENGINE)


def test_a_set_read_before_is_kept(django_assert_num_queries):
    user = _fresh(UserFactory(groups=["Viewers"]))
    backend = PermissionsBackend()
    user_perms = backend.get_user_permissions(user)
    with django_assert_num_queries(1):
        backend.get_all_permissions(user)
    assert user._user_perm_cache is user_perms


def test_a_signed_in_poll_reads_the_permissions_once(operator):
    client = Client()
    client.force_login(operator)
    client.get("/panels/signals")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/panels/signals").status_code == 200
    permission_reads = [query for query in queries if "auth_permission" in query["sql"]]
    session_reads = [query for query in queries if "django_session" in query["sql"]]
    assert len(permission_reads) == 1
    assert session_reads == []  # the session is read from memory


def test_someone_without_the_permission_is_refused():
    person = UserFactory(username="nobody-in-particular")
    client = Client()
    client.force_login(person)
    response = client.get("/panels/signals", headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert response["X-Missing-Permission"] == VIEW_DASHBOARD
