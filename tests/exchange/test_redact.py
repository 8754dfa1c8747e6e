"""The one masking module: pure masking, and masking of the secrets configured in settings."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import override_settings

from exchange.redact import (
    MASK,
    SECRET_SETTINGS,
    configured_secrets,
    mask_configured_secrets,
    mask_configured_value,
    mask_secrets,
    mask_text,
    mask_values,
    url_secrets,
)

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
    assert set(SECRET_SETTINGS) >= {
        "UPBIT_ACCESS_KEY",
        "UPBIT_SECRET_KEY",
        "TELEGRAM_BOT_TOKEN",
        "AUTOCOIN_API_TOKEN",
        "SECRET_KEY",
        "NOTIFY_WEBHOOK_URL",
    }


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


SLACK = "https://hooks.slack.com/services/T024BE7LD/B01ABCDEF23/Xy7pQ9rS2tU4vW6xY8zA0bC1"
DISCORD = "https://discord.com/api/webhooks/112233445566778899/Ab-Cd_Ef0123456789GhIjKlMnOpQrStUvWxYz"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            SLACK,
            {
                SLACK,
                "/services/T024BE7LD/B01ABCDEF23/Xy7pQ9rS2tU4vW6xY8zA0bC1",
                "T024BE7LD",
                "B01ABCDEF23",
                "Xy7pQ9rS2tU4vW6xY8zA0bC1",
            },
        ),
        (DISCORD, {DISCORD, "112233445566778899", "Ab-Cd_Ef0123456789GhIjKlMnOpQrStUvWxYz"}),
        ("https://ntfy.sh/autocoin-alerts?auth=Zm9vYmFy", {"/autocoin-alerts", "auth=Zm9vYmFy", "Zm9vYmFy"}),
    ],
)
def test_a_webhook_url_is_secret_whole_by_its_path_and_by_each_token_looking_segment(url, expected):
    parts = set(url_secrets(url))

    assert expected <= parts
    # Words of the path are not masked on their own: "services", "api", "webhooks" stay readable elsewhere.
    assert not parts & {"services", "api", "webhooks", "hooks.slack.com"}


def test_a_webhook_path_quoted_in_an_error_is_masked_when_the_url_is_configured(settings):
    settings.NOTIFY_WEBHOOK_URL = "https://chat.example.net/hooks/team7/a1b2c3d4e5f6a7b8"
    error = "HTTPSConnectionPool(host='chat.example.net', port=443): Max retries exceeded with url: /hooks/team7/a1b2c3d4e5f6a7b8"

    masked = mask_configured_secrets(error)

    assert masked.endswith(f"url: {MASK}")
    assert mask_configured_secrets("the key a1b2c3d4e5f6a7b8 alone") == f"the key {MASK} alone"


def test_slack_discord_and_telegram_credentials_are_masked_by_their_shape_even_when_not_configured():
    text = f"{SLACK} {DISCORD} https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage"

    masked = mask_text(text)

    assert masked == (
        f"https://hooks.slack.com/services/{MASK} https://discord.com/api/webhooks/{MASK} "
        f"https://api.telegram.org/bot{MASK}/sendMessage"
    )


def test_the_database_password_and_the_django_secret_key_are_configured_secrets(settings, monkeypatch):
    settings.SECRET_KEY = "django-secret-key-for-this-test-0123456789"
    monkeypatch.setitem(settings.DATABASES["default"], "PASSWORD", "db-pass/w0rd")

    secrets = configured_secrets()

    assert "django-secret-key-for-this-test-0123456789" in secrets
    # As written, percent-encoded in a URL (a DATABASE_URL) and escaped in JSON text.
    assert {"db-pass/w0rd", "db-pass%2Fw0rd"} <= set(secrets)
    assert mask_configured_secrets("postgres://autocoin:db-pass%2Fw0rd@db/autocoin") == f"postgres://autocoin:{MASK}@db/autocoin"


def test_a_secret_with_json_escaped_characters_is_masked_inside_json_text(settings):
    settings.AUTOCOIN_API_TOKEN = 'token"with\\quotes-0123456789'

    masked = mask_configured_secrets(json.dumps({"message": f"bad {settings.AUTOCOIN_API_TOKEN}"}))

    assert json.loads(masked) == {"message": f"bad {MASK}"}


def test_a_longer_secret_is_masked_whole_before_a_shorter_one_inside_it():
    assert mask_values("see https://x.test/hook/T0123456789 now", ["T0123456789", "https://x.test/hook/T0123456789"]) == (
        f"see {MASK} now"
    )
    assert mask_values("only T0123456789 here", ["T0123456789", "https://x.test/hook/T0123456789"]) == f"only {MASK} here"


def test_mask_configured_value_masks_every_string_deep_inside_a_json_value(settings):
    settings.TELEGRAM_BOT_TOKEN = TELEGRAM_TOKEN

    value = {"error": [f"bot{TELEGRAM_TOKEN}", 1], "price": Decimal("1"), "nested": {"note": TELEGRAM_TOKEN}}

    assert mask_configured_value(value) == {"error": [f"bot{MASK}", 1], "price": Decimal("1"), "nested": {"note": MASK}}
