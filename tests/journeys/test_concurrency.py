"""Concurrent writers on PostgreSQL: the audit chain never forks; stale versions lose cleanly."""

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


def test_concurrent_audit_appends_keep_one_chain(transactional_db):
    _require_pg()

    def append(i):
        for j in range(20):
            audit_record(actor=None, action="test.concurrent", changes={"n": [None, f"{i}-{j}"]})

    _, errors = _run_threads(6, append)
    assert errors == []
    assert audit_verify() == []
    from jiedao.kernel.models import AuditRecord

    seqs = list(AuditRecord.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 120


def test_appends_that_lock_only_in_their_last_message_keep_one_chain(transactional_db):
    """Decision 0016: writers whose record commits with their transaction chain onto the head they read without
    the lock; when another record came first, theirs is chained again. Mixed with writers that lock first."""
    _require_pg()
    from django.db import transaction

    from jiedao.kernel.models import AuditRecord
    from jiedao.kernel.rows import Batch

    def append(i):
        for j in range(20):
            if i % 3 == 2:  # the locking kind
                audit_record(actor=None, action="test.locking", changes={"n": [None, f"{i}-{j}"]})
                continue
            with transaction.atomic():
                writes = Batch()
                writes.add("SELECT pg_sleep(0.001)", ())  # other writes before the head read
                audit_record(actor=None, action="test.speculating", changes={"n": [None, f"{i}-{j}"]}, batch=writes,
                             commit=True)

    _, errors = _run_threads(6, append)
    assert errors == []
    assert audit_verify() == []
    seqs = list(AuditRecord.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 121))
    assert AuditRecord.objects.filter(action="test.speculating").count() == 80


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
