"""Account names: which ledger a paper or live exchange writes to, named without the key."""

from __future__ import annotations

import hashlib

from django.utils import translation

from exchange.account import LEGACY_LIVE_ACCOUNT, PAPER_ACCOUNT, account_for, account_parts, key_fingerprint, mode_of
from exchange.upbit import UpbitClient
from trading.accounts import account_label

KEY = "xK3uT9pQ2mVb7Wc4Lr8Ns1Hd6Fg0Ja5Ye2Zo7Pi3Uq"


def test_a_live_account_is_the_api_host_and_a_fingerprint_of_the_key_never_the_key():
    account = account_for(paper=False, base_url="https://api.upbit.com", access_key=KEY)

    assert account == f"live:api.upbit.com:{hashlib.sha256(KEY.encode()).hexdigest()[:12]}"
    assert KEY not in account
    assert KEY[:8] not in account


def test_another_key_or_another_api_is_another_account():
    upbit = account_for(paper=False, base_url="https://api.upbit.com", access_key=KEY)

    assert account_for(paper=False, base_url="https://api.upbit.com", access_key=KEY + "x") != upbit
    assert account_for(paper=False, base_url="http://127.0.0.1:8765", access_key=KEY) != upbit
    assert account_for(paper=False, base_url="https://API.upbit.com/", access_key=KEY) == upbit


def test_the_client_names_the_same_account_as_the_settings_would():
    client = UpbitClient("https://api.upbit.com/v1/", KEY, "secret")

    assert client.account == account_for(paper=False, base_url="https://api.upbit.com", access_key=KEY)
    assert KEY not in repr(client.account)


def test_paper_is_one_account_whatever_the_keys():
    assert account_for(paper=True, base_url="http://127.0.0.1:8765", access_key=KEY) == PAPER_ACCOUNT
    assert mode_of(PAPER_ACCOUNT) == "paper"
    assert mode_of(LEGACY_LIVE_ACCOUNT) == "live"
    assert mode_of(account_for(paper=False, base_url="https://api.upbit.com", access_key=KEY)) == "live"


def test_a_password_written_into_the_url_never_becomes_part_of_the_account():
    account = account_for(paper=False, base_url="https://user:hunter2@api.upbit.com", access_key=KEY)

    assert "hunter2" not in account
    assert account.startswith("live:api.upbit.com:")


def test_labels_name_paper_upbit_the_sandbox_and_the_legacy_ledger():
    fingerprint = key_fingerprint(KEY)

    assert account_label(PAPER_ACCOUNT) == "paper"
    assert account_label(f"live:api.upbit.com:{fingerprint}") == f"live · api.upbit.com · key {fingerprint[:6]}…"
    assert account_label(f"live:127.0.0.1:8765:{fingerprint}") == f"live · sandbox 127.0.0.1:8765 · key {fingerprint[:6]}…"
    assert account_label(LEGACY_LIVE_ACCOUNT) == "live · recorded before accounts (key unknown)"
    assert account_parts(LEGACY_LIVE_ACCOUNT).legacy


def test_labels_read_in_korean_in_the_korean_console():
    with translation.override("ko"):
        assert account_label(PAPER_ACCOUNT) == "모의 거래"
        assert account_label("live:127.0.0.1:8765:3fa9c1d2e4b5") == "실거래 · 샌드박스 127.0.0.1:8765 · 키 3fa9c1…"
