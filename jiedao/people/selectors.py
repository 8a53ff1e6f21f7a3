"""Reads of the people registry, always scoped."""

from __future__ import annotations

import re

from jiedao.kernel.exceptions import NotFound
from jiedao.kernel.pii import idnumber
from jiedao.kernel.pii import phone as phone_mod
from jiedao.kernel.scoping import user_scope

from .models import Person
from .services import id_number_index, phone_index

_LOOKS_ID = re.compile(r"^\d{17}[\dXx]$")
_LOOKS_PHONE = re.compile(r"^(\+?86)?[\d\- ]{7,14}$")


def looks_sensitive(q: str) -> bool:
    """A full ID number or a phone number (which must not travel in URLs)."""
    compact = re.sub(r"\s", "", q or "")
    return bool(_LOOKS_ID.match(compact) or (_LOOKS_PHONE.match(compact) and sum(c.isdigit() for c in compact) >= 7))


def person_list(*, user, q: str = "", compound_id: int | None = None, residence_type: str = ""):
    """Scoped people; ``q`` is a name fragment, or a full ID number or phone (blind-index match)."""
    qs = Person.objects.visible_to(user).select_related("compound")
    q = (q or "").strip()
    if q:
        compact = re.sub(r"\s", "", q)
        if _LOOKS_ID.match(compact):
            # With the sub-district, the lookup uses the (subdistrict, id_number_bidx) unique index.
            qs = qs.filter(subdistrict_id__in=user_scope(user).subdistrict_ids,
                           id_number_bidx=id_number_index(idnumber.normalise(compact)))
        elif _LOOKS_PHONE.match(compact) and sum(c.isdigit() for c in compact) >= 7:
            qs = qs.filter(phone_bidx=phone_index(phone_mod.normalise(compact)))
        else:
            qs = qs.filter(name__icontains=q)
    if compound_id:
        qs = qs.filter(compound_id=compound_id)
    if residence_type:
        qs = qs.filter(residence_type=residence_type)
    return qs.order_by("compound__name", "name", "id")


def person_get_visible(*, user, person_id: int) -> Person:
    person = Person.objects.visible_to(user).select_related("compound").filter(pk=person_id).first()
    if person is None:
        raise NotFound("not_found", "对象不存在。")
    return person
