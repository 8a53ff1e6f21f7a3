import datetime as dt

from django.utils import timezone

from jiedao.cases.models import Case
from jiedao.cases.tasks import cases_check_deadlines, check_deadlines
from jiedao.kernel.models import Alert

from .conftest import report


def test_overdue_and_near_deadline_cases_raise_one_alert_each(cases_town):
    t = cases_town
    late = report(t)
    soon = report(t, lat=31.3360, lng=121.5070, description="井盖缺失")
    fine = report(t, lat=31.3365, lng=121.5080, description="路灯不亮")
    now = timezone.now()
    Case.objects.filter(pk=late.pk).update(deadline_at=now - dt.timedelta(hours=1))
    Case.objects.filter(pk=soon.pk).update(deadline_at=now + dt.timedelta(hours=1))
    Case.objects.filter(pk=fine.pk).update(deadline_at=now + dt.timedelta(days=2))
    assert check_deadlines(now=now) == {"overdue": 1, "near_deadline": 1}
    assert check_deadlines(now=now) == {"overdue": 0, "near_deadline": 0}  # idempotent
    assert set(Alert.objects.values_list("rule", "subject_id")) == {("case.overdue", str(late.pk)),
                                                                     ("case.near_deadline", str(soon.pk))}
    assert cases_check_deadlines.apply().get() == {"overdue": 0, "near_deadline": 0}  # the Celery task runs eagerly


def test_a_repeated_check_reads_the_open_alerts_once_per_batch(cases_town, django_assert_max_num_queries):
    """Cases that already have their alert cost nothing per case: one query for the batch's open alerts."""
    t = cases_town
    cases = [report(t, lat=31.3300 + i * 0.0007, lng=121.5010, description=f"占道{i}") for i in range(12)]
    now = timezone.now()
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(deadline_at=now - dt.timedelta(hours=1))
    assert check_deadlines(now=now)["overdue"] == 12
    with django_assert_max_num_queries(4):  # per rule: the cases, their open alerts
        assert check_deadlines(now=now) == {"overdue": 0, "near_deadline": 0}
    Alert.objects.filter(subject_id=str(cases[0].pk)).update(state="resolved")
    assert check_deadlines(now=now)["overdue"] == 1  # a resolved alert is raised again while still overdue


def test_closing_resolves_the_case_alerts(cases_town):
    from jiedao.cases.tests.test_workflow import drive_to

    t = cases_town
    case = report(t)
    Case.objects.filter(pk=case.pk).update(deadline_at=timezone.now() - dt.timedelta(hours=1))
    check_deadlines()
    drive_to(t, case, "closed")
    assert not Alert.objects.filter(subject_id=str(case.pk)).exclude(state="resolved").exists()


def test_dispatcher_sees_overdue_alerts(cases_town, client_for):
    t = cases_town
    case = report(t)
    Case.objects.filter(pk=case.pk).update(deadline_at=timezone.now() - dt.timedelta(hours=1))
    check_deadlines()
    page = client_for(t.users["dispatcher"]).get("/alerts/").content.decode()
    assert case.number in page and "超过处置时限" in page
