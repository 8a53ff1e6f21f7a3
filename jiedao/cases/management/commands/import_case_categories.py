from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from jiedao.cases.categories import DATA_FILE, build_data_file


class Command(BaseCommand):
    help = "Build jiedao/cases/data/categories.csv from the reference table (shared/data/case-categories.csv)."

    def add_arguments(self, parser):
        parser.add_argument("source", type=Path)

    def handle(self, *args, source: Path, **options):
        if not source.exists():
            raise CommandError(f"{source} not found")
        counts = build_data_file(source)
        self.stdout.write(self.style.SUCCESS(f"wrote {DATA_FILE}: {counts}"))
