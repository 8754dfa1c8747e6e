"""Create the admin user on first run: from DJANGO_SUPERUSER_USERNAME/PASSWORD, or with a generated
password printed once."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the admin user if no superuser exists yet (password from DJANGO_SUPERUSER_PASSWORD or generated)."

    def handle(self, *args: object, **options: object) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "").strip() or "admin"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(15)
        else:
            # The same rules as a password set in the admin (AUTH_PASSWORD_VALIDATORS).
            try:
                validate_password(password, user=User(username=username))
            except ValidationError as error:
                raise CommandError(f"DJANGO_SUPERUSER_PASSWORD is refused: {' '.join(error.messages)}") from None
        User.objects.create_superuser(username=username, email="", password=password)
        if generated:
            self.stdout.write(
                f"autocoin: created admin user {username!r} with password {password}\n"
                "          (shown once: write it down, or change it with `python manage.py changepassword`)"
            )
        else:
            self.stdout.write(f"autocoin: created admin user {username!r} from DJANGO_SUPERUSER_PASSWORD")
