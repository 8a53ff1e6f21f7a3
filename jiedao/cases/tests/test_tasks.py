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
    assert check_deadlines(now=now) == {"overdue": 1, "near_deadline": 1, "escalated": 1}
    assert check_deadlines(now=now) == {"overdue": 0, "near_deadline": 0, "escalated": 0}  # idempotent
    assert set(Alert.objects.values_list("rule", "subject_id")) == {("case.overdue", str(late.pk)),
                                                                     ("case.near_deadline", str(soon.pk))}
    assert cases_check_deadlines.apply().get() == {"overdue": 0, "near_deadline": 0, "escalated": 0}  # runs eagerly


def test_a_repeated_check_reads_the_open_alerts_once_per_batch(cases_town, django_assert_max_num_queries):
    """Cases that already have their alert cost nothing per case: one query for the batch's open alerts."""
    t = cases_town
    cases = [report(t, lat=31.3300 + i * 0.0007, lng=121.5010, description=f"占道{i}") for i in range(12)]
    now = timezone.now()
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(deadline_at=now - dt.timedelta(hours=1))
    assert check_deadlines(now=now)["overdue"] == 12
    # the open alerts and their cases; per rule the cases and their open alerts; per escalation level the candidates
    with django_assert_max_num_queries(10):
        assert check_deadlines(now=now) == {"overdue": 0, "near_deadline": 0, "escalated": 0}
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
    c = client_for(t.users["dispatcher"])
    page = c.get("/alerts/").content.decode()
    assert case.number in page and "超过处置时限" in page
    assert f'href="/cases/{case.pk}/"' in page  # the alert opens its case
    alert = Alert.objects.get(subject_id=str(case.pk), rule="case.overdue")
    r = c.post(f"/alerts/{alert.pk}/resolve/", follow=True)
    assert "已解除预警" in r.content.decode()


def test_alerts_go_when_the_case_no_longer_needs_them(cases_town):
    """Rejecting or merging resolves a case's deadline alerts; "due soon" goes when "overdue" comes; a deadline
    moved away (here behind the services' back) takes its alert with it at the next check."""
    from jiedao.cases.tests.test_workflow import step

    t = cases_town
    now = timezone.now()
    rejected = report(t)
    merged = report(t, lat=31.3360, lng=121.5070, description="井盖缺失")
    soon = report(t, lat=31.3365, lng=121.5080, description="路灯不亮")
    moved = report(t, lat=31.3370, lng=121.5090, description="占道经营")
    Case.objects.filter(pk__in=[rejected.pk, merged.pk, moved.pk]).update(deadline_at=now - dt.timedelta(hours=1))
    Case.objects.filter(pk=soon.pk).update(deadline_at=now + dt.timedelta(hours=1))
    check_deadlines(now=now, escalate_limit=0)

    def open_rules(case):
        return set(Alert.objects.filter(subject_id=str(case.pk)).exclude(state="resolved").values_list("rule",
                                                                                                      flat=True))

    assert open_rules(rejected) == open_rules(merged) == open_rules(moved) == {"case.overdue"}
    assert open_rules(soon) == {"case.near_deadline"}
    step(t, rejected, "reject", "dispatcher", comment="不属于受理范围")
    step(t, merged, "merge", "dispatcher", duplicate_of_id=soon.pk)
    assert open_rules(rejected) == open_rules(merged) == set()
    Case.objects.filter(pk=moved.pk).update(deadline_at=now + dt.timedelta(days=3))
    later = now + dt.timedelta(hours=2)
    check_deadlines(now=later, escalate_limit=0)
    assert open_rules(moved) == set()
    assert open_rules(soon) == {"case.overdue"}


