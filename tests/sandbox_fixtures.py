"""Fixtures that start the Upbit-compatible sandbox on 127.0.0.1 (filled in by the exchange layer)."""

from __future__ import annotations
