"""Paper, sandbox or live: the rule that decides whether the console says "real money"."""

from __future__ import annotations

import pytest

from exchange.account import LIVE_VENUE, PAPER_VENUE, SANDBOX_VENUE, venue_for


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8765", "http://localhost:9000/", "http://LOCALHOST", "http://[::1]:8765", "127.0.0.1:8765"],
)
def test_a_live_api_on_this_machine_is_the_sandbox(base_url):
    assert venue_for(paper=False, base_url=base_url) == SANDBOX_VENUE


@pytest.mark.parametrize("base_url", ["https://api.upbit.com", "https://API.upbit.com:443/v1", "https://api.upbit.com/"])
def test_upbit_is_real_money_even_when_declared_a_sandbox(base_url):
    assert venue_for(paper=False, base_url=base_url) == LIVE_VENUE
    assert venue_for(paper=False, base_url=base_url, sandbox_declared=True) == LIVE_VENUE


def test_another_host_is_real_money_unless_declared_the_sandbox():
    # A proxy in front of Upbit looks like any other host: the label must not understate the risk.
    assert venue_for(paper=False, base_url="https://upbit-proxy.example.net") == LIVE_VENUE
    assert venue_for(paper=False, base_url="http://sandbox:8765", sandbox_declared=True) == SANDBOX_VENUE


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1.example.net:8765", "http://localhost.evil.example", "http://user:pw@example.net"],
)
def test_names_that_only_look_local_are_not_the_sandbox(base_url):
    assert venue_for(paper=False, base_url=base_url) == LIVE_VENUE


def test_paper_is_paper_wherever_the_api_points():
    assert venue_for(paper=True, base_url="https://api.upbit.com") == PAPER_VENUE
    assert venue_for(paper=True, base_url="http://127.0.0.1:8765", sandbox_declared=True) == PAPER_VENUE
