"""Pages of the inspection engine: the inspector's due list and field form (phone), the record, and the
manager's coverage (with the plan calendar), scores and rankings, and the map of findings."""

from __future__ import annotations

import calendar as pycal
import datetime as dt
import io

from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from jiedao.kernel.downloads import xlsx_response
from jiedao.kernel.exceptions import DomainError, PermissionDeniedError
from jiedao.kernel.idempotency import run_idempotent
from jiedao.kernel.scoping import user_scope
from jiedao.kernel.selectors import subdistrict_of

from . import selectors
from .models import ChecklistTemplate, Inspection, InspectionPhoto, InspectionPlan
from .services.inspect import inspection_submit, target_resolve
from .services.schedule import occurrences
from .services.templates import template_current
from .tasks import check_missed_throttled


def _require(request, cap):
    if not user_scope(request.user).has(cap):
        raise PermissionDeniedError("forbidden", _("您没有使用该功能的权限。"), capability=cap, actor=request.user)



def home(request):
    _require(request, "inspections.view")
    check_missed_throttled()  # embedded default: no Celery beat (see tasks.py)
    scope = user_scope(request.user)
    today = timezone.localdate()
    due = selectors.due_list(user=request.user, on=today) if scope.has("inspections.do") else []
    recent = Inspection.objects.visible_to(request.user).select_related("template").order_by("-finished_at")[:15]
    return render(request, "inspections/home.html", {
        "due": due, "open": sum(1 for d in due if not d.done), "recent": recent, "today": today,
        "can_manage": scope.has("inspections.manage") or scope.has("cases.evaluate"),
        "templates": ChecklistTemplate.objects.visible_to(request.user).filter(status="active").order_by("code"),
    })


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _client_time(value):
    """A time the phone recorded (a patrol saved offline is sent later): accepted within the last 7 days."""
    from django.utils.dateparse import parse_datetime

    moment = parse_datetime(value or "")
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    now = timezone.now()
    return moment if now - dt.timedelta(days=7) <= moment <= now + dt.timedelta(minutes=5) else None


def do(request):
    """The field form. GET renders the checklist; POST (multipart, from the page's outbox) records it."""
    if not user_scope(request.user).has("inspections.do") and request.method == "POST" and _wants_json(request):
        return JsonResponse({"code": "forbidden", "message": "您没有巡查检查的权限。", "fields": {}}, status=403)
    _require(request, "inspections.do")
    src = request.POST if request.method == "POST" else request.GET
    plan = selectors.plan_get_visible(user=request.user, plan_id=int(src["plan"])) if src.get("plan", "").isdigit() \
        else None
    try:
        template = template_current(subdistrict_id=subdistrict_of(request.user).pk,
                                    code=plan.template_code if plan else src.get("template", ""))
        target = target_resolve(user=request.user, target_type=src.get("target_type", ""),
                                target_id=int(src.get("target_id", "0") or 0))
    except (DomainError, ValueError) as exc:
        message = getattr(exc, "message", "对象不存在。")
        if request.method == "POST" and _wants_json(request):
            return JsonResponse({"code": "not_found", "message": message, "fields": {}}, status=404)
        return render(request, "web/error.html", {"status": 404, "message": message}, status=404)
    if request.method == "POST":
        def work():
            answers = {item.code: request.POST.get(f"a_{item.code}") for item in template.items.all()}
            photos = {item.code: request.FILES.getlist(f"p_{item.code}") for item in template.items.all()}
            track = []
            for point in request.POST.get("track", "").split(";")[:5000]:
                parts = point.split(",")
                if len(parts) >= 2:
                    try:
                        track.append([float(parts[0]), float(parts[1]), parts[2] if len(parts) > 2 else ""])
                    except ValueError:
                        continue
            ins = inspection_submit(actor=request.user, subdistrict=subdistrict_of(request.user), template=template,
                                    plan=plan, target_type=target["target_type"], target_id=target["target_id"],
                                    answers=answers, photos=photos, track=track, notes=request.POST.get("notes", ""),
                                    started_at=_client_time(request.POST.get("started_at")),
                                    finished_at=_client_time(request.POST.get("finished_at")))
            return 201, ins

        try:
            _status, ins = run_idempotent(request=request, endpoint="inspections.do", work=work,
                                          load=lambda pk: selectors.inspection_get_visible(user=request.user,
                                                                                           inspection_id=pk))
        except DomainError as exc:
            if _wants_json(request):
                return JsonResponse({"code": exc.code, "message": exc.message, "fields": exc.fields},
                                    status=exc.status)
            raise
        if _wants_json(request):
            return JsonResponse({"id": ins.pk, "passed": ins.passed, "failed_items": ins.failed_items,
                                 "url": f"/inspections/{ins.pk}/"}, status=201)
        return redirect("inspections:detail", inspection_id=ins.pk)
    done_already = bool(plan) and Inspection.objects.filter(
        plan=plan, target_type=target["target_type"], target_id=target["target_id"],
        period_key__in=[o.key for o in occurrences(plan, timezone.localdate(), timezone.localdate())]).exists()
    return render(request, "inspections/do.html", {"template": template, "items": template.items.all(),
                                                   "target": target, "plan": plan, "done_already": done_already})


