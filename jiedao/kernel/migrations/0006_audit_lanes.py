"""Audit lanes (decision 0017): existing records are lane 0; (lane, seq) unique instead of seq.

The new constraint is created before the old one is dropped, so seq is never unconstrained. On PostgreSQL the column
comes with a constant default (no table rewrite, no UPDATE for the append-only trigger to refuse), but the CHECK on
it and the new unique index read the whole log under the table's exclusive lock: audited writes wait meanwhile.
Stop every process that writes (web, Celery, beat) before migrating — a process of the previous release would
chain onto another lane's head and break lane 0 for good (docs/decisions/0017-audit-lanes.md). Going back is
refused once a record is in another lane than 0: without the column those records could not be verified.
"""

from django.core.exceptions import ImproperlyConfigured
from django.db import migrations, models


def _refuse_if_lanes_used(apps, schema_editor):
    if apps.get_model("kernel", "AuditRecord").objects.exclude(lane=0).exists():
        raise ImproperlyConfigured("audit records in lanes other than 0 exist: kernel.0006 cannot be reversed")


class Migration(migrations.Migration):

    dependencies = [
        ('kernel', '0005_audit_lean_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditrecord',
            name='lane',
            field=models.PositiveSmallIntegerField(db_default=0, default=0),
        ),
        migrations.AddConstraint(
            model_name='auditrecord',
            constraint=models.UniqueConstraint(fields=('lane', 'seq'), name='kernel_audit_lane_seq'),
        ),
        migrations.AlterField(
            model_name='auditrecord',
            name='seq',
            field=models.BigIntegerField(),
        ),
        migrations.RunPython(migrations.RunPython.noop, _refuse_if_lanes_used),
    ]
