"""Static file storage that serves hashed, compressed names once `collectstatic` has run, and the plain
names before it (a bare `runserver` on a fresh checkout still renders every page)."""

from __future__ import annotations

from typing import Any

from whitenoise.storage import CompressedManifestStaticFilesStorage


class ForgivingManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):  # type: ignore[misc]  # whitenoise ships no types
    manifest_strict = False

    def hashed_name(self, name: str, content: Any = None, filename: str | None = None) -> str:
        try:
            hashed: str = super().hashed_name(name, content, filename)
        except ValueError:
            # Not collected yet: whitenoise (WHITENOISE_USE_FINDERS) serves the file under its plain name.
            return name
        return hashed
