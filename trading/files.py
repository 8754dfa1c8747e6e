"""Files that hold secrets or live session keys are readable by their owner only.

The SQLite database (and its `-wal`/`-shm`, which SQLite creates with the database's own mode), the
`backup` copies and `.env` are created 0600. The entry points (manage.py, wsgi, asgi) set a 0o077 umask
so that whatever else SQLite or Django creates is private too; files left looser by an older version,
a copy or an editor are tightened when a process first opens the database, with one warning each.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any

from django.conf import settings

PRIVATE_MODE = 0o600
logger = logging.getLogger("trading.files")

_tightened = threading.Event()
_tightening = threading.Lock()


def private_file_create(path: Path) -> None:
    """Create `path` empty and 0600 (FileExistsError if it is there): no moment at which others could read it."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        os.fchmod(descriptor, PRIVATE_MODE)  # the umask can only take bits away; this makes it exactly 0600
    finally:
        os.close(descriptor)


def private_file_tighten(path: Path) -> bool:
    """Make an existing file 0600 if group or others may use it, with one warning; True when changed."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if not mode & 0o077:
        return False
    try:
        path.chmod(PRIVATE_MODE)
    except PermissionError:
        logger.warning("%s is readable by others (mode %04o) and cannot be changed; run: chmod 600 %s", path, mode, path)
        return False
    logger.warning("%s was readable by others (mode %04o); changed to 0600", path, mode)
    return True


def private_paths(database: dict[str, Any]) -> list[Path]:
    """The files to keep private: the SQLite database with its -wal/-shm/-journal, the backups and .env."""
    paths = [Path(settings.ENV_FILE_PATH)]
    if database.get("ENGINE") == "django.db.backends.sqlite3":
        name = Path(str(database["NAME"]))
        paths += [name, *(name.with_name(name.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]
    backups = Path(settings.BACKUP_DIR)
    if backups.is_dir():
        paths += sorted(path for path in backups.iterdir() if path.is_file())
    return paths


def database_folder_problem(database: dict[str, Any]) -> str:
    """Why the SQLite database cannot be opened at all (its folder is missing), or "": a setting to fix, not an
    outage to wait out."""
    if database.get("ENGINE") != "django.db.backends.sqlite3":
        return ""
    name = Path(str(database["NAME"]))
    if name.parent.is_dir():
        return ""
    return (
        f"DATABASE_URL names the SQLite file {name}, but the folder {name.parent} does not exist; create it or fix DATABASE_URL"
    )


def private_files_tighten(database: dict[str, Any]) -> None:
    """Once per process, at the first database connection: tighten every private file that is looser."""
    if _tightened.is_set():
        return
    with _tightening:
        if _tightened.is_set():
            return
        for path in private_paths(database):
            private_file_tighten(path)
        _tightened.set()


def private_files_on_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    """`connection_created` receiver."""
    private_files_tighten(connection.settings_dict)


def private_files_forget() -> None:
    """Let the next connection check again (tests)."""
    _tightened.clear()
