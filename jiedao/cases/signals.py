"""Case categories are cached per process by the sub-district's ``categories_token`` (selectors): every write
of a category gives the sub-district a new token. Connected in apps.py; bulk writes call
``categories_changed`` themselves."""

from __future__ import annotations


def category_changed(sender, instance, **kwargs) -> None:
    categories_changed(subdistrict_id=instance.subdistrict_id)


def categories_changed(*, subdistrict_id: int) -> None:
    from jiedao.kernel.models import Subdistrict
    from jiedao.kernel.models.org import new_token

    Subdistrict.objects.filter(pk=subdistrict_id).update(categories_token=new_token())
