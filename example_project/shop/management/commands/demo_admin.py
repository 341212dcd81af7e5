"""Create the demo's admin user, or give it a new password, and print the login."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

USERNAME = "admin"


class Command(BaseCommand):
    help = (
        "Create the superuser 'admin' for the demo, or reset its password when it "
        "exists, and print the new password."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        password = secrets.token_urlsafe(12)
        user, created = get_user_model().objects.get_or_create(
            username=USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        verb = "Created" if created else "Reset the password of"
        self.stdout.write(f"{verb} the demo's admin user.")
        self.stdout.write("  Admin: http://127.0.0.1:8000/admin/")
        self.stdout.write(f"  Username: {USERNAME}")
        self.stdout.write(f"  Password: {password}")
