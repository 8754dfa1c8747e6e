"""Benchmarks: a large-database seed and timing scripts for the admin, the dashboard and the engine."""

from __future__ import annotations
