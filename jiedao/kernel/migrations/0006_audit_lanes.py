"""Audit lanes (decision 0017): existing records are lane 0; (lane, seq) unique instead of seq.

The new constraint is created before the old one is dropped, so seq is never unconstrained. On PostgreSQL the column
comes with a constant default, kept in the database (no table rewrite, no UPDATE for the append-only trigger to
refuse; a process of the previous release still inserts during a rolling deploy).
"""

from django.db import migrations, models


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
    ]
