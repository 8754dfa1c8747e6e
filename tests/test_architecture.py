"""The layer contract of docs/ARCHITECTURE.md ("Code layout"), as pyproject.toml's [tool.importlinter]
states it: imports run downwards only, the web's doors never reach the engine, strategies stay pure and
exchange/ knows nothing of trading/."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Wiring that no layer imports and that imports no layer: the app config, the static files storage, the
# template filters, the migrations, the private file modes (standard library and settings only).
UNLAYERED = {"apps", "static_storage", "templatetags", "migrations", "files"}


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_every_import_contract_is_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_trading_module_has_its_place_in_the_layers():
    """A new module in trading/ must be given a layer (or be wiring), or the contract would not see it."""
    layers = next(contract for contract in _contracts() if contract["type"] == "layers")["layers"]
    placed = {name.strip().removeprefix("trading.") for layer in layers for name in layer.split("|")}
    modules = {
        path.stem if path.is_file() else path.name
        for path in (ROOT / "trading").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    }
    assert modules - placed - UNLAYERED == set()
    assert placed <= modules  # no layer names a module that is gone
