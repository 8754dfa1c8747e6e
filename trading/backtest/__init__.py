"""Backtesting: the live engine's strategy, risk and fill code replayed over stored candles."""

from __future__ import annotations
