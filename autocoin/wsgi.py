"""WSGI entry point for autocoin's web process."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

# Everything this process creates (the SQLite database, its -wal/-shm) is for its owner only.
os.umask(0o077)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autocoin.settings")

application = get_wsgi_application()
