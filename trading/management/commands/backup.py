"""A consistent copy of the SQLite database while the web and engine processes keep writing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from trading.files import private_file_create


class Command(BaseCommand):
    help = "Write a consistent copy of the SQLite database (SQLite's online backup), safe while autocoin runs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", help="where to write the copy (default: backups/autocoin-<UTC time>.sqlite3)")

    def handle(self, *args: object, **options: object) -> None:
        database = settings.DATABASES["default"]
        if database["ENGINE"] != "django.db.backends.sqlite3":
            raise CommandError("backup copies the SQLite database; for PostgreSQL use pg_dump (see README)")
        source_path = Path(database["NAME"])
        if not source_path.is_file():
            raise CommandError(f"no database at {source_path}; run `make run` or `python manage.py migrate` first")
        target = options.get("path") or str(Path(settings.BACKUP_DIR) / f"autocoin-{timezone.now():%Y%m%dT%H%M%SZ}.sqlite3")
        target_path = Path(str(target)).expanduser().resolve()
        if target_path == source_path.resolve():
            raise CommandError("the backup path is the live database itself; choose another path")
        if target_path.exists():
            raise CommandError(f"{target_path} already exists; choose a new path (nothing was overwritten)")
        target_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = target_path.with_name(target_path.name + ".partial")
        partial.unlink(missing_ok=True)  # left by an interrupted run
        # The copy holds session keys: it is 0600 from its first byte (SQLite keeps an existing file's mode).
        private_file_create(partial)
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=settings.SQLITE_BUSY_TIMEOUT_SEC)
        destination = sqlite3.connect(partial)
        try:
            # Copy in steps so the writers are never blocked for long; SQLite restarts the copy itself
            # if a writer changes a page that was already copied, so the result is one consistent snapshot.
            source.backup(destination, pages=1024)
            destination.execute("PRAGMA journal_mode=DELETE")
            check = destination.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            destination.close()
            source.close()
        if check != "ok":
            partial.unlink(missing_ok=True)
            raise CommandError(f"the copy failed its integrity check ({check}); nothing was written")
        partial.rename(target_path)
        self.stdout.write(f"autocoin: backup written to {target_path} ({target_path.stat().st_size:,} bytes)")
