import pytest

from jiedao.cases.categories import categories_load
from jiedao.cases.models import CaseCategory
from jiedao.cases.services.intake import Intake, case_report


@pytest.fixture
def cases_town(town):
    categories_load(actor=None, subdistrict=town.sub, departments={"城管中队": town.units["dept"]},
                    urgent_hours=4, normal_days=3)
    town.category = CaseCategory.objects.get(subdistrict=town.sub, kind="event", code="06010")  # 暴露垃圾
    return town


def report(town, *, user=None, lat=31.335, lng=121.505, category=None, description="人行道上有暴露垃圾", **kw):
    return case_report(actor=user or town.users["grid_worker"], subdistrict_id=town.sub.pk, intake=Intake(
        source=kw.pop("source", "grid_worker"), description=description, category=category or town.category,
        lat=lat, lng=lng, **kw))
