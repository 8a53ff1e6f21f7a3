"""Pages of 一网统管: the dispatcher console, case detail, department inbox, the grid worker's phone pages,
the evaluation, and the residents' public report page. Thin: parse, call a service or selector, render."""

from __future__ import annotations

import datetime as dt
import io
import time

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_ratelimit.decorators import ratelimit

from jiedao.kernel.downloads import xlsx_response
from jiedao.kernel.exceptions import DomainError, PermissionDeniedError
from jiedao.kernel.models import OrgUnit
from jiedao.kernel.scoping import user_scope
from jiedao.kernel.selectors import public_subdistrict, public_subdistricts, subdistrict_id_of, subdistrict_of
from jiedao.places.models import Grid

from . import selectors
from .choices import OPEN_STATES, CaseSource, CaseState, PhotoStage
from .error_codes import CaseErrorCode
from .evaluation import DIMENSIONS, evaluation
from .forms import FilterForm, PublicReportForm, ReportForm
from .models import Case, CaseCategory, CasePhoto
from .services import case_transition
from .services.hotline import XLSX_COLUMNS, hotline_import, hotline_orders_from_upload
from .services.intake import Intake, case_report
from .services.transitions import case_follow_up_public
from .tasks import check_deadlines_throttled
from .views_support import ACTION_LABELS, allowed_actions

PHOTO_ACTIONS = {"feedback", "verify", "rework"}


def _require(request, cap):
    if not user_scope(request.user).has(cap):
        raise PermissionDeniedError("forbidden", _("您没有使用该功能的权限。"), capability=cap, actor=request.user)


def _departments(user):
    return OrgUnit.objects.visible_to(user).filter(kind="department", active=True).order_by("name")


def _filter_form(request):
    grids = Grid.objects.visible_to(request.user).order_by("code")
    # With no filters chosen the console shows the open cases: that is the dispatcher's work. (The page number is
    # no filter: paging on keeps to the open cases.)
    data = request.GET if set(request.GET) - {"page"} else {**request.GET.dict(), "state": "open"}
    form = FilterForm(data, grids=grids, departments=_departments(request.user))
    filters = {k: v for k, v in (form.cleaned_data if form.is_valid() else {}).items() if v not in (None, "", False)}
    return form, filters


def console(request):
    """The grid centre's queue (GOV-2): filters, the map of the filtered cases, bulk dispatch."""
    _require(request, "cases.view")
    check_deadlines_throttled()  # embedded default: no Celery beat (see tasks.py)
    form, filters = _filter_form(request)
    qs = selectors.case_list(user=request.user, **filters)
    page = Paginator(qs, 30).get_page(request.GET.get("page"))
    majors = CaseCategory.objects.visible_to(request.user).filter(is_leaf=False).order_by("kind", "code")
    scope = user_scope(request.user)
    return render(request, "cases/console.html", {
        "form": form, "page": page, "majors": majors, "departments": _departments(request.user),
        "can_dispatch": scope.has("cases.dispatch"), "now": timezone.now(), "open_states": OPEN_STATES,
        "map_query": request.GET.urlencode(), "can_import": scope.has("cases.import"),
    })


def map_json(request):
    _require(request, "cases.view")
    _form, filters = _filter_form(request)
    qs = selectors.case_list(user=request.user, **filters).exclude(lat=None)[:2000]
    now = timezone.now()
    features = [{
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [c.lng, c.lat]},
        "properties": {"id": c.pk, "number": c.number, "title": c.title, "state": c.get_state_display(),
                       "overdue": bool(c.deadline_at and c.state in OPEN_STATES and c.deadline_at < now)},
    } for c in qs]
    return JsonResponse({"type": "FeatureCollection", "features": features})


