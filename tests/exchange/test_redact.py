"""The one masking module: pure masking, and masking of the secrets configured in settings."""

from __future__ import annotations

import pytest
from django.test import override_settings

from exchange.redact import MASK, SECRET_SETTINGS, configured_secrets, mask_configured_secrets, mask_secrets, mask_text

UPBIT_SECRET = "upbit-secret-value-0123456789"
TELEGRAM_TOKEN = "123456:telegram-token-value"


def test_mask_text_masks_given_values_bearer_tokens_and_jwts():
    text = f"key {UPBIT_SECRET}; Authorization: Bearer abc.def; token eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl"

    masked = mask_text(text, [UPBIT_SECRET])

    assert UPBIT_SECRET not in masked
    assert "abc.def" not in masked
    assert "eyJhbGciOi" not in masked
    assert masked.count(MASK) == 3


def test_mask_secrets_masks_secret_named_fields_and_values_deep_inside():
    value = {"access_key": "visible?", "nested": [{"note": f"uses {UPBIT_SECRET}"}], "price": "100"}

    assert mask_secrets(value, [UPBIT_SECRET]) == {"access_key": MASK, "nested": [{"note": f"uses {MASK}"}], "price": "100"}


def test_the_list_names_every_secret_setting():
    assert set(SECRET_SETTINGS) >= {"UPBIT_ACCESS_KEY", "UPBIT_SECRET_KEY", "TELEGRAM_BOT_TOKEN", "AUTOCOIN_API_TOKEN"}


@override_settings(UPBIT_SECRET_KEY=UPBIT_SECRET, TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN, UPBIT_ACCESS_KEY="", AUTOCOIN_API_TOKEN="")
def test_configured_secrets_are_read_at_each_call_and_empty_ones_left_out():
    assert UPBIT_SECRET in configured_secrets()
    assert TELEGRAM_TOKEN in configured_secrets()
    assert "" not in configured_secrets()

    masked = mask_configured_secrets(f"failed with {UPBIT_SECRET} at bot{TELEGRAM_TOKEN}/send")

    assert masked == f"failed with {MASK} at bot{MASK}/send"


@pytest.mark.parametrize("text", ["", "nothing secret here"])
def test_text_without_secrets_is_unchanged(text):
    assert mask_configured_secrets(text) == text
