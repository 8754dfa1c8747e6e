"""Build the exchange the engine trades through, from Django settings.

Live: `UpbitClient` with the account's keys. Paper: `PaperExchange` over a keyless `UpbitClient`, so
paper trading sees the real market (ticker, candles, order book) and can never place a real order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from exchange.account import account_for

if TYPE_CHECKING:
    from exchange.base import Exchange


def build_exchange(*, paper: bool | None = None) -> Exchange:
    """The exchange for `paper` (default: `settings.PAPER_MODE`).

    Live mode without both keys raises ValueError rather than building a client that would fail on
    its first private call; whether live trading is allowed at all is decided by the caller."""
    # Imported here: `account_current` below is read by every process (the admin, the backtest), the HTTP
    # client and its signing libraries only by the one that trades.
    from exchange.paper import PaperExchange
    from exchange.upbit import UpbitClient

    use_paper = settings.PAPER_MODE if paper is None else paper
    if use_paper:
        market_data = UpbitClient.from_settings(with_keys=False)
        return PaperExchange(market_data, initial_krw=settings.PAPER_INITIAL_KRW)
    if not (settings.UPBIT_ACCESS_KEY and settings.UPBIT_SECRET_KEY):
        raise ValueError("live trading needs UPBIT_ACCESS_KEY and UPBIT_SECRET_KEY; set both or use PAPER_MODE=true")
    return UpbitClient.from_settings(with_keys=True)


def account_current(*, paper: bool | None = None) -> str:
    """The account the ledger is kept for under the current settings (exchange/account.py): "paper", or
    the live API's host with a fingerprint of the access key. The engine's exchange names the same one."""
    use_paper = settings.PAPER_MODE if paper is None else paper
    return account_for(paper=use_paper, base_url=settings.UPBIT_API_BASE, access_key=settings.UPBIT_ACCESS_KEY or "")
