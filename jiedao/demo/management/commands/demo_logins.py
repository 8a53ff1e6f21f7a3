from django.conf import settings
from django.core.management.base import BaseCommand

from jiedao.demo import loader


class Command(BaseCommand):
    help = "Print the demo logins."

    def handle(self, *args, **options):
        self.stdout.write("Demo logins (password for all: %s):" % settings.DEMO_PASSWORD)
        for username, label in loader.demo_users():
            self.stdout.write(f"  {username:<20} {label}")
