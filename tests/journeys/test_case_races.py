"""Two dispatchers race on the same case (PostgreSQL): exactly one wins, the other gets 409 and changes nothing."""

import threading

import pytest
from django.db import connection, connections

from jiedao.cases.categories import categories_load
from jiedao.cases.models import Case, CaseAssignment, CaseEvent
from jiedao.cases.services import case_transition
from jiedao.cases.services.intake import Intake, case_report
from jiedao.kernel.audit import audit_verify
from jiedao.kernel.exceptions import ConflictError

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("postgres-concurrency")]


def test_two_dispatchers_racing_exactly_one_wins(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")
    from conftest import build_town

    town = build_town("TR", "丁街道", 121.30, 31.00, 8)
    categories_load(actor=None, subdistrict=town.sub, departments={"城管中队": town.units["dept"]})
    from jiedao.cases.models import CaseCategory

    category = CaseCategory.objects.get(subdistrict=town.sub, kind="event", code="06010")
    case = case_report(actor=None, subdistrict_id=town.sub.pk, intake=Intake(source="resident", description="暴露垃圾",
                                                                       category=category, lat=31.005, lng=121.305))
    case_transition(actor=town.users["dispatcher"], case=case, action="register", expected_version=1)
    second = town.users["dispatcher"].__class__.objects.create_user(username="TR-dispatcher-2", password="x-Y-12345")
    from jiedao.kernel.services import membership_grant

    membership_grant(actor=None, user=second, org_unit=town.units["grid_centre"], role="dispatcher")
    barrier = threading.Barrier(2)
    results, errors = [], []

    def dispatch(user, dept):
        try:
            barrier.wait()
            fresh = Case.objects.get(pk=case.pk)
            results.append(case_transition(actor=user, case=fresh, action="dispatch", expected_version=2,
                                           lead_department_id=dept.pk).pk)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=dispatch, args=(town.users["dispatcher"], town.units["dept"])),
               threading.Thread(target=dispatch, args=(second, town.units["dept2"]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 1 and len(errors) == 1 and isinstance(errors[0], ConflictError)
    assert Case.objects.get(pk=case.pk).version == 3
    assert CaseAssignment.objects.filter(case_id=case.pk).count() == 1
    assert CaseEvent.objects.filter(case_id=case.pk, action="dispatch").count() == 1
    assert audit_verify() == []


def test_concurrent_writers_of_one_month_keep_exact_evaluation_figures(transactional_db):
    """Writers of different cases in the same grid and month add to the same kept rows at once (GOV-4)."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL")
    from conftest import build_town
    from jiedao.cases.evaluation.figures import figures_check
    from jiedao.cases.models import CaseCategory, EvaluationFigure

    town = build_town("TF", "戊街道", 121.30, 31.00, 9)
    categories_load(actor=None, subdistrict=town.sub, departments={"城管中队": town.units["dept"]})
    category = CaseCategory.objects.get(subdistrict=town.sub, kind="event", code="06010")

    def new_case(n):
        return case_report(actor=None, subdistrict_id=town.sub.pk, intake=Intake(
            source="resident", description=f"暴露垃圾 {n}", category=category, lat=31.005, lng=121.305))

    cases = [new_case(n) for n in range(6)]
    barrier = threading.Barrier(8)
    errors = []

    def move(case):
        try:
            barrier.wait()
            case_transition(actor=town.users["dispatcher"], case=case, action="register", expected_version=1)
            case_transition(actor=town.users["dispatcher"], case=case, action="dispatch", expected_version=2,
                            lead_department_id=town.units["dept"].pk)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    def report_one(n):
        try:
            barrier.wait()
            new_case(n)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=move, args=(c,)) for c in cases]
    threads += [threading.Thread(target=report_one, args=(n,)) for n in (6, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert figures_check(subdistrict_id=town.sub.pk) == []
    grid = EvaluationFigure.objects.get(subdistrict=town.sub, dimension="grid", key=town.grids[0].pk)
    assert (grid.reported, grid.registered, grid.dispatched) == (8, 6, 6)
    dept = EvaluationFigure.objects.get(subdistrict=town.sub, dimension="department", key=town.units["dept"].pk)
    assert dept.dispatched == 6
