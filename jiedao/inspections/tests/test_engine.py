import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from jiedao.cases.models import Case
from jiedao.inspections.choices import Frequency
from jiedao.inspections.models import Inspection, InspectionPlan
from jiedao.inspections.selectors import coverage, due_list, score_trend, scores
from jiedao.inspections.services.inspect import check_missed, inspection_submit
from jiedao.inspections.services.plans import plan_create
from jiedao.inspections.services.schedule import occurrences
from jiedao.inspections.services.templates import template_current, template_revise
from jiedao.kernel.exceptions import DomainError, PermissionDeniedError
from jiedao.kernel.models import Alert

from .conftest import GOOD

SH = ZoneInfo("Asia/Shanghai")


def at(day: dt.date, hour=10):
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=SH)


def submit(t, answers=None, compound="c1", **kw):
    return inspection_submit(actor=kw.pop("actor", t.users["rc_staff"]), subdistrict=t.sub,
                             template=kw.pop("template", t.sorting), target_type="compound",
                             target_id=t.compounds[compound].pk, answers=answers or GOOD, **kw)


def test_passing_inspection_scores_and_opens_no_case(itown):
    ins = submit(itown)
    assert ins.passed and ins.score == 90 and ins.failed_items == 0 and ins.grid_id == itown.grids[0].pk
    assert not Case.objects.exists()


def test_failed_items_open_one_case_each_linked_both_ways(itown):
    ins = submit(itown, {**GOOD, "accuracy": 30, "bins": "fail", "guard": "no"})
    assert not ins.passed and ins.failed_items == 3
    cases = Case.objects.filter(source="inspection").order_by("external_id")
    assert [c.external_id for c in cases] == [f"inspection:{ins.pk}:item:accuracy", f"inspection:{ins.pk}:item:bins"]
    answer = ins.answers.get(item__code="bins")
    assert answer.case_id == cases[1].pk and cases[1].category == itown.finding_category
    assert cases[1].lead_department_id == itown.units["dept"].pk
    assert ins.answers.get(item__code="guard").case_id is None  # no category on that item: no case


@pytest.mark.parametrize("answers, code", [
    ({**GOOD, "accuracy": None}, "answer_missing"),
    ({**GOOD, "accuracy": 61}, "answer_invalid"),
    ({**GOOD, "accuracy": "lots"}, "answer_invalid"),
    ({**GOOD, "guard": "maybe"}, "answer_invalid"),
])
def test_bad_answers_are_refused_and_nothing_is_written(itown, answers, code):
    with pytest.raises(DomainError) as exc:
        submit(itown, answers)
    assert exc.value.code == code and not Inspection.objects.exists()


def test_only_inspectors_may_submit_and_only_in_scope(itown, other_town):
    with pytest.raises(PermissionDeniedError):
        submit(itown, actor=itown.users["leader"])
    with pytest.raises(DomainError) as exc:
        inspection_submit(actor=itown.users["rc_staff"], subdistrict=itown.sub, template=itown.sorting,
                          target_type="compound", target_id=other_town.compounds["c1"].pk, answers=GOOD)
    assert exc.value.status == 404


def test_revising_makes_a_new_version_and_old_inspections_keep_theirs(itown):
    old = submit(itown)
    items = [{"code": "accuracy", "text": "分类准确率（新标准）", "kind": "score", "max_score": 100, "fail_below": 80}]
    new = template_revise(actor=itown.users["dispatcher"], template=itown.sorting, items=items)
    assert new.version == 2 and template_current(subdistrict_id=itown.sub.pk, code="GS") == new
    itown.sorting.refresh_from_db()
    assert itown.sorting.status == "retired"
    assert [i.code for i in old.template.items.all()] == ["accuracy", "bins", "guard", "score_env", "note"]
    assert old.answers.count() == 4 and old.template.version == 1
    ins = submit(itown, {"accuracy": 90}, template=new)
    assert ins.template.version == 2 and ins.score == 90


def test_schedule_skips_the_national_day_holiday_and_counts_the_make_up_saturday(itown):
    plan = InspectionPlan(subdistrict=itown.sub, frequency=Frequency.DAILY, workdays_only=True,
                          start_date=dt.date(2020, 9, 28), end_date=dt.date(2020, 10, 12))
    days = [o.key for o in occurrences(plan, dt.date(2020, 9, 28), dt.date(2020, 10, 12))]
    assert days == ["2020-09-28", "2020-09-29", "2020-09-30", "2020-10-09", "2020-10-10", "2020-10-12"]
    weekly = InspectionPlan(subdistrict=itown.sub, frequency=Frequency.WEEKLY, workdays_only=True,
                            start_date=dt.date(2020, 9, 28))
    week = occurrences(weekly, dt.date(2020, 9, 28), dt.date(2020, 10, 4))
    assert [(o.key, o.last) for o in week] == [("2020-W40", dt.date(2020, 9, 30))]  # last workday before the holiday
    monthly = InspectionPlan(subdistrict=itown.sub, frequency=Frequency.MONTHLY, start_date=dt.date(2020, 1, 15))
    assert [o.key for o in occurrences(monthly, dt.date(2020, 1, 1), dt.date(2020, 3, 31))] == [
        "2020-01", "2020-02", "2020-03"]
    given = InspectionPlan(subdistrict=itown.sub, frequency=Frequency.DATES, dates=["2020-10-01", "2020-10-09"],
                           workdays_only=True, start_date=dt.date(2020, 1, 1))
    assert [o.key for o in occurrences(given, dt.date(2020, 1, 1), dt.date(2020, 12, 31))] == ["2020-10-09"]


