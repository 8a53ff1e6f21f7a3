"""The per-process caches keyed by tokens on the rows they summarise (scope, calendar): a request reads them
without a query, and every change that matters replaces the token, so nobody reads a stale one."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jiedao.kernel.calendar import WorkCalendar
from jiedao.kernel.models import Subdistrict, User
from jiedao.kernel.scoping import scope_changed, user_scope
from jiedao.kernel.services import calendar_day_set, membership_grant, membership_revoke, org_unit_create
from jiedao.places.services import grid_assign


def fresh(user) -> User:
    """The user as the next request loads it (a new object: no scope held on it)."""
    return User.objects.get(pk=user.pk)


def scope_queries(user) -> int:
    with CaptureQueriesContext(connection) as q:
        user_scope(user)
    return len(q.captured_queries)


def test_a_second_request_reads_the_scope_without_a_query(town):
    user = town.users["rc_staff"]
    first = user_scope(fresh(user))
    assert scope_queries(fresh(user)) == 0
    again = user_scope(fresh(user))
    assert again.org_unit_ids == first.org_unit_ids and again.caps == first.caps
    assert again.primary_unit_name == "一居委"


def test_a_membership_granted_or_revoked_is_seen_at_once(town):
    user = town.users["rc_staff"]
    assert town.units["rc2"].pk not in user_scope(fresh(user)).org_unit_ids
    membership = membership_grant(actor=None, user=fresh(user), org_unit=town.units["rc2"], role="rc_staff")
    assert town.units["rc2"].pk in user_scope(fresh(user)).org_unit_ids
    membership_revoke(actor=town.users["security_admin"], membership=membership)
    assert town.units["rc2"].pk not in user_scope(fresh(user)).org_unit_ids


def test_a_grid_assignment_is_seen_at_once(town):
    worker = town.users["grid_worker"]
    assert town.grids[1].pk not in user_scope(fresh(worker)).grid_ids
    grid_assign(actor=None, grid=town.grids[1], user=fresh(worker))
    assert town.grids[1].pk in user_scope(fresh(worker)).grid_ids


def test_a_new_unit_under_a_subtree_is_seen_by_its_members(town):
    handler = town.users["department_handler"]
    assert user_scope(fresh(handler)).org_unit_ids == {town.units["dept"].pk}
    team = org_unit_create(actor=None, subdistrict=town.sub, kind="department", code="cg-1", name="一分队",
                           parent=town.units["dept"])
    assert user_scope(fresh(handler)).org_unit_ids == {town.units["dept"].pk, team.pk}


def test_a_bulk_update_must_say_so_and_then_is_seen(town):
    user = town.users["rc_staff"]
    user_scope(fresh(user))
    user.memberships.update(active=False)  # no signal: the cached scope survives (at most SCOPE_CACHE_SECONDS)
    assert user_scope(fresh(user)).caps
    scope_changed(user_ids=[user.pk])
    assert not user_scope(fresh(user)).caps


def test_tokens_differ_per_user(town):
    tokens = list(User.objects.values_list("scope_token", flat=True))
    assert len(tokens) == len(set(tokens)) and all(len(t) == 16 for t in tokens)


def test_an_org_tree_change_renews_every_members_scope_in_one_statement(town, django_assert_num_queries):
    """A sub-district with hundreds of staff: one UPDATE, not one per user; users elsewhere keep their token, and
    the cache key holds the user's id beside the token, so a token shared by this change's users is still a key no
    process has cached."""
    from django.core.cache import cache

    from jiedao.kernel.scoping import _ROLES_DIGEST

    members = [fresh(town.users[r]) for r in ("rc_staff", "department_handler", "grid_worker")]
    before = {u.pk: u.scope_token for u in members}
    outsider = User.objects.create_user(username="nobody-here", password="x" * 12)
    outsider_token = fresh(outsider).scope_token
    for u in members:
        user_scope(u)  # cached under the old tokens
    with django_assert_num_queries(1):
        scope_changed(subdistrict_id=town.sub.pk)
    renewed = [fresh(u) for u in members]
    assert all(u.scope_token != before[u.pk] for u in renewed)
    assert fresh(outsider).scope_token == outsider_token
    for u in renewed:
        assert cache.get(f"jiedao:scope:{_ROLES_DIGEST}:{u.pk}:{u.scope_token}") is None
        assert user_scope(u).caps


def test_calendar_rows_are_shared_until_a_holiday_changes(town):
    sub = Subdistrict.objects.get(pk=town.sub.pk)
    day = dt.date(2026, 12, 8)  # a Tuesday
    assert WorkCalendar(sub.pk, token=sub.calendar_token).is_workday(day)
    with CaptureQueriesContext(connection) as q:
        assert WorkCalendar(sub.pk, token=sub.calendar_token).is_workday(day)
    assert len(q.captured_queries) == 0
    calendar_day_set(actor=town.users["system_admin"], date=day, kind="holiday", name="测试假日", subdistrict=town.sub)
    sub.refresh_from_db()
    assert not WorkCalendar(sub.pk, token=sub.calendar_token).is_workday(day)


@pytest.mark.parametrize("own", [True, False])
def test_a_global_holiday_row_renews_every_calendar(town, own):
    before = Subdistrict.objects.get(pk=town.sub.pk).calendar_token
    calendar_day_set(actor=town.users["system_admin"], date=dt.date(2027, 1, 4), kind="holiday",
                     subdistrict=town.sub if own else None)
    assert Subdistrict.objects.get(pk=town.sub.pk).calendar_token != before


def test_deadlines_are_shared_until_a_holiday_changes(town):
    sub = Subdistrict.objects.get(pk=town.sub.pk)
    start = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)  # a Monday; 3 working days: due Thursday the 10th
    due = WorkCalendar(sub.pk, token=sub.calendar_token).add_working_days(start, 3)
    with CaptureQueriesContext(connection) as q:
        assert WorkCalendar(sub.pk, token=sub.calendar_token).add_working_days(start, 3) == due
    assert len(q.captured_queries) == 0
    calendar_day_set(actor=town.users["system_admin"], date=dt.date(2026, 12, 9), kind="holiday", name="测试假日",
                     subdistrict=town.sub)
    sub.refresh_from_db()
    assert WorkCalendar(sub.pk, token=sub.calendar_token).add_working_days(start, 3) == due + dt.timedelta(days=1)
