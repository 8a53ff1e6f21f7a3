"""row_insert / row_get give the rows and objects that save() and get() give."""

import datetime as dt

import pytest
from django.db.models import signals

from jiedao.kernel.models import AuditRecord, Subdistrict
from jiedao.kernel.rows import row_get, row_insert

pytestmark = pytest.mark.django_db


def _values(model, pk):
    return model.objects.filter(pk=pk).values().get()


def test_row_insert_writes_what_save_writes():
    sub = Subdistrict.objects.create(code="310110999", name="测试街道")
    at = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)
    fields = {"seq": 10**9, "created_at": at, "subdistrict": sub, "action": "test.rows", "object_type": "x",
              "object_id": "1", "changes": {"名称": [None, "新"], "n": [1, 2]}, "mac": "m" * 64}
    by_save = AuditRecord(**fields)
    by_save.save()
    by_row = row_insert(AuditRecord(**{**fields, "seq": 10**9 + 1}))
    assert by_row.pk and not by_row._state.adding and by_row._state.db == "default"
    a, b = _values(AuditRecord, by_save.pk), _values(AuditRecord, by_row.pk)
    assert {k: v for k, v in a.items() if k not in ("id", "seq")} == {k: v for k, v in b.items() if k not in ("id", "seq")}


def test_row_get_reads_what_get_reads():
    sub = Subdistrict.objects.create(code="310110998", name="测试街道二")
    got = row_get(Subdistrict, sub.pk)
    orm = Subdistrict.objects.get(pk=sub.pk)
    assert got == orm and not got._state.adding
    assert {f.attname: getattr(got, f.attname) for f in Subdistrict._meta.concrete_fields} == \
           {f.attname: getattr(orm, f.attname) for f in Subdistrict._meta.concrete_fields}
    assert row_get(Subdistrict, 10**9) is None


def test_row_insert_refuses_what_it_cannot_do_like_save():
    sub = Subdistrict.objects.create(code="310110997", name="测试街道三")
    with pytest.raises(ValueError):
        row_insert(sub)  # already has an id

    def receiver(**kwargs):
        pass

    signals.post_save.connect(receiver, sender=AuditRecord)
    try:
        with pytest.raises(TypeError):
            row_insert(AuditRecord(seq=1, created_at=dt.datetime.now(dt.UTC), action="x", mac="m"))
    finally:
        signals.post_save.disconnect(receiver, sender=AuditRecord)
