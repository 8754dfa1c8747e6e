"""First-run set-up: write .env from .env.example (with a generated DJANGO_SECRET_KEY) when missing.

Runs with the standard library only, before the virtual environment has anything installed.
"""

from __future__ import annotations

import os
import secrets
import string
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def generated_secret_key() -> str:
    alphabet = string.ascii_letters + string.digits + "!#%()*+-.:;<=>?@[]^_{|}~"
    return "".join(secrets.choice(alphabet) for _ in range(64))


def write_env(env_path: Path, example_path: Path) -> bool:
    """Create .env from the example if missing; fill an empty DJANGO_SECRET_KEY. True when written."""
    if env_path.exists():
        lines = env_path.read_text(encoding="utf-8").splitlines()
    else:
        lines = example_path.read_text(encoding="utf-8").splitlines()
    changed = not env_path.exists()
    for index, line in enumerate(lines):
        if line.strip() == "DJANGO_SECRET_KEY=":
            lines[index] = f"DJANGO_SECRET_KEY={generated_secret_key()}"
            changed = True
    if changed:
        private_write(env_path, "\n".join(lines) + "\n")
    return changed


def private_write(path: Path, text: str) -> None:
    """Write `path` readable by its owner only, from its first byte (no moment at 0644)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing looser file keeps its mode through os.open
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


def main() -> int:
    if write_env(ROOT / ".env", ROOT / ".env.example"):
        print("autocoin: wrote .env (with a generated DJANGO_SECRET_KEY); edit it to change settings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
