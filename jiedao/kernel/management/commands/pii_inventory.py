from django.core.management.base import BaseCommand

from jiedao.kernel.pii.inventory import INVENTORY, render_markdown


class Command(BaseCommand):
    help = "Print the inventory of personal fields as Markdown (docs/personal-information.md is made from it)."

    def handle(self, *args, **options):
        self.stdout.write(render_markdown(INVENTORY), ending="")
