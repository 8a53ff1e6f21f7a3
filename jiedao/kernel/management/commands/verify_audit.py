from django.core.management.base import BaseCommand, CommandError

from jiedao.kernel.audit import audit_verify
from jiedao.kernel.models import AuditRecord


class Command(BaseCommand):
    help = "Walk the audit log's hash chains (one per lane) and name the first record that was altered or removed."

    def handle(self, *args, **options):
        total = AuditRecord.objects.count()
        problems = audit_verify()
        if not problems:
            self.stdout.write(self.style.SUCCESS(f"OK: {total} audit records, chain intact."))
            return
        first = problems[0]
        for p in problems[:20]:
            self.stdout.write(f"lane {p.lane} seq {p.seq} (id {p.record_id}): {p.problem}")
        raise CommandError(f"audit chain broken: first bad record is lane {first.lane} seq {first.seq} "
                           f"(id {first.record_id}): "
                           f"{first.problem}; {len(problems)} problem(s) in {total} records")