def test_overdue_cases_are_escalated_by_working_days(cases_town, django_capture_on_commit_callbacks):
    """超期自动督办: level 1 at the deadline, 2 after two working days, 3 after five; a holiday does not count;
    a level set by hand is never lowered; each step is a supervise event of the system with its audit record."""
    from jiedao.cases.tests.test_workflow import S, drive_to, step
    from jiedao.kernel.models import AuditRecord, Notification

    t = cases_town
    case = drive_to(t, report(t), S.DISPATCHED)
    tz = timezone.get_current_timezone()
    # Due on Wednesday 30 September 2026 at 17:00; 1–7 October is the National Day holiday, Saturday 10 a working day.
    Case.objects.filter(pk=case.pk).update(deadline_at=dt.datetime(2026, 9, 30, 17, 0, tzinfo=tz))

    def level_at(*when):
        with django_capture_on_commit_callbacks(execute=True):  # the notifications go out after the commit
            check_deadlines(now=dt.datetime(*when, tzinfo=tz))
        return Case.objects.get(pk=case.pk).supervision_level

    assert level_at(2026, 9, 30, 16, 0) == 0
    assert level_at(2026, 9, 30, 18, 0) == 1
    assert level_at(2026, 10, 7, 12, 0) == 1  # a week late, but no working day has passed
    assert level_at(2026, 10, 9, 16, 0) == 1  # one working day (8 October) and most of the second
    assert level_at(2026, 10, 9, 18, 0) == 2  # two working days
    assert level_at(2026, 10, 12, 18, 0) == 2  # 8, 9, 10 (a working Saturday) and 12 October: four working days
    assert level_at(2026, 10, 16, 18, 0) == 3
    events = list(case.events.filter(action="supervise").order_by("id").values_list("actor_name", "data"))
    assert [d["level"] for _, d in events] == [1, 2, 3] and all(name.startswith("系统") for name, _ in events)
    assert AuditRecord.objects.filter(action="case.supervise", object_id=str(case.pk)).count() == 3
    assert Notification.objects.filter(recipient=t.users["department_handler"], title__contains="3级").exists()
    # The system's records carry no user's request: whoever's page load ran the check.
    record = AuditRecord.objects.filter(action="case.supervise", object_id=str(case.pk)).last()
    assert (record.request_id, record.ip, record.actor_id) == ("system:cases.check_deadlines", "", None)
    # A level raised by hand stays: level 2 on a case an hour late (which calls for level 1).
    other = drive_to(t, report(t, lat=31.3360, lng=121.5070, description="井盖缺失"), S.DISPATCHED)
    step(t, other, "supervise", "dispatcher", comment="领导批示，从严督办", level=2)
    Case.objects.filter(pk=other.pk).update(deadline_at=timezone.now() - dt.timedelta(hours=1))
    check_deadlines()
    assert Case.objects.get(pk=other.pk).supervision_level == 2
    assert other.events.filter(action="supervise").count() == 1


def test_escalation_works_off_a_backlog_a_slice_per_run(cases_town):
    t = cases_town
    cases = [report(t, lat=31.3300 + i * 0.0007, lng=121.5010, description=f"占道{i}") for i in range(5)]
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(deadline_at=timezone.now() - dt.timedelta(hours=1))
    assert check_deadlines(escalate_limit=3)["escalated"] == 3
    assert check_deadlines(escalate_limit=3)["escalated"] == 2
    assert set(Case.objects.filter(pk__in=[c.pk for c in cases]).values_list("supervision_level", flat=True)) == {1}


def test_stale_alerts_are_resolved_a_slice_per_run(cases_town):
    t = cases_town
    now = timezone.now()
    cases = [report(t, lat=31.3300 + i * 0.0007, lng=121.5010, description=f"占道{i}") for i in range(5)]
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(deadline_at=now - dt.timedelta(hours=1))
    check_deadlines(now=now, escalate_limit=0)
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(deadline_at=now + dt.timedelta(days=5))

    def still_open():
        return Alert.objects.filter(rule="case.overdue").exclude(state="resolved").count()

    check_deadlines(now=now, escalate_limit=0, resolve_limit=3)
    assert still_open() == 2
    check_deadlines(now=now, escalate_limit=0, resolve_limit=3)
    assert still_open() == 0
