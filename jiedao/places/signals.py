"""Keep the per-process caches honest (connected in apps.py): a building or premises write bumps the
sub-district's ``places_version`` (the key of the nearest-place index, see geo.py); a grid assignment changes
the grid worker's scope. Bulk writes that bypass signals bump themselves (demo loader)."""

from __future__ import annotations

from django.db.models import F


def place_changed(sender, instance, **kwargs) -> None:
    from jiedao.kernel.models import Subdistrict

    Subdistrict.objects.filter(pk=instance.subdistrict_id).update(places_version=F("places_version") + 1)


def grid_assignment_changed(sender, instance, **kwargs) -> None:
    from jiedao.kernel.scoping import scope_changed

    scope_changed(user_ids=[instance.user_id])
