"""Blind indexes cut from 64 to 32 hex characters (kernel.pii.crypto.BLIND_INDEX_CHARS);
phone_bidx keeps one b-tree (PostgreSQL also had a LIKE index on it, which no query uses).

The stored value is the hex of the same HMAC, so forwards is a plain substr of what is
there. Backwards needs the whole HMAC again: it is recomputed from the decrypted values
(with the keys of the deployment), as `person_create` computes it.
"""

from django.db import migrations, models
from django.db.models.functions import Substr

CHARS = 32


def cut(apps, schema_editor):
    Person = apps.get_model("people", "Person")
    db = schema_editor.connection.alias
    # One UPDATE; substr leaves empty and already-short values as they are.
    Person.objects.using(db).update(id_number_bidx=Substr("id_number_bidx", 1, CHARS),
                                    phone_bidx=Substr("phone_bidx", 1, CHARS))


def recompute_whole(apps, schema_editor):
    from jiedao.kernel.pii import crypto, idnumber
    from jiedao.kernel.pii import phone as phone_mod

    Person = apps.get_model("people", "Person")
    db = schema_editor.connection.alias
    index = crypto.blind_indexer(chars=64)
    batch = []
    for p in Person.objects.using(db).only("id", "id_number", "phone").iterator(chunk_size=2000):
        p.id_number_bidx = index("id", idnumber.normalise(p.id_number)) if p.id_number else ""
        p.phone_bidx = index("phone", phone_mod.normalise(p.phone)) if p.phone else ""
        batch.append(p)
        if len(batch) == 2000:
            Person.objects.using(db).bulk_update(batch, ["id_number_bidx", "phone_bidx"])
            batch = []
    Person.objects.using(db).bulk_update(batch, ["id_number_bidx", "phone_bidx"])


class Migration(migrations.Migration):

    dependencies = [
        ("people", "0004_fewer_indexes"),
    ]

    operations = [
        migrations.RunPython(cut, recompute_whole),
        migrations.AlterField(
            model_name="person",
            name="id_number_bidx",
            field=models.CharField(blank=True, default="", editable=False, max_length=32),
        ),
        migrations.AlterField(
            model_name="person",
            name="phone_bidx",
            field=models.CharField(blank=True, default="", editable=False, max_length=32),
        ),
        # The same b-tree without PostgreSQL's extra varchar_pattern_ops ("_like") index.
        migrations.AddIndex(
            model_name="person",
            index=models.Index(fields=["phone_bidx"], name="person_phone_bidx"),
        ),
    ]