def detail(request, inspection_id: int):
    ins = selectors.inspection_get_visible(user=request.user, inspection_id=inspection_id)
    answers = {a.item_id: a for a in ins.answers.select_related("case")}
    rows = [(item, answers.get(item.pk)) for item in ins.template.items.all()]
    return render(request, "inspections/detail.html", {"ins": ins, "rows": rows,
                                                       "photos": ins.photos.select_related("item")})


def photo(request, photo_id: int, variant: str):
    """An inspection photo, for those who can see the inspection."""
    obj = InspectionPhoto.objects.filter(pk=photo_id, inspection__in=Inspection.objects.visible_to(request.user)).first()
    if obj is None or variant not in {"full", "thumb"}:
        raise Http404
    field = obj.thumbnail if variant == "thumb" else obj.image
    response = FileResponse(field.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _month(request) -> tuple[str, dt.date, dt.date]:
    month = request.GET.get("month") or timezone.localdate().strftime("%Y-%m")
    try:
        year, mon = (int(x) for x in month.split("-"))
        start = dt.date(year, mon, 1)
    except ValueError:
        start = timezone.localdate().replace(day=1)
        month = start.strftime("%Y-%m")
    end = dt.date(start.year, start.month, pycal.monthrange(start.year, start.month)[1])
    return month, start, end


def coverage(request):
    """What was due and what was done, per plan and inspector, with each plan's calendar of the month."""
    _require(request, "inspections.view")
    month, start, end = _month(request)
    today = timezone.localdate()
    rows = selectors.coverage(user=request.user, start=start, end=min(end, today))
    calendars = selectors.plan_calendars(user=request.user, start=start, end=end, today=today)
    return render(request, "inspections/coverage.html", {"rows": rows, "month": month, "calendars": calendars})


def scores_view(request):
    _require(request, "inspections.view")
    month, _start, _end = _month(request)
    templates = ChecklistTemplate.objects.visible_to(request.user).filter(status="active").order_by("code")
    code = request.GET.get("template") or (templates[0].code if templates else "")
    by = request.GET.get("by", "target") if request.GET.get("by") in ("target", "grid") else "target"
    rows = selectors.scores(user=request.user, template_code=code, month=month, by=by) if code else []
    chart = {"labels": [r["label"] for r in rows[:30]], "scores": [r["avg_score"] or 0 for r in rows[:30]]}
    if request.GET.get("format") == "xlsx":
        import xlsxwriter

        buf = io.BytesIO()
        wb = xlsxwriter.Workbook(buf, {"in_memory": True})
        ws = wb.add_worksheet(f"{code} {month}")
        ws.write_row(0, 0, ["排名", "对象", "平均得分", "检查次数", "合格次数", "合格率%"])
        for i, r in enumerate(rows, start=1):
            ws.write_row(i, 0, [r["rank"], r["label"], r["avg_score"] if r["avg_score"] is not None else "",
                                r["checks"], r["passed"], r["pass_rate"] if r["pass_rate"] is not None else ""])
        wb.close()
        return xlsx_response(buf.getvalue(), f"scores-{code}-{month}.xlsx")
    trend, trend_label = [], ""
    target_type, _sep, target_id = request.GET.get("trend", "").partition(":")
    if code and target_id.isdigit():
        year, mon = (int(x) for x in month.split("-"))
        until = dt.date(year, mon, pycal.monthrange(year, mon)[1])
        trend = selectors.score_trend(user=request.user, template_code=code, target_type=target_type,
                                      target_id=int(target_id), months=6, until=until)
        trend_label = next((r["label"] for r in rows if str(r.get("target_id")) == target_id), "")
    return render(request, "inspections/scores.html", {"rows": rows, "month": month, "templates": templates,
                                                       "code": code, "by": by, "chart": chart, "trend": trend,
                                                       "trend_label": trend_label})


def findings(request):
    _require(request, "inspections.view")
    return render(request, "inspections/findings.html", {})


def findings_json(request):
    _require(request, "inspections.view")
    raw = request.GET.get("days", "90")
    days = min(max(int(raw), 1), 366) if raw.isdigit() else 90
    since = timezone.localdate() - dt.timedelta(days=days)
    return JsonResponse(selectors.findings_geojson(user=request.user, since=since))


def plans(request):
    _require(request, "inspections.view")
    qs = InspectionPlan.objects.visible_to(request.user).select_related("inspector").order_by("name")
    return render(request, "inspections/plans.html", {"plans": qs})
