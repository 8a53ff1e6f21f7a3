"""Concurrent writers on PostgreSQL: no lane of the audit log ever forks; stale versions lose cleanly."""

import threading

import pytest
from django.db import connection, connections

from jiedao.kernel.audit import audit_record, audit_verify
from jiedao.kernel.exceptions import ConflictError
from jiedao.people.models import Person
from jiedao.people.services import person_update

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("postgres-concurrency")]


def _require_pg():
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")


def _run_threads(n, target):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def work(i):
        try:
            barrier.wait()
            results.append(target(i))
        except Exception as exc:  # collected and asserted by the caller
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def _lanes_without_gaps():
    """Each lane's seqs 1..n (decision 0017); the number of records in each lane."""
    from jiedao.kernel.models import AuditRecord

    by_lane: dict[int, list[int]] = {}
    for lane, seq in AuditRecord.objects.order_by("lane", "seq").values_list("lane", "seq"):
        by_lane.setdefault(lane, []).append(seq)
    for seqs in by_lane.values():
        assert seqs == list(range(1, len(seqs) + 1))
    return {lane: len(seqs) for lane, seqs in by_lane.items()}


@pytest.mark.parametrize("lanes", [16, 1])
def test_concurrent_audit_appends_keep_their_chains(transactional_db, settings, lanes):
    """Six writers at once: with 16 lanes they take different lanes; with one, they queue on it. Either way every
    lane is one chain without gaps and the log verifies."""
    _require_pg()
    from django.db import transaction

    from jiedao.kernel.rows import Batch

    settings.AUDIT_LANES = lanes

    def append(i):
        for j in range(20):
            if i % 3 == 2:  # a record inside the caller's transaction, then more of the caller's work
                with transaction.atomic():
                    audit_record(actor=None, action="test.inside", changes={"n": [None, f"{i}-{j}"]})
                    audit_record(actor=None, action="test.inside", changes={"n": [None, f"{i}-{j}b"]})
                continue
            with transaction.atomic():  # the record ends the transaction (an intake)
                writes = Batch()
                writes.add("SELECT pg_sleep(0.001)", ())  # other writes before the head read
                audit_record(actor=None, action="test.last", changes={"n": [None, f"{i}-{j}"]}, batch=writes,
                             commit=True)

    _, errors = _run_threads(6, append)
    assert errors == []
    assert audit_verify() == []
    counts = _lanes_without_gaps()
    assert sum(counts.values()) == 160
    if lanes == 1:
        assert set(counts) == {0}
    else:
        assert len(counts) > 1  # writers did not queue on one lane


def test_two_editors_with_the_same_version_exactly_one_wins(transactional_db):
    _require_pg()
    from conftest import build_town

    town = build_town("TC", "丙街道", 121.40, 31.10, 7)
    person_id = town.people["p1"].pk
    staff = town.users["rc_staff"]

    def edit(i):
        person = Person.objects.get(pk=person_id)
        return person_update(actor=staff, person=person, expected_version=1, name=f"编辑{i}").name

    results, errors = _run_threads(4, edit)
    assert len(results) == 1 and len(errors) == 3
    assert all(isinstance(e, ConflictError) for e in errors)
    assert Person.objects.get(pk=person_id).name == results[0]
    assert audit_verify() == []
