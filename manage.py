#!/usr/bin/env python
"""Django's command-line entry point for autocoin."""

from __future__ import annotations

import os
import sys


def main() -> None:
    # Everything this process creates (the SQLite database, its -wal/-shm, backups) is for its owner only.
    os.umask(0o077)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autocoin.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
