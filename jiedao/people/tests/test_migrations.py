from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from conftest import build_town
from jiedao.kernel.pii import crypto
from jiedao.people.selectors import person_list


def _migrate(app_migration: str) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("people", app_migration)])


def _stored(person_id: int) -> tuple[str, str]:
    with connection.cursor() as cur:
        cur.execute("SELECT id_number_bidx, phone_bidx FROM people_person WHERE id = %s", [person_id])
        return cur.fetchone()


def test_0005_cuts_blind_indexes_to_32_and_search_still_finds_the_person(transactional_db):
    town = build_town("T1", "甲街道", 121.50, 31.33, 1)
    p1 = town.people["p1"]
    whole = crypto.blind_indexer(chars=64)
    try:
        _migrate("0004_fewer_indexes")  # backwards: the whole HMACs, recomputed from the decrypted values
        assert _stored(p1.pk) == (whole("id", p1.id_number), whole("phone", "13800000001"))
        _migrate("0005_shorter_blind_indexes")
    finally:
        _migrate("0005_shorter_blind_indexes")
    stored = _stored(p1.pk)
    assert stored == (whole("id", p1.id_number)[:32], whole("phone", "13800000001")[:32])
    assert stored == (crypto.blind_index("id", p1.id_number), crypto.blind_index("phone", "13800000001"))
    rc = town.users["rc_staff"]
    assert list(person_list(user=rc, q=p1.id_number)) == [p1]
    assert list(person_list(user=rc, q="138 0000 0001")) == [p1]


def test_person_has_only_the_indexes_its_queries_use(db):
    # Every index is written by every imported row: scoping uses compound_id and grid_id, search the
    # phone blind index, and registration the unique (subdistrict, ID blind index) — nothing else
    # (no LIKE index on a blind index on PostgreSQL, no single-column subdistrict or ID index).
    with connection.cursor() as cur:
        constraints = connection.introspection.get_constraints(cur, "people_person")
    indexed = sorted(tuple(c["columns"]) for c in constraints.values() if c["index"] and not c["primary_key"])
    assert indexed == [("compound_id",), ("grid_id",), ("phone_bidx",), ("subdistrict_id", "id_number_bidx")]
