"""Case.number becomes a stored generated column (the INSERT fills it in; no follow-up UPDATE at intake).

A column cannot be altered into a generated one, so it is dropped and added again. Every existing number was
written by the same rule (local date of the report + the id, six digits at least), so the values stay the same.
"""

from django.db import migrations, models

import jiedao.cases.numbering


class Migration(migrations.Migration):

    dependencies = [
        ("cases", "0005_evaluation_figures"),
    ]

    operations = [
        migrations.RemoveField(model_name="case", name="number"),
        migrations.AddField(
            model_name="case",
            name="number",
            field=models.GeneratedField(db_index=True, db_persist=True, expression=jiedao.cases.numbering.CaseNumber(),
                                        output_field=models.CharField(max_length=32), verbose_name="案件编号"),
        ),
    ]
