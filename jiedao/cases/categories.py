"""The national category tree: build the repo's data file from the reference table, load it per sub-district.

`python manage.py import_case_categories ../shared/data/case-categories.csv` writes
`jiedao/cases/data/categories.csv`: every GB/T 47678.5-2026 row (the current standard), with the legacy
4-digit code (GB/T 30428.2 / CJ/T 214) of the legacy row that names it, because 12345 exports and older
systems still use the legacy codes. Legacy rows with no 2026 match are kept as leaves of their own
("旧标准" majors) so an order coded with them still finds its category.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

from django.db import transaction

from jiedao.kernel.audit import audit_record

from .models import CaseCategory
from .signals import categories_changed

DATA_FILE = Path(__file__).parent / "data" / "categories.csv"
FIELDS = ("kind", "major_code", "major_name", "code", "name", "legacy_code", "default_department", "source")
_MATCH = re.compile(r"GB/T 47678\.5-2026 ([=≈]) (\d{5})")


def build_data_file(src: Path, dst: Path = DATA_FILE) -> dict:
    with src.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    current = [r for r in rows if len(r["minor_code"]) == 5]
    legacy = [r for r in rows if len(r["minor_code"]) == 4]
    legacy_for: dict[tuple[str, str], list[str]] = defaultdict(list)
    unmatched = []
    for r in legacy:
        m = _MATCH.search(r["source"])
        if m:
            legacy_for[(r["kind"], m.group(2))].append(r["minor_code"])
        else:
            unmatched.append(r)
    out = []
    for r in current:
        codes = legacy_for.get((r["kind"], r["minor_code"]), [])
        out.append({"kind": r["kind"], "major_code": r["major_code"], "major_name": r["major_name"],
                    "code": r["minor_code"], "name": r["minor_name"], "legacy_code": codes[0] if codes else "",
                    "default_department": r["default_department"], "source": "GB/T 47678.5-2026"})
    for r in unmatched:
        out.append({"kind": r["kind"], "major_code": "L" + r["major_code"], "major_name": f"（旧标准）{r['major_name']}",
                    "code": "L" + r["minor_code"], "name": r["minor_name"], "legacy_code": r["minor_code"],
                    "default_department": r["default_department"], "source": "GB/T 30428.2-2013 (no 2026 match)"})
    dst.parent.mkdir(parents=True, exist_ok=True)
    with dst.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(out)
    return {"current": len(current), "legacy_matched": sum(1 for r in out if r["legacy_code"] and
                                                            not r["code"].startswith("L")),
            "legacy_only": len(unmatched)}


def data_rows() -> list[dict]:
    with DATA_FILE.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@transaction.atomic
def categories_load(*, actor, subdistrict, departments: dict[str, object] | None = None,
                    urgent_hours: float | None = None, normal_days: int | None = None) -> int:
    """Create the tree for a sub-district (idempotent). ``departments`` maps the file's department
    names (城管中队, 水务…) to org units; deadlines are the sub-district's configuration."""
    departments = departments or {}
    existing = set(CaseCategory.objects.filter(subdistrict=subdistrict).values_list("kind", "code"))
    majors: dict[tuple[str, str], CaseCategory] = {
        (c.kind, c.code): c for c in CaseCategory.objects.filter(subdistrict=subdistrict, is_leaf=False)}
    created = 0
    leaves = []
    for row in data_rows():
        key = (row["kind"], row["major_code"])
        if key not in majors:
            majors[key] = CaseCategory.objects.create(subdistrict=subdistrict, kind=row["kind"],
                                                      code=row["major_code"], name=row["major_name"], is_leaf=False,
                                                      source=row["source"])
            created += 1
        if (row["kind"], row["code"]) in existing:
            continue
        leaves.append(CaseCategory(
            subdistrict=subdistrict, parent=majors[key], kind=row["kind"], code=row["code"], name=row["name"],
            legacy_code=row["legacy_code"], default_department=departments.get(row["default_department"]),
            urgent_hours=urgent_hours, normal_days=normal_days, source=row["source"]))
    CaseCategory.objects.bulk_create(leaves)
    categories_changed(subdistrict_id=subdistrict.pk)  # bulk: no signal
    created += len(leaves)
    audit_record(actor=actor, action="case_category.load", subdistrict_id=subdistrict.pk,
                 object_type="cases.casecategory", changes={"created": [None, created]})
    return created


def category_for_code(*, subdistrict_id: int, code: str, name: str = "", prefer_kind: str = "event"):
    """Find a leaf by its 2026 code or its legacy 4-digit code (12345 orders use either).

    The same code exists once as 部件 and once as 事件: a name settles it, else ``prefer_kind`` does
    (citizens' complaints are mostly 事件).
    """
    code = (code or "").strip()
    if not code:
        return None
    qs = CaseCategory.objects.filter(subdistrict_id=subdistrict_id, is_leaf=True, active=True)
    matches = list(qs.filter(code=code)) or list(qs.filter(legacy_code=code))
    if len(matches) > 1 and name:
        by_name = [c for c in matches if c.name == name.strip()]
        matches = by_name or matches
    matches.sort(key=lambda c: (c.kind != prefer_kind, c.code))
    return matches[0] if matches else None


@transaction.atomic
def category_subtree_ensure(*, actor, subdistrict, source: str, kind: str, major_code: str, major_name: str,
                            leaves: list[tuple[str, str]], default_department=None, urgent_hours=None,
                            normal_days=None) -> list[CaseCategory]:
    """A chapter app's own subtree (e.g. 巡查发现, 企业诉求), registered at set-up; idempotent.

    Codes must not collide with the national ones: chapters use a letter prefix (``I01`` inspections,
    ``B01`` enterprise requests…).
    """
    major, _ = CaseCategory.objects.get_or_create(
        subdistrict=subdistrict, kind=kind, code=major_code,
        defaults={"name": major_name, "is_leaf": False, "source": source})
    out = []
    for code, name in leaves:
        leaf, created = CaseCategory.objects.get_or_create(
            subdistrict=subdistrict, kind=kind, code=code,
            defaults={"name": name, "parent": major, "source": source, "default_department": default_department,
                      "urgent_hours": urgent_hours, "normal_days": normal_days})
        if created:
            audit_record(actor=actor, action="case_category.create", obj=leaf, changes={"source": [None, source]})
        out.append(leaf)
    return out
