from django.conf import settings
from django.core.management.base import BaseCommand

from jiedao.demo import loader


class Command(BaseCommand):
    help = "Print the demo logins."

    def handle(self, *args, **options):
        self.stdout.write("Demo logins (password for all: %s):" % settings.DEMO_PASSWORD)
        for username, label in loader.demo_users():
            self.stdout.write(f"  {username:<20} {label}")
        import os

        from jiedao.demo.cases import OPEN311_DEMO_KEY

        base = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
        self.stdout.write(f"Open311 GeoReport v2: {base}/open311/v2/discovery.json  api_key={OPEN311_DEMO_KEY}")
        from jiedao.demo.loader import SUBDISTRICT_CODE
        from jiedao.kernel.selectors import public_subdistrict

        link = f"{base}/report/?sd={SUBDISTRICT_CODE}" if public_subdistrict(SUBDISTRICT_CODE) else f"{base}/report/"
        self.stdout.write(f"Residents' public report page (no login): {link}")
