"""Cache keys follow the rows they summarise: scope tokens (memberships, org tree) and calendar tokens
(holiday rows). Connected in apps.py; bulk writes that bypass signals call the functions themselves."""

from __future__ import annotations

from .models.org import new_token


def membership_changed(sender, instance, **kwargs) -> None:
    from .scoping import invalidate_scope, scope_changed

    scope_changed(user_ids=[instance.user_id])
    user = instance._state.fields_cache.get("user")
    if user is not None:
        invalidate_scope(user)


def org_unit_changed(sender, instance, **kwargs) -> None:
    from .scoping import scope_changed

    scope_changed(subdistrict_id=instance.subdistrict_id)


def calendar_day_changed(sender, instance, **kwargs) -> None:
    calendar_changed(subdistrict_id=instance.subdistrict_id)


def calendar_changed(*, subdistrict_id: int | None) -> None:
    """A holiday/make-up row changed: new calendar tokens for the sub-district (every one for a global row)."""
    from .models import Subdistrict

    rows = Subdistrict.objects.filter(pk=subdistrict_id) if subdistrict_id else Subdistrict.objects.all()
    rows.update(calendar_token=new_token())  # one token is enough: the calendar cache's key holds the id too
