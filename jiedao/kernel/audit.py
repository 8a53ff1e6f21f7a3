"""The append-only, HMAC-chained audit log (DESIGN §4.5).

Every service write calls ``audit_record`` inside its own transaction, so the
record and the change commit or roll back together. Appends are serialised
(a PostgreSQL advisory lock; SQLite's single writer with BEGIN IMMEDIATE) so
two writers can never both chain onto the same predecessor.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from contextlib import nullcontext
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from . import context
from .models import AuditRecord
from .models.audit import AuditOutcome
from .rows import Batch, row_insert

_ADVISORY_LOCK_ID = 0x4A494544  # "JIED"

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
    ``after_lock``: writes that must follow the append lock, because writers holding it write the same rows (the
    evaluation figures; one order of locks, so no deadlock). ``commit=True``: the record is the last write of the
    caller's own, outermost ``atomic`` block, and the same message commits it (``Batch.run(commit=True)``; one
    round trip fewer on PostgreSQL) — and on PostgreSQL the lock is taken only in that message (decision 0016)."""
    ctx = context.current()
    # Everything but the object is known now: built before the append lock, which every audited write waits for.
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
        speculate = commit and batch.one_trip
        if connection.vendor == "postgresql" and not speculate:  # SQLite: BEGIN IMMEDIATE did it
            # Before the caller's statements: every writer takes the append lock before the rows it writes after
            # (a transition locks its case, then this, then the evaluation figures); one order, so no deadlock
            # between an intake and a transition adding to the same figures (tests/journeys/test_case_races.py).
            batch.add_first(_LOCK_SQL, [_ADVISORY_LOCK_ID])
        if after_lock is not None and not speculate:
            batch.extend(after_lock)
        # Under READ COMMITTED the head read has its own snapshot, taken after the lock was granted: it sees every
        # record of the writer we waited for (tests/journeys/test_concurrency.py). Without the lock (speculating)
        # it is the head as last committed, which the final message checks.
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
        if not speculate:
            _commit_with(record, None, Batch())  # after_lock, if any, already ran under the lock above
            return record
        return _append_speculatively(record, values, after_lock)


def _chained(values: dict, head: list) -> AuditRecord:
    values["seq"], values["prev_mac"] = (head[0][0] + 1, head[0][1]) if head else (1, "")
    values["mac"] = compute_mac(values)
    return AuditRecord(**values)


def _commit_with(record: AuditRecord, after_lock: Batch | None, last: Batch) -> None:
    """``last``'s statements, the record's INSERT, the ``after_lock`` writes and COMMIT, in one message."""
    last.insert(record)
    if after_lock is not None:
        last.extend(after_lock)
    last.run(commit=True)


def _append_speculatively(record: AuditRecord, values: dict, after_lock: Batch | None) -> AuditRecord:
    """The last message of the caller's transaction on PostgreSQL: take the append lock, insert the record chained
    onto the head read before the lock, the ``after_lock`` writes, COMMIT. The lock is held only while that
    message runs instead of from the head read across a round trip and the MAC (decision 0016). If a record was
    appended since the head was read, ``seq`` is taken (unique): back to the savepoint, read the head again
    under the lock, chain onto it."""
    first = Batch()
    first.add(f"SAVEPOINT {_SAVEPOINT}", prepare=False)
    first.add(_LOCK_SQL, [_ADVISORY_LOCK_ID])
    try:
        _commit_with(record, after_lock, first)
        return record
    except IntegrityError as exc:
        if getattr(getattr(exc.__cause__, "diag", None), "table_name", None) != AuditRecord._meta.db_table:
            raise  # only the seq can clash: the id comes from its sequence
    head: list = []
    again = Batch()
    again.add(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}", prepare=False)
    again.add(_LOCK_SQL, [_ADVISORY_LOCK_ID])  # held from here to the COMMIT, as without speculation
    again.add(_head_sql(), (), head.extend)
    again.run()
    record = _chained(values, head)
    _commit_with(record, after_lock, Batch())
    return record


_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s)"
_SAVEPOINT = "jiedao_audit_append"


def _head_sql() -> str:
    return f"SELECT seq, mac FROM {connection.ops.quote_name(AuditRecord._meta.db_table)} ORDER BY seq DESC LIMIT 1"  # noqa: S608


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    record_id: int | None
    problem: str


def audit_verify(*, batch: int = 5000) -> list[ChainProblem]:
    """Walk the chain in order; report every broken record (the first one is the one that matters)."""
    problems: list[ChainProblem] = []
    expected_seq = 1
    prev_mac = ""
    last_seq = 0
    qs = AuditRecord.objects.order_by("seq")
    fields = [*CHAINED_FIELDS, "mac", "id"]
    while True:
        rows = list(qs.filter(seq__gt=last_seq).values(*fields)[:batch])
        if not rows:
            break
        for row in rows:
            if row["seq"] != expected_seq:
                problems.append(ChainProblem(expected_seq, None, f"records {expected_seq}–{row['seq'] - 1} are missing"))
            elif row["prev_mac"] != prev_mac:
                problems.append(ChainProblem(row["seq"], row["id"], "link to the previous record is broken"))
            if not hmac.compare_digest(compute_mac(row), row["mac"]):
                problems.append(ChainProblem(row["seq"], row["id"], "content does not match its MAC (altered)"))
            prev_mac = row["mac"]
            expected_seq = row["seq"] + 1
            last_seq = row["seq"]
    return problems
