import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = ("Create the superuser OMS_ADMIN_USER (default 'admin') with password "
            "OMS_ADMIN_PASSWORD (default 'admin') unless it exists; print the login.")

    def handle(self, *args, **options):
        username = os.environ.get("OMS_ADMIN_USER", "admin")
        password = os.environ.get("OMS_ADMIN_PASSWORD", "admin")
        user_model = get_user_model()
        if user_model.objects.filter(username=username).exists():
            self.stdout.write(f"Admin login: {username} (existing user; password unchanged)")
            return
        user_model.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(f"Admin login: {username} / {password}")
