"""Report events of anonymous intake held the reporter's full name as their actor; keep the channel and the
masked name instead (what services.intake.reporter_label writes from now on, copied here as it was: a migration
must not change with the code)."""

from django.db import migrations

LABELS = {"grid_worker": "网格员巡查", "resident": "居民上报", "hotline": "12345热线", "sensor": "感知设备",
          "inspection": "巡查检查", "open311": "Open311", "staff": "工作人员录入"}
BATCH = 2000


def _mask(name: str) -> str:
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _label(source: str, name: str) -> str:
    label = LABELS.get(source, source)
    name = (name or "").strip()
    shown = name if source == "sensor" else _mask(name)
    return f"{label}（{shown}）" if shown else label


def mask(apps, schema_editor):
    CaseEvent = apps.get_model("cases", "CaseEvent")
    rows = CaseEvent.objects.filter(action="report", actor__isnull=True).order_by("pk") \
        .values_list("pk", "actor_name", "case__source", "case__reporter_name")
    changed = []
    for pk, actor_name, source, reporter_name in rows.iterator(chunk_size=BATCH):
        label = _label(source, reporter_name)
        if actor_name != label:
            changed.append(CaseEvent(pk=pk, actor_name=label))
        if len(changed) >= BATCH:
            CaseEvent.objects.bulk_update(changed, ["actor_name"])
            changed = []
    if changed:
        CaseEvent.objects.bulk_update(changed, ["actor_name"])


class Migration(migrations.Migration):
    dependencies = [("cases", "0009_lean_event_indexes")]
    operations = [migrations.RunPython(mask, migrations.RunPython.noop)]