def _plan(t, **kw):
    return plan_create(actor=t.users["dispatcher"], subdistrict=t.sub, name="垃圾分类周检", template_code="GS",
                       inspector=t.users["rc_staff"], frequency=kw.pop("frequency", Frequency.WEEKLY),
                       start_date=kw.pop("start_date", dt.date(2020, 9, 1)),
                       targets=[("compound", t.compounds["c1"].pk), ("compound", t.compounds["c2"].pk)], **kw)


def test_due_list_missed_alerts_and_coverage(itown):
    t = itown
    plan = _plan(t)
    due = due_list(user=t.users["rc_staff"], on=t.today)
    assert [(d.target_name, d.period_key, d.done) for d in due] == [
        ("甲街道小区1", "2020-W41", False), ("甲街道小区2", "2020-W41", False)]
    ins = submit(t, plan=plan, finished_at=at(t.today), started_at=at(t.today, 9))
    assert ins.period_key == "2020-W41"
    with pytest.raises(DomainError) as exc:  # the same target twice in one period
        submit(t, plan=plan, finished_at=at(t.today))
    assert exc.value.code == "already_done"
    due = due_list(user=t.users["rc_staff"], on=t.today)
    assert [(d.target_name, d.done) for d in due] == [("甲街道小区2", False), ("甲街道小区1", True)]
    # The week ends: compound 2 was missed, compound 1 was not.
    raised = check_missed(today=dt.date(2020, 10, 12), lookback_days=7)
    assert raised == 1
    alert = Alert.objects.get(rule="inspection.missed")
    assert "甲街道小区2" in alert.message and "2020-W41" in alert.message
    assert check_missed(today=dt.date(2020, 10, 12), lookback_days=7) == 0  # once
    cov = coverage(user=t.users["dispatcher"], start=dt.date(2020, 10, 5), end=dt.date(2020, 10, 11))
    assert (cov[0]["due"], cov[0]["done"], cov[0]["missed"], cov[0]["rate"]) == (2, 1, 1, 50.0)


def test_plan_targets_must_match_the_template(itown):
    with pytest.raises(DomainError):
        plan_create(actor=itown.users["dispatcher"], subdistrict=itown.sub, name="x", template_code="GS",
                    inspector=itown.users["rc_staff"], frequency="weekly", start_date=dt.date(2020, 1, 1),
                    targets=[("road", itown.road.pk)])


def test_submitting_someone_elses_plan_is_refused(itown):
    plan = _plan(itown)
    with pytest.raises(DomainError) as exc:
        submit(itown, plan=plan, actor=itown.users["grid_worker"], finished_at=at(itown.today))
    assert exc.value.code == "not_your_plan"


def test_scores_rank_compounds_and_trend(itown):
    t = itown
    for day, comp, acc in ((dt.date(2020, 10, 9), "c1", 58), (dt.date(2020, 10, 12), "c1", 50),
                           (dt.date(2020, 10, 9), "c2", 40), (dt.date(2020, 9, 9), "c1", 30)):
        submit(t, {**GOOD, "accuracy": acc}, compound=comp, finished_at=at(day))
    rows = scores(user=t.users["dispatcher"], template_code="GS", month="2020-10")
    assert [(r["label"], r["avg_score"], r["rank"], r["pass_rate"]) for r in rows] == [
        ("甲街道小区1", 89.0, 1, 100.0), ("甲街道小区2", 75.0, 2, 0.0)]
    trend = score_trend(user=t.users["dispatcher"], template_code="GS", target_type="compound",
                        target_id=t.compounds["c1"].pk, until=dt.date(2020, 10, 31))
    assert trend == [{"month": "2020-09", "avg_score": 65.0}, {"month": "2020-10", "avg_score": 89.0}]


def test_closing_the_case_shows_on_the_inspection(itown):
    from jiedao.cases.tests.test_workflow import drive_to

    ins = submit(itown, {**GOOD, "bins": "fail"})
    case = Case.objects.get(source="inspection")
    itown.category = itown.finding_category
    drive_to(itown, case, "closed")
    assert ins.answers.get(item__code="bins").case.state == "closed"
