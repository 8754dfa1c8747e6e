"""Start-up validation: a bad value stops the process with one line naming the variable, the value and what is allowed."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "autocoin" / "settings.py"
ROOT = SETTINGS_FILE.parent.parent


def load_settings(monkeypatch: pytest.MonkeyPatch, **values: str) -> dict:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_FILE))


def refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], **values: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        load_settings(monkeypatch, **values)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    return error


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PAPER_MODE", "maybe", "PAPER_MODE='maybe' is not a boolean; use true or false"),
        ("DJANGO_DEBUG", "2", "DJANGO_DEBUG='2' is not a boolean"),
        ("LOOP_INTERVAL_SEC", "0", "LOOP_INTERVAL_SEC='0' is out of range; use an integer from 1 to 3600"),
        ("LOOP_INTERVAL_SEC", "fast", "LOOP_INTERVAL_SEC='fast' is not a whole number"),
        ("MAX_CONSECUTIVE_FAILURES", "-1", "MAX_CONSECUTIVE_FAILURES='-1' is out of range"),
        ("POSTGRES_POOL_SIZE", "1", "POSTGRES_POOL_SIZE='1' is out of range; use an integer from 2 to 100"),
        ("ORDER_COOLDOWN_SEC", "1.5", "ORDER_COOLDOWN_SEC='1.5' is not a whole number"),
        ("MAX_ORDER_KRW", "4999", "MAX_ORDER_KRW='4999' is out of range; use a decimal at least 5000"),
        ("MAX_ORDER_KRW", "lots", "MAX_ORDER_KRW='lots' is not a number"),
        ("PAPER_INITIAL_KRW", "NaN", "PAPER_INITIAL_KRW='NaN' is not a finite number"),
        ("MAX_DAILY_LOSS_KRW", "0", "MAX_DAILY_LOSS_KRW='0' is out of range; use a decimal more than 0"),
        ("MAX_POSITION_RATIO", "1.5", "MAX_POSITION_RATIO='1.5' is out of range"),
        ("MAX_POSITION_RATIO", "0", "MAX_POSITION_RATIO='0' is out of range"),
        ("MAX_SLIPPAGE_PCT", "-0.1", "MAX_SLIPPAGE_PCT='-0.1' is out of range; use a decimal at least 0 and at most 100"),
        ("MAX_SLIPPAGE_PCT", "101", "MAX_SLIPPAGE_PCT='101' is out of range"),
        ("MAX_SLIPPAGE_PCT", "half", "MAX_SLIPPAGE_PCT='half' is not a number"),
        ("MAX_SLIPPAGE_PCT", "Infinity", "MAX_SLIPPAGE_PCT='Infinity' is not a finite number"),
        ("STRATEGY", "moon", "STRATEGY='moon' is not allowed; use one of: macd, sma_cross, volatility_breakout, momentum"),
        ("TRADING_MARKET", "BTC-ETH", "TRADING_MARKET='BTC-ETH' is not a KRW market code"),
        ("UPBIT_API_BASE", "api.upbit.com", "UPBIT_API_BASE='api.upbit.com' is not a URL"),
        ("TIME_ZONE", "Mars/Olympus", "TIME_ZONE='Mars/Olympus' is not a known time zone"),
        ("DATABASE_URL", "mysql://x@y/z", "DATABASE_URL='mysql://x@y/z' uses an unsupported database"),
        ("DJANGO_SECRET_KEY", "short", "DJANGO_SECRET_KEY is too short (5 characters)"),
        ("AUTOCOIN_API_TOKEN", "abc", "AUTOCOIN_API_TOKEN is too short (3 characters)"),
        ("NOTIFY_WEBHOOK_URL", "hooks", "NOTIFY_WEBHOOK_URL='hooks' is not a URL"),
        ("TELEGRAM_BOT_TOKEN", "123456:abcdef", "TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID go together"),
    ],
)
def test_each_bad_value_names_variable_value_and_what_is_allowed(monkeypatch, capsys, name, value, expected):
    error = refused(monkeypatch, capsys, **{name: value})
    assert error.startswith("autocoin: configuration error: ")
    assert expected in error


def test_missing_secret_key_says_how_to_get_one(monkeypatch, capsys):
    error = refused(monkeypatch, capsys, DJANGO_SECRET_KEY="")
    assert "DJANGO_SECRET_KEY is not set" in error
    assert "make run" in error


def test_secret_values_are_never_echoed(monkeypatch, capsys):
    error = refused(monkeypatch, capsys, AUTOCOIN_API_TOKEN="tok-123")
    assert "tok-123" not in error


def test_defaults_and_types(monkeypatch):
    for name in ("MAX_ORDER_KRW", "MAX_POSITION_RATIO", "PAPER_MODE", "LOOP_INTERVAL_SEC", "TRADING_MARKET", "TIME_ZONE"):
        monkeypatch.delenv(name, raising=False)
    loaded = load_settings(monkeypatch)
    assert loaded["MAX_ORDER_KRW"] == Decimal("10000")
    assert isinstance(loaded["MAX_POSITION_RATIO"], Decimal)
    assert loaded["PAPER_MODE"] is True
    assert loaded["LOOP_INTERVAL_SEC"] == 5
    assert loaded["TRADING_MARKET"] == "KRW-BTC"
    assert loaded["TIME_ZONE"] == "Asia/Seoul"
    assert loaded["USE_TZ"] is True


def test_max_slippage_defaults_to_half_a_percent_and_zero_turns_it_off(monkeypatch):
    monkeypatch.delenv("MAX_SLIPPAGE_PCT", raising=False)
    assert load_settings(monkeypatch)["MAX_SLIPPAGE_PCT"] == Decimal("0.5")
    assert load_settings(monkeypatch, MAX_SLIPPAGE_PCT="0")["MAX_SLIPPAGE_PCT"] == 0
    assert load_settings(monkeypatch, MAX_SLIPPAGE_PCT=" 1.25 ")["MAX_SLIPPAGE_PCT"] == Decimal("1.25")
    assert load_settings(monkeypatch, MAX_SLIPPAGE_PCT="100")["MAX_SLIPPAGE_PCT"] == Decimal("100")


def test_momentum_is_a_strategy_choice(monkeypatch):
    assert load_settings(monkeypatch, STRATEGY="momentum")["STRATEGY"] == "momentum"


def test_sqlite_is_configured_for_two_writing_processes(monkeypatch, tmp_path):
    loaded = load_settings(monkeypatch, DATABASE_URL=f"sqlite:///{tmp_path / 'a.sqlite3'}")
    options = loaded["DATABASES"]["default"]["OPTIONS"]
    assert options["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in options["init_command"]
    assert "busy_timeout=" in options["init_command"]
    assert options["timeout"] >= 1


def test_postgres_url_is_accepted(monkeypatch):
    loaded = load_settings(monkeypatch, DATABASE_URL="postgres://postgres@127.0.0.1:5432/autocoin")
    database = loaded["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["NAME"] == "autocoin"
    assert database["CONN_MAX_AGE"] == 0
    assert database["OPTIONS"]["pool"]["max_size"] == 10


def test_a_management_command_with_a_bad_value_prints_one_line_and_no_traceback():
    env = dict(os.environ, LOOP_INTERVAL_SEC="-5")
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "autocoin: configuration error: LOOP_INTERVAL_SEC='-5' is out of range; use an integer from 1 to 3600"
    )


def manage_check(**values: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **values)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgres://user:s3cret@host:badport/db", "DATABASE_URL='postgres://user:***@host:badport/db' is not a database URL"),
        ("mysql://user:s3cret@host/db", "DATABASE_URL='mysql://user:***@host/db' uses an unsupported database"),
        ("postgres://user:s3cret@[::1/db", "DATABASE_URL='postgres://user:***@[::1/db' is not a database URL"),
        ("postgres://user@host:x/db?password=s3cret", "DATABASE_URL='postgres://user@host:x/db?password=***'"),
        ("sqlite://user:s3cret@host", "DATABASE_URL='sqlite://user:***@host' needs a file path"),
        ("mysql://user:s3@cr/et@host/db", "DATABASE_URL='mysql://user:***@host/db'"),
    ],
)
def test_a_bad_database_url_is_shown_without_its_password(url, shown):
    result = manage_check(DATABASE_URL=url)

    assert result.returncode == 2
    assert "s3" not in result.stderr + result.stdout
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("autocoin: configuration error: ")
    assert shown in result.stderr


@pytest.mark.parametrize("hosts", ["*", "127.0.0.1,*", " * "])
def test_any_host_is_refused_unless_asked_for(hosts):
    result = manage_check(DJANGO_ALLOWED_HOSTS=hosts, DJANGO_ALLOW_ANY_HOST="false")

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "answers any host name" in result.stderr
    assert "DJANGO_ALLOW_ANY_HOST=true" in result.stderr


def test_any_host_is_allowed_when_asked_for(monkeypatch):
    loaded = load_settings(monkeypatch, DJANGO_ALLOWED_HOSTS="*", DJANGO_ALLOW_ANY_HOST="true")

    assert loaded["ALLOWED_HOSTS"] == ["*"]
    assert manage_check(DJANGO_ALLOWED_HOSTS="*", DJANGO_ALLOW_ANY_HOST="true").returncode == 0


def test_named_hosts_need_no_permission(monkeypatch):
    monkeypatch.delenv("DJANGO_ALLOW_ANY_HOST", raising=False)
    loaded = load_settings(monkeypatch, DJANGO_ALLOWED_HOSTS="127.0.0.1,.example.lan")

    assert loaded["ALLOWED_HOSTS"] == ["127.0.0.1", ".example.lan"]
    assert loaded["ALLOW_ANY_HOST"] is False


def test_the_standard_password_validators_are_on(monkeypatch):
    names = [validator["NAME"].rsplit(".", 1)[1] for validator in load_settings(monkeypatch)["AUTH_PASSWORD_VALIDATORS"]]

    assert names == [
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    ]


def test_every_setting_the_readme_lists_is_in_the_example_environment_file():
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    listed = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", readme, re.M)
    assert "MANUAL_ORDER_TTL_SEC" in listed
    assert [name for name in listed if not re.search(rf"^#? ?{name}=", example, re.M)] == []