@require_POST
def bulk_dispatch(request):
    _require(request, "cases.dispatch")
    lead = request.POST.get("lead_department_id", "")
    done, failed = 0, []
    if not request.POST.getlist("case"):
        messages.warning(request, _("请先勾选要派遣的案件。"))
    for item in request.POST.getlist("case"):
        try:
            case_id, version = (int(x) for x in item.split(":"))
            case = selectors.case_get_visible(user=request.user, case_id=case_id)
            if case.state == CaseState.REPORTED:
                case = case_transition(actor=request.user, case=case, action="register", expected_version=version)
                version = case.version
            case_transition(actor=request.user, case=case, action="dispatch", expected_version=version,
                            lead_department_id=int(lead) if lead.isdigit() else None)
            done += 1
        except (DomainError, ValueError) as exc:
            failed.append(f"{item.split(':')[0]}：{getattr(exc, 'message', str(exc))}")
    if done:
        messages.success(request, _("已派遣 %d 件。") % done)
    for line in failed[:10]:
        messages.error(request, line)
    target = request.POST.get("next", "")
    if target.startswith("/cases/") and "//" not in target:
        return redirect(target)
    return redirect("cases:console")


def case_detail(request, case_id: int):
    case = selectors.case_get_visible(user=request.user, case_id=case_id)
    photos = list(case.photos.all())
    actions = allowed_actions(request.user, case)
    leaves = CaseCategory.objects.visible_to(request.user).filter(is_leaf=True, active=True) \
        .select_related("parent").order_by("kind", "code") if "register" in actions else []
    return render(request, "cases/detail.html", {
        "case": case, "events": selectors.case_timeline(case=case), "photos": photos,
        "report_photo": next((p for p in photos if p.stage == PhotoStage.REPORT), None),
        "assignments": case.assignments.select_related("department"),
        "duplicates": selectors.case_duplicates(user=request.user, case=case),
        "merged_in": selectors.case_merged_in(user=request.user, case=case),
        "actions": [(a, ACTION_LABELS[a]) for a in actions], "departments": _departments(request.user),
        "leaves": leaves, "photo_actions": PHOTO_ACTIONS, "now": timezone.now(), "open_states": OPEN_STATES,
        "next": request.GET.get("next", ""),
        "duplicate_radius_m": settings.CASE_DUPLICATE_RADIUS_M, "duplicate_window_h": settings.CASE_DUPLICATE_WINDOW_H,
    })


@require_POST
def case_act(request, case_id: int, action: str):
    case = selectors.case_get_visible(user=request.user, case_id=case_id)
    post = request.POST
    data = {}
    for key in ("category_id", "lead_department_id", "duplicate_of_id", "level", "satisfaction"):
        if post.get(key, "").isdigit():
            data[key] = int(post[key])
    if post.getlist("co_department_ids"):
        data["co_department_ids"] = [int(x) for x in post.getlist("co_department_ids") if x.isdigit()]
    if post.get("urgency"):
        data["urgency"] = post["urgency"]
    if post.get("until"):
        data["until"] = post["until"]
    try:
        version = int(post.get("version", ""))
        # The department's word that the work is done comes with the site as it is now: the grid worker checks
        # against it. (The API leaves this to its clients.)
        case_transition(actor=request.user, case=case, action=action, expected_version=version,
                        comment=post.get("comment", ""), photos=request.FILES.getlist("photos"),
                        photos_required=action == "feedback", **data)
    except ValueError:
        messages.error(request, _("请求不完整，请刷新后重试。"))
    except DomainError as exc:
        if isinstance(exc, PermissionDeniedError):
            raise
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已%s。") % ACTION_LABELS.get(action, action))
    target = post.get("next", "")
    if target.startswith("/cases/") and "//" not in target:
        return redirect(target)
    return redirect("cases:detail", case_id=case.pk)


def inbox(request):
    """A department's inbox: to accept, in hand, overdue, waiting for verification."""
    _require(request, "cases.handle")
    check_deadlines_throttled()
    lists = selectors.department_inbox(user=request.user)
    tab = request.GET.get("tab", "to_accept")
    if tab not in lists:
        tab = "to_accept"
    page = Paginator(lists[tab], 30).get_page(request.GET.get("page"))
    counts = {k: v.count() for k, v in lists.items()}
    return render(request, "cases/inbox.html", {"tab": tab, "page": page, "counts": counts, "now": timezone.now(),
                                                "open_states": OPEN_STATES})


