import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from jiedao.kernel.calendar import WorkCalendar, add_working_days, add_working_hours, is_workday
from jiedao.kernel.models import Alert
from jiedao.kernel.services import calendar_day_set

SH = ZoneInfo("Asia/Shanghai")


def local(*args):
    return dt.datetime(*args, tzinfo=SH)


@pytest.mark.django_db
def test_2020_national_day_and_mid_autumn_are_holidays_and_the_10th_is_a_workday():
    assert not is_workday(dt.date(2020, 10, 1))
    assert not is_workday(dt.date(2020, 10, 8))
    assert is_workday(dt.date(2020, 10, 9))
    assert is_workday(dt.date(2020, 10, 10))  # Saturday make-up workday
    assert is_workday(dt.date(2020, 9, 27))  # Sunday make-up workday


@pytest.mark.django_db
def test_working_days_skip_the_holiday_and_count_the_make_up_saturday():
    due = add_working_days(local(2020, 9, 30, 16, 0), 3)
    assert due.astimezone(SH) == local(2020, 10, 12, 17, 30)  # 9th, 10th (Sat), 12th


@pytest.mark.django_db
def test_working_hours_stop_at_the_holiday_and_resume_after_it():
    assert add_working_hours(local(2020, 9, 30, 17, 0), 8).astimezone(SH) == local(2020, 10, 9, 17, 30)
    assert add_working_hours(local(2020, 9, 30, 17, 0), 9).astimezone(SH) == local(2020, 10, 10, 9, 30)


@pytest.mark.django_db
def test_hours_start_at_the_next_office_opening_when_reported_at_night():
    assert add_working_hours(local(2020, 10, 9, 22, 0), 1).astimezone(SH) == local(2020, 10, 10, 9, 30)
    # Lunch break does not count.
    assert add_working_hours(local(2020, 10, 9, 11, 0), 1).astimezone(SH) == local(2020, 10, 9, 13, 30)


@pytest.mark.django_db
def test_working_hours_between_counts_office_time_only():
    cal = WorkCalendar()
    assert cal.working_hours_between(local(2020, 9, 30, 17, 0), local(2020, 10, 9, 9, 30)) == pytest.approx(1.5)


@pytest.mark.django_db
def test_deadline_into_a_year_the_library_does_not_know_falls_back_and_alerts():
    due = add_working_days(local(2026, 12, 30, 10, 0), 5)
    # 2026-12-31, then 2027 weekdays only: 1, 4, 5, 6 January.
    assert due.astimezone(SH) == local(2027, 1, 6, 17, 30)
    alert = Alert.objects.get(rule="calendar.year_unknown")
    assert alert.subject_id == "2027" and alert.audience == "config.manage"
    add_working_days(local(2026, 12, 30, 10, 0), 5)
    assert Alert.objects.filter(rule="calendar.year_unknown").count() == 1  # raised once


@pytest.mark.django_db
def test_admin_entered_days_override_the_library_and_fill_unknown_years():
    calendar_day_set(actor=None, date=dt.date(2027, 1, 1), kind="holiday", name="元旦")
    due = add_working_days(local(2026, 12, 30, 10, 0), 5)
    assert due.astimezone(SH) == local(2027, 1, 7, 17, 30)
    calendar_day_set(actor=None, date=dt.date(2020, 10, 12), kind="holiday", name="（测试）临时休息")
    assert not is_workday(dt.date(2020, 10, 12))


@pytest.mark.django_db
def test_sub_district_days_override_deployment_days(town):
    calendar_day_set(actor=None, date=dt.date(2020, 10, 12), kind="holiday")
    calendar_day_set(actor=None, date=dt.date(2020, 10, 12), kind="workday", subdistrict=town.sub)
    assert not is_workday(dt.date(2020, 10, 12))
    assert is_workday(dt.date(2020, 10, 12), subdistrict_id=town.sub.pk)
