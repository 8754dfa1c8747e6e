"""`manage.py checklive` against the sandbox: one plain line per check, exit 0 / 1 / 2, no key ever printed."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from trading.models import EngineEvent

pytestmark = pytest.mark.django_db

CHECKS = 6


@pytest.fixture
def live_settings(live_sandbox, settings):
    return settings


def checklive(*args: str) -> tuple[int, list[str]]:
    out = io.StringIO()
    try:
        call_command("checklive", *args, stdout=out)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, out.getvalue().splitlines()


def assert_no_key(lines: list[str], sandbox) -> None:
    text = "\n".join(lines)
    assert sandbox.access_key not in text
    assert sandbox.secret_key not in text


def test_all_green_against_the_sandbox(live_settings, sandbox):
    code, lines = checklive()

    assert code == 0
    assert len(lines) == CHECKS
    assert all(line.startswith("✓ ") for line in lines), lines
    assert "Upbit accepted a test order (a 5,000 KRW market buy on KRW-BTC); nothing was placed." in lines[-1]
    assert "1,000,000 KRW is free" in lines[4]
    assert_no_key(lines, sandbox)


def test_the_test_order_places_nothing_and_moves_no_money(live_settings, sandbox):
    before = sandbox.state()

    assert checklive()[0] == 0

    after = sandbox.state()
    assert after["orders"] == before["orders"] == []
    assert after["balances"] == before["balances"]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("invalid_access_key", "Upbit does not know this access key (invalid_access_key): copy UPBIT_ACCESS_KEY again"),
        ("jwt_verification", "UPBIT_SECRET_KEY is not the secret issued with this access key"),
        ("no_authorization_ip", "This computer's IP address is not on the key's allowed list (no_authorization_ip)"),
        ("out_of_scope", "The key lacks a permission (out_of_scope): enable 자산조회 (view assets)"),
        ("expired_access_key", "The key has expired (expired_access_key)"),
    ],
)
def test_a_refused_key_is_named_in_plain_words(live_settings, sandbox, name, words):
    sandbox.reject_keys(name=name)

    code, lines = checklive()

    assert code == 1
    assert lines[0].startswith("✓ UPBIT_ACCESS_KEY and UPBIT_SECRET_KEY are set")
    assert lines[1].startswith("✗ ")
    assert words in lines[1]
    assert all(line.startswith("✗ ") and "not checked until the keys are accepted" in line for line in lines[2:])
    assert len(lines) == CHECKS
    assert_no_key(lines, sandbox)
    assert EngineEvent.objects.filter(message__startswith="Live pre-flight for KRW-BTC failed: keys_accepted").exists()


def test_keys_not_set(live_settings, sandbox):
    live_settings.UPBIT_ACCESS_KEY = ""

    code, lines = checklive()

    assert code == 1
    assert lines[0].startswith("✗ UPBIT_ACCESS_KEY and UPBIT_SECRET_KEY are not both set: put the key pair")
    assert len(lines) == CHECKS


def test_an_unknown_market(live_settings, sandbox):
    code, lines = checklive("--market", "KRW-NOPE")

    assert code == 1
    assert "✗ Upbit has no market KRW-NOPE: set TRADING_MARKET to a market code such as KRW-BTC." in lines


def test_not_enough_krw_for_the_minimum_order_with_its_fee(live_settings, sandbox):
    sandbox.set_balance("KRW", "5001")

    code, lines = checklive()

    assert code == 1
    assert (
        "✗ Only 5,001 KRW is free; the minimum order of 5,000 KRW with its fee needs 5,002.5 KRW: deposit KRW on Upbit "
        "(or cancel open orders that hold it)."
    ) in lines
    assert lines[-1].startswith(
        "✗ Upbit's test order (a 5,000 KRW market buy, nothing placed) was refused: [insufficient_funds_bid]"
    )


def test_the_free_krw_reads_in_won_and_cents_rounded_down(live_settings, sandbox):
    sandbox.set_balance("KRW", "999984.15733113")

    code, lines = checklive()

    assert code == 0
    assert lines[4].startswith("✓ 999,984.15 KRW is free: enough for the minimum order"), lines[4]


def test_a_refused_test_order(live_settings, sandbox):
    sandbox.fail_next("/v1/orders/test", method="POST", status=401, name="out_of_scope")

    code, lines = checklive()

    assert code == 1
    assert all(line.startswith("✓ ") for line in lines[:-1]), lines
    assert lines[-1] == (
        "✗ The key may not place orders (out_of_scope on the test order): enable 주문하기 (place orders) for it on "
        "Upbit's Open API management page."
    )


def test_an_expired_key_and_one_about_to_expire(live_settings, sandbox):
    sandbox.set_key_expiry("2020-01-01T00:00:00+09:00")
    code, lines = checklive()
    assert code == 1
    assert "✗ The key expired on 2019-12-31: issue a new one and update .env." in lines  # shown in UTC

    sandbox.set_key_expiry("2999-01-01T00:00:00+09:00")
    code, lines = checklive()
    assert code == 0
    assert "✓ The key is valid until 2998-12-31." in lines


def test_bad_usage_exits_2(live_settings):
    with pytest.raises(CommandError) as refused:
        call_command("checklive", "--market", "btc")
    assert refused.value.returncode == 2


def test_an_unknown_option_exits_2_from_the_shell():
    manage = Path(__file__).resolve().parents[2] / "manage.py"
    done = subprocess.run(
        [sys.executable, str(manage), "checklive", "--no-such-option"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "unrecognized arguments: --no-such-option" in done.stderr
