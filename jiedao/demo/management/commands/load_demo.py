from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from jiedao.demo import loader


class Command(BaseCommand):
    help = "Load the 新江湾城 demo data (only into an empty database, and never with DJANGO_DEBUG off)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=2020)
        parser.add_argument("--people", type=int, default=5200)

    def handle(self, *args, seed, people, **options):
        if not settings.DEBUG:
            raise CommandError("load_demo runs only with DJANGO_DEBUG=1 (demo passwords must never reach production).")
        if not loader.database_is_empty():
            self.stdout.write("Demo data not loaded: the database already has data.")
            return
        loader.load(seed=seed, size=loader.DemoSize(people=people))
        self.stdout.write(self.style.SUCCESS("Loaded the 新江湾城 demo data."))
