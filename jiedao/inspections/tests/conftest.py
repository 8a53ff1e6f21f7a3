import datetime as dt

import pytest

from jiedao.cases.categories import category_subtree_ensure
from jiedao.inspections.services.templates import template_create
from jiedao.places.services import place_create


@pytest.fixture
def itown(town):
    """A town with a garbage-sorting checklist whose failures open cases, and two compounds' worth of targets."""
    leaves = category_subtree_ensure(actor=None, subdistrict=town.sub, source="inspections", kind="event",
                                     major_code="I01", major_name="巡查发现",
                                     leaves=[("I01001", "垃圾分类不达标"), ("I01002", "消防通道堵塞")],
                                     default_department=town.units["dept"], normal_days=2)
    town.finding_category = leaves[0]
    town.sorting = template_create(actor=None, subdistrict=town.sub, code="GS", name="生活垃圾分类检查",
                                   kind="garbage_sorting", target_type="compound", pass_score=80, items=[
        {"code": "accuracy", "text": "分类准确率", "kind": "score", "max_score": 60, "fail_below": 45,
         "case_category": leaves[0]},
        {"code": "bins", "text": "桶站设施完好", "kind": "pass_fail", "case_category": leaves[0]},
        {"code": "guard", "text": "定时定点有人值守", "kind": "choice",
         "choices": [{"value": "yes", "label": "有", "passes": True}, {"value": "no", "label": "无", "passes": False}]},
        {"code": "score_env", "text": "环境整洁", "kind": "score", "max_score": 40},
        {"code": "note", "text": "其他情况", "kind": "text", "required": False},
    ])
    town.road = place_create(actor=None, kind="road", subdistrict=town.sub, name="政立路", road_class="arterial",
                             geometry={"type": "LineString", "coordinates": [[121.50, 31.335], [121.52, 31.335]]},
                             lat=31.335, lng=121.51)
    town.today = dt.date(2020, 10, 9)
    return town


GOOD = {"accuracy": 55, "bins": "pass", "guard": "yes", "score_env": 35}
