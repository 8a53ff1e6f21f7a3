from django.core.management.base import BaseCommand, CommandError
from django.db.models import OuterRef, Subquery

from jiedao.kernel.audit import audit_verify
from jiedao.kernel.models import AuditRecord


class Command(BaseCommand):
    help = ("Walk the audit log's hash chains (one per lane) and name the first record that was altered or removed; "
            "print each lane's last seq and MAC, the anchors to keep outside the database.")

    def handle(self, *args, **options):
        total = AuditRecord.objects.count()
        problems = audit_verify()
        # Removing a lane's newest records (or a whole lane) cannot be seen from the chains: compare these lines
        # with the ones shipped to the external log last time (docs/operations.md).
        lane_last = AuditRecord.objects.filter(lane=OuterRef("lane")).order_by("-seq").values("seq")[:1]
        for lane, seq, mac in AuditRecord.objects.filter(seq=Subquery(lane_last)).order_by("lane") \
                .values_list("lane", "seq", "mac"):
            self.stdout.write(f"anchor lane {lane} seq {seq} mac {mac}")
        if not problems:
            self.stdout.write(self.style.SUCCESS(f"OK: {total} audit records, chain intact."))
            return
        first = problems[0]
        for p in problems[:20]:
            self.stdout.write(f"lane {p.lane} seq {p.seq} (id {p.record_id}): {p.problem}")
        raise CommandError(f"audit chain broken: first bad record is lane {first.lane} seq {first.seq} "
                           f"(id {first.record_id}): {first.problem}; {len(problems)} problem(s) in {total} records")
