"""The dashboard and the admin under a person's mistakes and a browser's habits: clear errors in the
person's language, nothing echoed back whole, no 404 for the icon every browser asks for."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.web.conftest import PASSWORD
from trading.models import ManualOrderRequest

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def korean(client: Client) -> Client:
    client.post("/i18n/setlang/", {"language": "ko", "next": "/"})
    return client


@pytest.mark.parametrize(
    ("form", "english", "korean_text"),
    [
        (
            {"kind": "buy", "krw": "abc"},
            "KRW amount (buy): “abc” is not a number",
            "원화 금액 (매수): “abc”은(는) 숫자가 아닙니다",
        ),
        ({"kind": "buy", "krw": "4000"}, "below Upbit&#x27;s minimum order", "업비트 최소 주문 금액"),
        ({"kind": "buy", "krw": ""}, "A buy needs the KRW amount to spend.", "매수에는 사용할 원화 금액이 필요합니다."),
        ({"kind": "sell", "volume": "-1"}, "“-1” must be a positive number", "“-1”은(는) 양수여야 합니다"),
        ({"kind": "sell", "volume": "0.000000001"}, "has more than 8 decimal places", "소수점 8자리를 넘습니다"),
        ({"kind": "buy", "krw": "1e400"}, "“1e400” is too large", "“1e400”은(는) 너무 큽니다"),
        ({"kind": "nope"}, "Order: Choose one of the listed orders.", "주문: 목록에 있는 주문 종류 중 하나를 고르세요."),
    ],
)
def test_manual_form_errors_name_the_field_in_the_persons_language(session_client, form, english, korean_text):
    html = session_client.post("/orders/manual", form, headers=HTMX).content.decode()
    assert english in html
    html = korean(session_client).post("/orders/manual", form, headers=HTMX).content.decode()
    assert korean_text in html
    assert not ManualOrderRequest.objects.exists()


def test_manual_form_does_not_echo_a_huge_input(session_client):
    response = session_client.post("/orders/manual", {"kind": "buy", "krw": "9" * 100_000}, headers=HTMX)
    html = response.content.decode()
    assert "That is not an amount (more than 40 characters)." in html
    assert "9" * 100 not in html
    assert len(html) < 10_000
    assert not ManualOrderRequest.objects.exists()


def test_browsers_get_an_icon_not_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg")
    assert client.head("/favicon.ico").status_code == 200


def test_language_switch_names_each_language_in_itself(session_client):
    for client in (session_client, korean(session_client)):
        html = client.get("/").content.decode()
        assert ">English</button>" in html
        assert ">한국어</button>" in html


def test_admin_login_page_has_the_language_switch_and_follows_it(client):
    page = client.get("/admin/login/").content.decode()
    assert 'class="admin-lang-switch"' in page
    assert ">한국어</button>" in page
    client.post("/i18n/setlang/", {"language": "ko", "next": "/admin/login/"})
    assert "autocoin 운영 콘솔" in client.get("/admin/login/").content.decode()


def test_admin_console_follows_the_language_switch(session_client, operator):
    operator.is_superuser = True
    operator.save()
    session_client.force_login(operator)
    english = session_client.get("/admin/trading/enginestate/1/change/").content.decode()
    assert "autocoin operations console" in english
    assert "Engine process:" in english
    korean(session_client)
    page = session_client.get("/admin/trading/enginestate/1/change/").content.decode()
    assert "autocoin 운영 콘솔" in page
    assert "엔진 프로세스:" in page
    assert "오프라인" in page
    orders = session_client.get("/admin/trading/order/").content.decode()
    assert "조건에 맞는 모든 항목 내보내기 (CSV)" in orders
    assert "날짜 범위" in orders
    assert "선택 항목 CSV로 내보내기" in orders


def test_logging_in_with_the_wrong_password_says_so(client, operator):
    response = client.post("/admin/login/?next=/", {"username": "operator", "password": PASSWORD + "x"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_monitors_may_probe_the_dashboard_with_head(session_client, client):
    assert session_client.head("/").status_code == 200
    assert session_client.head("/panels/engine").status_code == 200
    assert client.head("/").status_code == 302  # anonymous: to the login page, as for GET
