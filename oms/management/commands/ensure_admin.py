import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

PASSWORD_FILE = "admin-password"


class Command(BaseCommand):
    help = ("Create the superuser OMS_ADMIN_USER (default 'admin') unless it exists, with the "
            "password OMS_ADMIN_PASSWORD or, when that is unset, a random one kept in "
            "var/admin-password (readable by the owner only); print the login.")

    def handle(self, *args, **options):
        username = os.environ.get("OMS_ADMIN_USER", "admin")
        password_file = Path(settings.VAR_DIR) / PASSWORD_FILE
        user_model = get_user_model()
        if user_model.objects.filter(username=username).exists():
            where = f"; password in {password_file}" if password_file.exists() else "; password unchanged"
            self.stdout.write(f"Admin login: {username} (existing user{where})")
            return
        password = os.environ.get("OMS_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        user_model.objects.create_superuser(username=username, email="", password=password)
        if not os.environ.get("OMS_ADMIN_PASSWORD"):
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.touch(mode=0o600)
            password_file.write_text(password + "\n")
        self.stdout.write(f"Admin login: {username} / {password}")
