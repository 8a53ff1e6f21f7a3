"""Report events of anonymous intake held the reporter's full name as their actor; keep the channel and the
masked name instead (services.intake.reporter_label)."""

from django.db import migrations


def mask(apps, schema_editor):
    from jiedao.cases.services.intake import reporter_label

    CaseEvent = apps.get_model("cases", "CaseEvent")
    events = CaseEvent.objects.filter(action="report", actor__isnull=True).select_related("case")
    for event in events.iterator(chunk_size=2000):
        label = reporter_label(event.case.source, event.case.reporter_name)
        if event.actor_name != label:
            CaseEvent.objects.filter(pk=event.pk).update(actor_name=label)


class Migration(migrations.Migration):
    dependencies = [("cases", "0009_lean_event_indexes")]
    operations = [migrations.RunPython(mask, migrations.RunPython.noop)]
