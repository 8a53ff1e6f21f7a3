from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from jiedao.kernel.audit import audit_record
from jiedao.kernel.pii import crypto
from jiedao.kernel.pii.fields import EncryptedTextField


class Command(BaseCommand):
    help = ("Re-encrypt every encrypted field with the current key (the first in JIEDAO_PII_KEYS). "
            "Put the new key first, keep the old ones after it, run this, then drop the old keys.")

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=1000)

    def handle(self, *args, batch, **options):
        current = crypto.keyring().current_id
        total = 0
        for model in apps.get_models():
            fields = [f for f in model._meta.get_fields() if isinstance(f, EncryptedTextField)]
            if not fields:
                continue
            names = [f.attname for f in fields]
            last = 0
            while True:
                with transaction.atomic():
                    # Raw values: only rows whose ciphertext is under an old key need work.
                    rows = list(model._base_manager.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch])
                    if not rows:
                        break
                    objs = list(model._base_manager.filter(pk__in=rows))
                    model._base_manager.bulk_update(objs, names)  # get_prep_value encrypts under the current key
                    total += len(objs)
                    last = rows[-1]
        audit_record(actor=None, action="pii.rotate_key", changes={"current_key": [None, current], "rows": [None, total]})
        self.stdout.write(self.style.SUCCESS(f"re-encrypted {total} rows under key {current!r}"))