def field_home(request):
    """The grid worker's phone page: cases to verify in my grids, my reports."""
    _require(request, "cases.report")
    tasks = selectors.grid_worker_tasks(user=request.user)
    return render(request, "cases/field_home.html", {**tasks, "can_verify": user_scope(request.user).has("cases.verify")})


def _leaves(user):
    # Not the legacy-only leaves (code L…): they exist so that old 12345 codes find a category, not to be chosen.
    return CaseCategory.objects.visible_to(user).filter(is_leaf=True, active=True).exclude(code__startswith="L") \
        .select_related("parent").order_by("kind", "code")


def field_report(request):
    """Report a problem from the phone (X-5: the page's script queues it when there is no signal)."""
    _require(request, "cases.report")
    form = ReportForm(request.POST or None)
    # A grid worker reports what they see on site: a photo is part of the report. Staff registering a phone call
    # have none. (The API takes 0–6 from any client.)
    photo_required = "grid_worker" in user_scope(request.user).roles
    if request.method == "POST" and form.is_valid():  # the no-script path; the script posts to the API
        d = form.cleaned_data
        try:
            if photo_required and not request.FILES.getlist("photos"):
                raise DomainError(CaseErrorCode.PHOTO_REQUIRED, _("请至少拍一张现场照片。"))
            case = case_report(actor=request.user, subdistrict_id=subdistrict_id_of(request.user), intake=Intake(
                source=CaseSource.GRID_WORKER if "grid_worker" in user_scope(request.user).roles else CaseSource.STAFF,
                description=d["description"], category_id=d.get("category_id"), lat=d.get("lat"), lng=d.get("lng"),
                coord_system=d.get("coord_system") or "wgs84", address=d.get("address") or "",
                urgency=d.get("urgency") or "normal", photos=tuple(request.FILES.getlist("photos"))))
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("已上报，案件编号 %s。") % case.number)
            return redirect("cases:field")
    return render(request, "cases/field_report.html", {"form": form, "leaves": _leaves(request.user),
                                                       "photo_required": photo_required},
                  status=400 if request.method == "POST" else 200)


