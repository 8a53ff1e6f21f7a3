"""Writes of the people registry. Personal fields go in encrypted with their blind index."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from jiedao.kernel.audit import audit_record, diff
from jiedao.kernel.exceptions import ConflictError, DomainError
from jiedao.kernel.permissions import require_capability
from jiedao.kernel.pii import crypto, idnumber
from jiedao.kernel.pii import phone as phone_mod
from jiedao.kernel.pii.masking import mask_address, mask_id_number, mask_phone
from jiedao.kernel.roles import Cap

from .error_codes import PeopleErrorCode
from .models import Person

MASKED = {"id_number": mask_id_number, "phone": mask_phone, "address": mask_address}
REVEALABLE = {"id_number", "phone", "address"}


def id_number_index(value: str) -> str:
    return crypto.blind_index("id", idnumber.normalise(value)) if value else ""


def phone_index(value: str) -> str:
    return crypto.blind_index("phone", phone_mod.normalise(value)) if value else ""


def _clean(*, name, id_number, phone, today=None) -> dict:
    """Validate and normalise; raise DomainError with per-field messages."""
    errors = {}
    out = {"name": (name or "").strip()}
    if not out["name"]:
        errors["name"] = _("姓名不能为空。")
    if id_number:
        try:
            info = idnumber.parse(id_number, today=today)
            out.update(id_number=info.normalised, sex=info.sex, birth_year=info.birth_date.year)
        except idnumber.InvalidIdNumber as exc:
            errors["id_number"] = str(exc)
    else:
        out.update(id_number="", sex="", birth_year=None)
    if phone:
        try:
            out["phone"] = phone_mod.parse(phone)
        except phone_mod.InvalidPhone as exc:
            errors["phone"] = str(exc)
    else:
        out["phone"] = ""
    if errors:
        code = PeopleErrorCode.INVALID_ID_NUMBER if "id_number" in errors else (
            PeopleErrorCode.NAME_REQUIRED if "name" in errors else PeopleErrorCode.INVALID_PHONE)
        raise DomainError(code, next(iter(errors.values())), fields=errors)
    return out


def _snapshot(p: Person) -> dict:
    return {"name": p.name, "id_number": p.id_number, "phone": p.phone, "address": p.address,
            "compound": p.compound_id, "residence_type": p.residence_type, "notes": p.notes,
            "registered_on": p.registered_on}


def _compound_visible(actor, compound):
    if compound is None:
        return None
    from jiedao.places.models import Compound

    if not Compound.objects.visible_to(actor).filter(pk=compound.pk).exists():
        raise DomainError(PeopleErrorCode.COMPOUND_NOT_FOUND, _("小区不存在。"), fields={"compound": _("小区不存在。")})
    return compound


@transaction.atomic
def person_create(*, actor, subdistrict, name: str, id_number: str = "", phone: str = "", address: str = "",
                  compound=None, residence_type: str = "resident", registered_on: dt.date | None = None,
                  notes: str = "") -> Person:
    require_capability(actor, Cap.PEOPLE_EDIT)
    compound = _compound_visible(actor, compound)
    data = _clean(name=name, id_number=id_number, phone=phone)
    person = Person(subdistrict=subdistrict, compound=compound, grid_id=compound.grid_id if compound else None,
                    address=address.strip(), residence_type=residence_type, registered_on=registered_on, notes=notes,
                    **data)
    person.id_number_bidx = id_number_index(person.id_number)
    person.phone_bidx = phone_index(person.phone)
    try:
        with transaction.atomic():
            person.save()
    except IntegrityError as exc:
        raise DomainError(PeopleErrorCode.DUPLICATE_ID_NUMBER, _("该身份证号已登记。"),
                          fields={"id_number": _("该身份证号已登记。")}) from exc
    audit_record(actor=actor, action="person.create", obj=person,
                 changes=diff({}, _snapshot(person), masked=MASKED))
    return person


@transaction.atomic
def person_update(*, actor, person: Person, expected_version: int, **fields) -> Person:
    """Edit a person; ``expected_version`` is what the editor saw (stale → 409, nothing changed)."""
    require_capability(actor, Cap.PEOPLE_EDIT, obj=person)
    allowed = {"name", "id_number", "phone", "address", "compound", "residence_type", "registered_on", "notes"}
    unknown = set(fields) - allowed
    if unknown:
        raise DomainError(PeopleErrorCode.UNKNOWN_FIELD, _("未知字段。"), fields={f: _("未知字段。") for f in unknown})
    before = _snapshot(person)
    merged = {**{k: getattr(person, k) for k in ("name", "id_number", "phone")}, **{
        k: v for k, v in fields.items() if k in {"name", "id_number", "phone"}}}
    data = _clean(**merged)
    if "compound" in fields:
        person.compound = _compound_visible(actor, fields["compound"])
        person.grid_id = person.compound.grid_id if person.compound else None
    for key in ("address", "residence_type", "registered_on", "notes"):
        if key in fields:
            setattr(person, key, fields[key].strip() if isinstance(fields[key], str) else fields[key])
    for key, value in data.items():
        setattr(person, key, value)
    person.id_number_bidx = id_number_index(person.id_number)
    person.phone_bidx = phone_index(person.phone)
    updated = Person.objects.filter(pk=person.pk, version=expected_version).update(version=F("version") + 1)
    if not updated:
        raise ConflictError(PeopleErrorCode.STALE_VERSION, _("该记录已被他人修改，请刷新后再编辑。"))
    person.version = expected_version + 1
    try:
        with transaction.atomic():
            person.save()
    except IntegrityError as exc:
        raise DomainError(PeopleErrorCode.DUPLICATE_ID_NUMBER, _("该身份证号已登记。"),
                          fields={"id_number": _("该身份证号已登记。")}) from exc
    audit_record(actor=actor, action="person.update", obj=person,
                 changes=diff(before, _snapshot(person), masked=MASKED))
    return person


@transaction.atomic
def person_reveal(*, actor, person: Person, field: str, reason: str) -> str:
    """Show one personal field in full. Needs the capability and a reason; every reveal is audited."""
    require_capability(actor, Cap.PEOPLE_REVEAL, obj=person)
    if field not in REVEALABLE:
        raise DomainError(PeopleErrorCode.UNKNOWN_FIELD, _("该字段不可查看。"), fields={"field": field})
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise DomainError(PeopleErrorCode.REASON_REQUIRED, _("请填写查看完整信息的事由。"),
                          fields={"reason": _("请填写查看完整信息的事由。")})
    audit_record(actor=actor, action="person.reveal", obj=person, reason=reason[:500],
                 changes={"field": [None, field]})
    return getattr(person, field)
