"""The append-only, HMAC-chained audit log (DESIGN §4.5).

Every service write calls ``audit_record`` inside its own transaction, so the
record and the change commit or roll back together. The log is a few chains,
its lanes (decision 0017): on PostgreSQL a writing transaction takes a free
lane's advisory lock and holds it to its commit, so two writers never chain onto
the same predecessor and never wait for each other while a lane is free; SQLite
has a single writer (BEGIN IMMEDIATE) and one lane.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from contextlib import nullcontext
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from . import context
from .models import AuditRecord
from .models.audit import AuditOutcome
from .rows import Batch, row_insert

# Fields whose content the MAC covers, in a fixed order.
CHAINED_FIELDS = (
    "seq", "created_at", "subdistrict_id", "actor_id", "actor_username", "actor_role", "actor_org_unit",
    "action", "object_type", "object_id", "object_repr", "outcome", "reason", "changes",
    "request_id", "ip", "user_agent", "prev_mac",
)


def _key() -> bytes:
    if not settings.AUDIT_KEY:
        raise ImproperlyConfigured("JIEDAO_AUDIT_KEY must be set")
    return settings.AUDIT_KEY.encode()


def canonical(values: dict) -> bytes:
    data = {}
    for name in CHAINED_FIELDS:
        v = values.get(name)
        if name == "created_at" and v is not None:
            v = v.astimezone(dt_utc()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        data[name] = v if v is not None else ""
    data["subdistrict_id"] = str(data["subdistrict_id"])
    data["actor_id"] = str(data["actor_id"])
    data["seq"] = str(data["seq"])
    if values.get("lane"):  # records of lane 0 (all of them before decision 0017) keep their content and MAC
        data["lane"] = str(values["lane"])
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def dt_utc():
    import datetime as dt

    return dt.UTC


def compute_mac(values: dict) -> str:
    return hmac.new(_key(), canonical(values), hashlib.sha256).hexdigest()


def _stringify(value):
    if value is None:
        return None
    if isinstance(value, (str, int, bool)):
        return value
    return str(value)


def diff(before: dict, after: dict, *, masked: dict | None = None) -> dict:
    """Changed fields as {field: [before, after]}; ``masked`` maps encrypted fields to a mask function."""
    masked = masked or {}
    out = {}
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name), after.get(name)
        if b == a:
            continue
        if name in masked:
            b, a = masked[name](b), masked[name](a)
        out[name] = [_stringify(b), _stringify(a)]
    return out


def _actor_fields(actor) -> dict:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {"actor_id": None, "actor_username": getattr(actor, "username", "") or "", "actor_role": "", "actor_org_unit": ""}
    from .scoping import user_scope

    scope = user_scope(actor)
    role = ",".join(sorted(scope.roles)) or ("superuser" if actor.is_superuser else "")
    return {
        "actor_id": actor.pk,
        "actor_username": actor.username,
        "actor_role": role[:64],
        "actor_org_unit": scope.primary_unit_name[:128],
    }


@dataclass
class _Obj:
    type: str = ""
    id: str = ""
    repr: str = ""


def _describe(obj) -> _Obj:
    if obj is None:
        return _Obj()
    return _Obj(f"{obj._meta.app_label}.{obj._meta.model_name}", str(obj.pk), str(obj)[:200])


def audit_record(
    *,
    actor,
    action: str,
    obj=None,
    subdistrict_id: int | None = None,
    outcome: str = AuditOutcome.SUCCESS,
    reason: str = "",
    changes: dict | None = None,
    object_type: str = "",
    object_id: str = "",
    username: str = "",
    batch: Batch | None = None,
    commit: bool = False,
    after_lock: Batch | None = None,
) -> AuditRecord:
    """Append one record. ``batch``: the caller's other writes of this transaction, sent in the same round trip
    as the chain-head read (kernel.rows.Batch); ``obj`` is described after they ran, so it may be one of them.
    ``after_lock``: writes that must follow the lane's lock, because other writers write the same rows (the
    evaluation figures; one order of locks — case, lane, figures — so no deadlock). ``commit=True``: the record is the
    last write of the caller's own, outermost ``atomic`` block, and the same message commits it
    (``Batch.run(commit=True)``; one round trip fewer on PostgreSQL) with the ``after_lock`` writes."""
    ctx = context.current()
    # Everything but the object and the chain is known now, before the batch runs.
    values = {
        **_actor_fields(actor),
        "created_at": timezone.now(),
        "action": action,
        "outcome": str(outcome),
        "reason": reason or "",
        "changes": changes or {},
        "request_id": ctx.request_id,
        "ip": ctx.ip,
        "user_agent": ctx.user_agent[:255],
    }
    if username and not values["actor_username"]:
        values["actor_username"] = username[:150]
    if commit and not connection.in_atomic_block:
        raise ValueError("audit_record(commit=True) belongs at the end of the caller's transaction")
    # Inside the caller's transaction no savepoint: the record commits or rolls back with the change it records.
    with nullcontext() if commit else transaction.atomic(savepoint=False):
        batch = batch or Batch()
        head: list = []
        if connection.vendor == "postgresql":  # SQLite: BEGIN IMMEDIATE made this the only writer
            from psycopg import IsolationLevel

            level = getattr(connection, "isolation_level", None)  # Django's, from the OPTIONS; PostgreSQL's default
            if level not in (None, IsolationLevel.READ_COMMITTED, IsolationLevel.READ_UNCOMMITTED):
                # A snapshot older than the lane's lock would miss its last record: refused, not a failed INSERT.
                raise ImproperlyConfigured("audit records are appended under READ COMMITTED only")
            # Before the caller's statements, so the lane comes before the rows they lock after (the figures).
            batch.add_first(_lane_sql(), [_ADVISORY_LOCK_ID, _ADVISORY_LOCK_ID])
        if after_lock is not None and not commit:
            batch.extend(after_lock)
        # Under READ COMMITTED the head read has its own snapshot, taken after the lane's lock was granted: it sees
        # every record of the lane's previous holder (tests/journeys/test_concurrency.py).
        batch.add(_head_sql(), (), head.extend)
        batch.run()
        # The object is described only now: it may be one of the batch's rows (its number comes back with the
        # INSERT).
        described = _describe(obj)
        if subdistrict_id is None and obj is not None:
            subdistrict_id = getattr(obj, "subdistrict_id", None)
        values.update({
            "subdistrict_id": subdistrict_id,
            "object_type": object_type or described.type,
            "object_id": object_id or described.id,
            "object_repr": described.repr,
        })
        record = _chained(values, head)
        if not commit:
            return row_insert(record)
        last = Batch()
        last.insert(record)
        if after_lock is not None:
            last.extend(after_lock)
        last.run(commit=True)
        return record


def _chained(values: dict, head: list) -> AuditRecord:
    lane, seq, mac = head[0] if head else (0, None, "")
    values["lane"] = lane
    values["seq"], values["prev_mac"] = (seq + 1, mac) if seq is not None else (1, "")
    values["mac"] = compute_mac(values)
    return AuditRecord(**values)


_ADVISORY_LOCK_ID = 0x4A494544  # "JIED": the first key of every lane's advisory lock, the lane the second


def _lane_sql() -> str:
    return _lane_sql_for(settings.AUDIT_LANES)


@functools.cache
def _lane_sql_for(lanes: int) -> str:
    """One statement that leaves the transaction holding a lane's lock and names it in ``jiedao.audit_lane`` (a
    setting local to the transaction, as ``<transaction id>:<lane>``, so a value set for a role or database — or
    anything but this very transaction — is never taken for a lock held): the lane this transaction already holds;
    else the first free one, trying from a place that depends on the backend (two writers rarely try the same
    lanes first); else, all taken, it waits for its own. PostgreSQL evaluates COALESCE's arguments only as far as
    needed, so no second lock is taken (kernel/tests/test_audit.py checks pg_locks)."""
    # ``lanes`` is an int from the settings; the lock's key is a parameter. Built once per value: every audited
    # write sends it.
    held = ("CASE WHEN split_part(current_setting('jiedao.audit_lane', true), ':', 1) = pg_current_xact_id()::text"
            " THEN split_part(current_setting('jiedao.audit_lane', true), ':', 2) END")
    try_free = (f"(SELECT (mod(pg_backend_pid() + i, {lanes}))::text FROM generate_series(0, {lanes - 1}) i"  # noqa: S608
                f" WHERE pg_try_advisory_xact_lock(%s, mod(pg_backend_pid() + i, {lanes})) LIMIT 1)")
    wait_own = (f"(SELECT mod(pg_backend_pid(), {lanes})::text"  # noqa: S608
                f" FROM (SELECT pg_advisory_xact_lock(%s, mod(pg_backend_pid(), {lanes}))) AS waited)")
    return (f"SELECT set_config('jiedao.audit_lane', pg_current_xact_id()::text || ':' || COALESCE({held}, "
            f"{try_free}, {wait_own}), true)")


def _head_sql() -> str:
    """The lane, its last seq and MAC (NULLs for an empty lane)."""
    table = connection.ops.quote_name(AuditRecord._meta.db_table)
    if connection.vendor != "postgresql":
        return f"SELECT lane, seq, mac FROM {table} WHERE lane = 0 ORDER BY seq DESC LIMIT 1"  # noqa: S608
    return ("SELECT mine.lane, head.seq, head.mac FROM"  # noqa: S608
            " (SELECT split_part(current_setting('jiedao.audit_lane'), ':', 2)::int AS lane) mine"
            f" LEFT JOIN LATERAL (SELECT seq, mac FROM {table} WHERE lane = mine.lane"
            " ORDER BY seq DESC LIMIT 1) head ON true")


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    record_id: int | None
    problem: str
    lane: int = 0


def audit_verify(*, batch: int = 5000) -> list[ChainProblem]:
    """Walk each lane's chain in order; report every broken record (the first one of a lane is the one that
    matters there)."""
    problems: list[ChainProblem] = []
    lanes = AuditRecord.objects.order_by("lane").values_list("lane", flat=True).distinct()
    fields = [*CHAINED_FIELDS, "lane", "mac", "id"]
    for lane in list(lanes):
        expected_seq = 1
        prev_mac = ""
        last_seq = 0
        qs = AuditRecord.objects.filter(lane=lane).order_by("seq")
        while True:
            rows = list(qs.filter(seq__gt=last_seq).values(*fields)[:batch])
            if not rows:
                break
            for row in rows:
                if row["seq"] != expected_seq:
                    problems.append(ChainProblem(expected_seq, None, f"records {expected_seq}–{row['seq'] - 1} are "
                                                 "missing", lane))
                elif row["prev_mac"] != prev_mac:
                    problems.append(ChainProblem(row["seq"], row["id"], "link to the previous record is broken", lane))
                if not hmac.compare_digest(compute_mac(row), row["mac"]):
                    problems.append(ChainProblem(row["seq"], row["id"], "content does not match its MAC (altered)",
                                                 lane))
                prev_mac = row["mac"]
                expected_seq = row["seq"] + 1
                last_seq = row["seq"]
    return problems