def photo(request, photo_id: int, variant: str):
    """Photos are served only to those who can see the case. ``full`` is the re-encoded JPEG every browser shows
    (HEIC originals do not display); ``original`` is the upload as it came, EXIF included, for staff."""
    obj = CasePhoto.objects.filter(pk=photo_id, case__in=Case.objects.visible_to(request.user)).first()
    if obj is None or variant not in {"full", "original", "thumb"}:
        raise Http404
    if variant == "original":
        response = FileResponse(obj.image.open("rb"), content_type=obj.content_type, as_attachment=True)
        response["Cache-Control"] = "private, no-store"
        return response
    field = {"full": obj.public_image, "thumb": obj.thumbnail}[variant]
    response = FileResponse(field.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response


def evaluation_view(request):
    _require(request, "cases.evaluate")
    month = request.GET.get("month") or timezone.localtime().strftime("%Y-%m")
    by = request.GET.get("by", "department")
    if by not in DIMENSIONS:
        by = "department"
    try:
        rows = [r.as_dict() for r in evaluation(user=request.user, month=month, by=by)]
    except ValueError:
        month, rows = timezone.localtime().strftime("%Y-%m"), []
    chart = {"labels": [r["label"] for r in rows[:20]], "closed": [r["closed"] for r in rows[:20]],
             "dispatched": [r["dispatched"] for r in rows[:20]],
             "on_time": [r["on_time_close_rate"] for r in rows[:20]]}  # none closed: a gap, not 0 %
    return render(request, "cases/evaluation.html", {"rows": rows, "month": month, "by": by, "chart": chart,
                                                     "dimensions": [("department", _("部门")), ("grid", _("网格")),
                                                                    ("worker", _("上报人"))]})


EVAL_HEADER = (("label", "对象"), ("reported", "上报数"), ("registered", "立案数"), ("dispatched", "派遣数"),
               ("co_handled", "其中协办数"), ("closed", "结案数"), ("on_time_close_rate", "按期结案率%"), ("rework_rate", "返工率%"),
               ("return_rate", "退单率%"), ("postponement_rate", "延期率%"), ("mean_handling_hours", "平均处置时长（工作小时）"),
               ("verification_on_time_rate", "按时核查率%"), ("mean_satisfaction", "平均满意度（1–5）"))


def evaluation_export(request):
    import xlsxwriter

    _require(request, "cases.evaluate")
    month = request.GET.get("month") or timezone.localtime().strftime("%Y-%m")
    by = request.GET.get("by", "department") if request.GET.get("by") in DIMENSIONS else "department"
    try:
        rows = [r.as_dict() for r in evaluation(user=request.user, month=month, by=by)]
    except ValueError:  # not a month: nothing to export (the month also names the sheet and the file)
        return HttpResponseBadRequest(_("月份格式应为 YYYY-MM。"), content_type="text/plain; charset=utf-8")
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet(f"{month} 绩效考评")
    # Lead and co-handling assignments are told apart only by department.
    header = [(k, label) for k, label in EVAL_HEADER if k != "co_handled" or by == "department"]
    ws.write_row(0, 0, [label for _, label in header])
    for i, r in enumerate(rows, start=1):
        ws.write_row(i, 0, ["" if r[k] is None else r[k] for k, _ in header])
    wb.close()
    return xlsx_response(buf.getvalue(), f"evaluation-{month}-{by}.xlsx")


def hotline_import_view(request):
    """12345 work orders from the city platform's .xlsx export (the JSON batch is the API's)."""
    _require(request, "cases.import")
    result, error = None, ""
    keep_valid = request.POST.get("commit_valid_rows") == "on"
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise DomainError("hotline_invalid", _("请选择 12345 工单导出的 .xlsx 文件。"))
            result = hotline_import(actor=request.user, subdistrict=subdistrict_of(request.user),
                                    orders=hotline_orders_from_upload(upload), commit_valid_rows=keep_valid,
                                    source="xlsx")
        except DomainError as exc:
            error = exc.message
    created = list(Case.objects.visible_to(request.user).filter(number__in=result.created).select_related("category")
                   .order_by("number")) \
        if result and result.created else []
    return render(request, "cases/hotline_import.html",
                  {"result": result, "error": error, "created": created, "keep_valid": keep_valid},
                  status=400 if error else 200)


def hotline_template(request):
    """An empty .xlsx with the columns the import reads, and one example order."""
    import xlsxwriter

    _require(request, "cases.import")
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet("12345工单")
    ws.write_row(0, 0, list(XLSX_COLUMNS))
    ws.write_row(1, 0, ["SH2026112700001", "2026-11-27 09:30:00", "张先生", "13900000000", "政立路人行道有暴露垃圾",
                        "政立路100号", "06010", "暴露垃圾", "2026-12-02 17:00:00", "一般"])
    ws.set_column(0, len(XLSX_COLUMNS) - 1, 18)
    wb.close()
    return xlsx_response(buf.getvalue(), "hotline-template.xlsx")


# --- residents' public pages -------------------------------------------------------------------------
_SALT = "cases.public-report"


def _started() -> str:
    return signing.dumps({"t": time.time()}, salt=_SALT)
MIN_FILL_SECONDS = 3


def _public_subdistrict(request):
    """``?sd=<code>``: each sub-district publishes its own link or QR code; an unknown code is a 404. Without one,
    the only sub-district, or None where there are several (the page then asks which)."""
    code = (request.GET.get("sd") or "").strip()
    sub = public_subdistrict(code)
    if sub is None and code:
        raise Http404
    return sub


@ratelimit(key="ip", rate="10/h", method="POST", block=False)
def public_report(request):
    """居民随手拍: no login, no captcha; a honeypot, a minimum fill time and a per-IP rate limit instead."""
    sub = _public_subdistrict(request)
    if sub is None:  # several sub-districts and no ?sd=: the resident picks theirs (a GET link to the form)
        return render(request, "cases/public_choose.html", {"subdistricts": public_subdistricts()})
    form = PublicReportForm(request.POST or None)
    leaves = CaseCategory.objects.filter(subdistrict=sub, is_leaf=True, active=True).exclude(code__startswith="L") \
        .select_related("parent").order_by("kind", "code")
    if request.method == "POST":
        if getattr(request, "limited", False):
            return render(request, "cases/public_report.html", {"form": form, "leaves": leaves, "started": _started(), "error": _("提交过于频繁，请稍后再试。")}, status=429)
        error = ""
        if form.is_valid():
            d = form.cleaned_data
            try:
                shown = signing.loads(d["started"], salt=_SALT, max_age=dt.timedelta(hours=2))["t"]
            except (signing.BadSignature, KeyError, TypeError):
                error = _("页面已过期，请刷新后重新填写。")
            else:
                if d["website"] or time.time() - shown < MIN_FILL_SECONDS:
                    error = _("提交失败，请稍后再试。")
            if not error:
                try:
                    category = CaseCategory.objects.filter(subdistrict=sub, pk=d.get("category_id"), is_leaf=True) \
                        .first() if d.get("category_id") else None
                    case = case_report(actor=None, subdistrict_id=sub.pk, intake=Intake(
                        source=CaseSource.RESIDENT, description=d["description"], category=category,
                        lat=d.get("lat"), lng=d.get("lng"), coord_system=d.get("coord_system") or "wgs84",
                        address=d.get("address") or "", reporter_name=d.get("reporter_name") or "",
                        reporter_phone=d.get("reporter_phone") or "", photos=tuple(request.FILES.getlist("photos"))))
                except DomainError as exc:
                    error = exc.message
                else:
                    return redirect("public_report_status", token=case.public_token)
        else:  # the first problem, in the field's own words (the phone's format, a missing description …)
            error = next((e for errors in form.errors.values() for e in errors), "") \
                if "description" not in form.errors else _("请填写问题描述。")
        return render(request, "cases/public_report.html", {"form": form, "leaves": leaves, "error": error,
                                                             "started": _started()}, status=400)
    return render(request, "cases/public_report.html", {"form": form, "leaves": leaves, "started": _started()})


@ratelimit(key="ip", rate="30/h", method="POST", block=False)
def public_status(request, token: str):
    case = Case.objects.filter(public_token=token).select_related("category", "duplicate_of").first() if token else None
    if case is None:
        raise Http404
    error = ""
    if request.method == "POST":
        if getattr(request, "limited", False):
            error = _("提交过于频繁，请稍后再试。")
        else:
            try:
                case_follow_up_public(token=token, satisfaction=int(request.POST.get("satisfaction") or 0),
                                      comment=request.POST.get("comment", ""))
            except (DomainError, ValueError) as exc:
                error = getattr(exc, "message", _("请选择满意度。"))
            else:
                return redirect("public_report_status", token=token)
    photos = case.photos.filter(stage="report")
    # A report merged into another case follows that case: its state, its deadline, its steps (GOV-2).
    primary = selectors.case_merged_into(case)
    followed = primary or case
    return render(request, "cases/public_status.html", {"case": case, "photos": photos, "error": error,
                                                        "primary": primary, "followed": followed,
                                                        "can_rate": followed.state == CaseState.CLOSED
                                                        and not case.satisfaction,
                                                        "events": followed.events.exclude(action="report")
                                                        .only("action", "created_at", "to_state")},
                  status=400 if error else 200)


def public_photo(request, token: str, photo_id: int):
    """Public copy only: EXIF stripped, re-encoded."""
    obj = CasePhoto.objects.filter(pk=photo_id, case__public_token=token).first() if token else None
    if obj is None:
        raise Http404
    return FileResponse(obj.public_image.open("rb"), content_type="image/jpeg")
