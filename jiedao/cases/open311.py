"""Open311 GeoReport v2 (X-1), to the letter of the published spec (wiki.open311.org/GeoReport_v2).

Formats: every endpoint in .xml (required by the spec) and .json. XML has the declaration and no namespace;
JSON lists are bare arrays, even of one element; ids and codes are strings; the spec's true/false are JSON booleans
(XML text "true"/"false"), ``order``, ``lat`` and ``long`` JSON numbers; datetimes are ISO 8601 with +08:00.
Errors are a list of {code, description} with the HTTP status: 403 missing/wrong api_key, 404 unknown id or
code, 400 anything else. Public reads list only cases reported through public channels (resident, Open311,
grid patrol, sensors): 12345 orders carry callers' own words and stay internal (docs/decisions/0007-open311.md).
A report merged into another case stays a request: it follows that case, as its public status page does.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

from django.conf import settings
from django.core import signing
from django.db.models import OuterRef, Prefetch, Q, Subquery
from django.http import FileResponse, Http404, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django_ratelimit.core import is_ratelimited

from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.models import Subdistrict
from jiedao.kernel.selectors import public_subdistrict

from .choices import OPEN_STATES, CaseSource, CaseState, Urgency
from .models import Case, CaseCategory, CaseEvent, CasePhoto, Open311Key
from .services.intake import Intake, case_report
from .workflow import Action

PUBLIC_SOURCES = (CaseSource.RESIDENT, CaseSource.OPEN311, CaseSource.GRID_WORKER, CaseSource.SENSOR)
DEFAULT_DAYS = 90
MAX_RESULTS = 1000
MAX_DESCRIPTION = 4000  # the spec's limit
# Characters XML 1.0 cannot hold (a posted description may carry them): left out of the XML, kept in JSON.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MEDIA_SALT = "open311.media"
CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
ATTRIBUTES = [{
    "variable": True, "code": "urgency", "datatype": "singlevaluelist", "required": False,
    "datatype_description": "", "order": 1, "description": "紧急程度（影响安全时选紧急）",
    "values": [{"key": Urgency.NORMAL.value, "name": "一般"}, {"key": Urgency.URGENT.value, "name": "紧急"}],
}]


class Open311Error(Exception):
    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


# --- rendering ------------------------------------------------------------------------------------
def _xml_value(parent, key, value):
    if isinstance(value, list):
        holder = ET.SubElement(parent, key)
        item_tag = {"values": "value", "endpoints": "endpoint", "formats": "format", "attributes": "attribute"}.get(
            key, key[:-1] if key.endswith("s") else "item")
        for item in value:
            _xml_value(holder, item_tag, item)
    elif isinstance(value, dict):
        node = ET.SubElement(parent, key)
        for k, v in value.items():
            _xml_value(node, k, v)
    else:
        node = ET.SubElement(parent, key)
        node.text = _xml_text(value)


def _xml_text(value) -> str:
    """The spec's text forms: true/false for booleans (JSON has them as booleans), numbers as written, nothing for
    None (an empty element, JSON's null)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def render(fmt: str, root: str, item: str, payload, status: int = 200) -> HttpResponse:
    """``payload``: a list (rendered as <root><item>…</item></root> or a bare JSON array) or a dict."""
    if fmt == "json":
        import json

        body = json.dumps(payload, ensure_ascii=False)
    else:
        top = ET.Element(root)
        if isinstance(payload, list):
            for entry in payload:
                _xml_value(top, item, entry)
        else:
            for k, v in payload.items():
                _xml_value(top, k, v)
        body = ET.tostring(top, encoding="unicode")
        body = '<?xml version="1.0" encoding="utf-8"?>\n' + body
    return HttpResponse(body.encode("utf-8"), status=status, content_type=CONTENT_TYPES[fmt])


def error(fmt: str, status: int, description: str) -> HttpResponse:
    return render(fmt if fmt in CONTENT_TYPES else "xml", "errors", "error",
                  [{"code": str(status), "description": description}], status=status)


def endpoint(view):
    """Format check, jurisdiction check and error mapping for every Open311 view."""

    def wrapped(request, fmt="xml", **kwargs):
        if fmt not in CONTENT_TYPES:
            return error("xml", 404, f"unknown format: {fmt}")
        try:
            sub = _jurisdiction(request)
            return view(request, fmt, sub, **kwargs)
        except Open311Error as exc:
            return error(fmt, exc.status, exc.description)
        except DomainError as exc:
            return error(fmt, 403 if exc.status in (401, 403) else (404 if exc.status == 404 else 400), exc.message)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return csrf_exempt(wrapped)


def _jurisdiction(request) -> Subdistrict:
    code = (request.GET.get("jurisdiction_id") or request.POST.get("jurisdiction_id") or "").strip()
    sub = public_subdistrict(code)
    if sub is None and not code:  # GeoReport v2: required where the endpoint serves several jurisdictions
        raise Open311Error(400, "jurisdiction_id is required: this endpoint serves several jurisdictions")
    if sub is None:
        raise Open311Error(404, f"unknown jurisdiction_id: {code}")
    return sub


def _when(moment) -> str | None:
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else None


def service_code(category: CaseCategory) -> str:
    return f"{category.kind[0].upper()}{category.code}"


def _category_for(sub, code: str) -> CaseCategory:
    code = (code or "").strip()
    if len(code) < 2 or code[0] not in "CE":
        raise Open311Error(404, f"unknown service_code: {code}")
    kind = "component" if code[0] == "C" else "event"
    category = CaseCategory.objects.filter(subdistrict=sub, kind=kind, code=code[1:], is_leaf=True, active=True).first()
    if category is None:
        raise Open311Error(404, f"unknown service_code: {code}")
    return category


def _absolute(request, path: str) -> str:
    return request.build_absolute_uri(path)


# --- endpoints ------------------------------------------------------------------------------------
@endpoint
def discovery(request, fmt, sub):
    base = _absolute(request, "/open311/v2/")
    return render(fmt, "discovery", "", {
        "changeset": "2026-11-26T00:00:00+08:00",
        "contact": getattr(settings, "OPEN311_CONTACT", "网格化综合管理中心"),
        "key_service": getattr(settings, "OPEN311_KEY_SERVICE", "api_key 由街道系统管理员签发"),
        "endpoints": [{
            "specification": "http://wiki.open311.org/GeoReport_v2", "url": base,
            "changeset": "2026-11-26T00:00:00+08:00", "type": "production",
            "formats": ["text/xml", "application/json"],
        }],
    })


def _service(category: CaseCategory) -> dict:
    return {"service_code": service_code(category), "service_name": category.name,
            "description": f"{category.get_kind_display()} · {category.parent.name if category.parent else ''}",
            "metadata": True, "type": "realtime", "keywords": category.legacy_code,
            "group": category.parent.name if category.parent else ""}


@endpoint
def services(request, fmt, sub):
    cats = CaseCategory.objects.filter(subdistrict=sub, is_leaf=True, active=True).select_related("parent") \
        .order_by("kind", "code")
    return render(fmt, "services", "service", [_service(c) for c in cats])


@endpoint
def service_definition(request, fmt, sub, code: str):
    category = _category_for(sub, code)
    if fmt == "json":
        return render(fmt, "", "", [{"service_code": service_code(category), "attributes": ATTRIBUTES}][0])
    return render(fmt, "service_definition", "", {"service_code": service_code(category), "attributes": ATTRIBUTES})


def _status(case: Case) -> str:
    return "open" if case.state in OPEN_STATES else "closed"


def media_url(request, photo: CasePhoto) -> str:
    """The public copy of a report photo (EXIF stripped) at a signed address: not the reporter's own link, whose
    token opens the follow-up (回访) of the case."""
    signed = signing.Signer(salt=_MEDIA_SALT).sign(str(photo.pk))
    return _absolute(request, reverse("open311_media", args=[signed]))


def _request_out(request, case: Case, via: list[Case]) -> dict:
    """``via``: for a merged report, the cases its chain of merges leads through, the last the one it is handled as
    (see ``_merge_chains``); empty otherwise. Status, notes, expected time and agency follow that case, as the public
    status page does; what the reporter sent (description, place, photo) stays the report's own."""
    photo = case.report_photos[0] if case.report_photos else None
    if photo is not None:
        media = media_url(request, photo)
    else:  # a URL the client posted with the request
        first = case.report_events[0] if case.report_events else None
        media = ((first.data or {}).get("media_url") or [""])[0] if first else ""
    primary = via[-1] if via and via[-1].pk != case.pk else None
    followed = primary or case
    if primary is not None:
        notes = _("已合并到案件 %(number)s 办理：%(state)s") % {"number": primary.number,
                                                          "state": primary.get_state_display()}
    else:
        # The state in words, not the staff's comments: those may name or quote residents (a phone number, a name)
        # and this answer is public.
        notes = case.get_state_display()
    # Every case of the chain, not only the last: when the case a report was merged into is merged in turn, the
    # report follows a new case, and the time of the old one's events must not drop out of the maximum.
    updated = max((c.last_event_at for c in (case, *via) if c.last_event_at), default=None) or case.reported_at
    return {
        "service_request_id": str(case.pk), "status": _status(followed), "status_notes": notes,
        "service_name": case.category.name if case.category else "", "service_code":
            service_code(case.category) if case.category else "",
        "description": case.description,
        "agency_responsible": followed.lead_department.name if followed.lead_department else "",
        "service_notice": "", "requested_datetime": _when(case.reported_at), "updated_datetime": _when(updated),
        "expected_datetime": _when(followed.deadline_at), "address": case.address, "address_id": "", "zipcode": "",
        # Numbers, as in the spec's example. A case located by address only has null (XML: an empty element), not
        # omitted keys: the `georeport` package hands clients the parsed JSON (xmltodict's dict for XML), where
        # request["lat"] is then None instead of a KeyError, and FixMyStreet's client (XML::Simple with
        # SuppressEmpty => undef) reads <lat/> as undef, like a missing element, and skips requests without a point.
        "lat": case.lat, "long": case.lng,
        "media_url": media,
    }


def _public_cases(sub):
    """The cases Open311 shows, merged reports included (they follow their case, see ``_request_out``)."""
    return Case.objects.filter(subdistrict=sub, source__in=PUBLIC_SOURCES)


def _last_event_at() -> Subquery:
    """``updated_datetime``: the time of the case's latest event, never the phase timestamps (a rework clears
    ``handled_at``, and the time went backwards). Follow-ups (回访, the reporter's rating) are left out: nothing in
    the request changes, and for a closed request the spec has it be the time the request was closed."""
    return Subquery(CaseEvent.objects.filter(case=OuterRef("pk")).exclude(action=Action.FOLLOW_UP)
                    .order_by("-created_at", "-id").values("created_at")[:1])


def _answered(qs):
    # With each case only what its answer shows: the first report photo, or the report event's posted media URLs
    # (one query each for the whole list, not every event of up to 1,000 cases), and its latest event's time.
    return qs.select_related("category", "lead_department").annotate(last_event_at=_last_event_at()).prefetch_related(
        Prefetch("photos", CasePhoto.objects.filter(stage="report").order_by("id"), to_attr="report_photos"),
        Prefetch("events", CaseEvent.objects.filter(action="report").only("id", "case_id", "data"),
                 to_attr="report_events"))


def _merge_chains(cases) -> dict[int, list[Case]]:
    """For each merged case among ``cases``, the chain of cases it is handled through: itself first, last the case
    ``selectors.case_merged_into`` answers (the one the public status page follows; the case itself when the chain
    leads nowhere). The same walk for many cases at once: one query per link of the longest chain, not per case."""
    chains = {c.pk: [c] for c in cases if c.state == CaseState.MERGED}

    def goes_on(chain):
        last = chain[-1]
        return last.state == CaseState.MERGED and last.duplicate_of_id and last.pk not in {c.pk for c in chain[:-1]}

    known: dict[int, Case] = {}
    asked: set[int] = set()
    while True:
        missing = {chain[-1].duplicate_of_id for chain in chains.values() if goes_on(chain)} - asked
        asked |= missing
        if missing:
            # Not through visible_to, as case_merged_into: of these cases the answer shows only the number, state,
            # expected time and agency, as the public status page does.
            known.update((c.pk, c) for c in Case.objects.filter(pk__in=missing).select_related("lead_department")
                         .annotate(last_event_at=_last_event_at()))
        moved = False
        for chain in chains.values():
            if goes_on(chain) and chain[-1].duplicate_of_id in known:
                chain.append(known[chain[-1].duplicate_of_id])
                moved = True
        if not moved:
            return chains


def _parse_date(value: str, name: str) -> dt.datetime:
    try:
        parsed = parse_datetime(value.strip().replace(" ", "+")) if value else None
        if parsed is None:
            parsed = dt.datetime.fromisoformat(value.strip())
        parsed = parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
    except (ValueError, OverflowError):  # 2026-02-30, 25:00, an offset of +25:00 …
        raise Open311Error(400, f"{name} is not a w3 datetime: {value}") from None
    if not 1900 <= parsed.year <= 9000:  # a window of 90 days around it must still be a date
        raise Open311Error(400, f"{name} is out of range: {value}")
    return parsed


@endpoint
def requests_view(request, fmt, sub):
    if request.method == "POST":
        return _create(request, fmt, sub)
    if request.method != "GET":
        raise Open311Error(400, "method not allowed")
    qs = _public_cases(sub)
    chains: dict[int, list[Case]] = {}
    ids = [i.strip() for i in request.GET.get("service_request_id", "").split(",") if i.strip()]
    if ids:
        if not all(i.isdigit() for i in ids):
            raise Open311Error(400, "service_request_id must be numeric")
        qs = qs.filter(pk__in=[int(i) for i in ids if len(i) <= 18])  # longer: no such id, left out like others
    else:
        codes = [c.strip() for c in request.GET.get("service_code", "").split(",") if c.strip()]
        if codes:
            cats = [_category_for(sub, c) for c in codes]
            qs = qs.filter(category__in=cats)
        end = _parse_date(request.GET["end_date"], "end_date") if request.GET.get("end_date") else timezone.now()
        start = _parse_date(request.GET["start_date"], "start_date") if request.GET.get("start_date") \
            else end - dt.timedelta(days=DEFAULT_DAYS)
        if start > end:
            raise Open311Error(400, "start_date is after end_date")
        qs = qs.filter(reported_at__gte=start, reported_at__lte=end)
        statuses = {s.strip() for value in request.GET.getlist("status") for s in value.split(",") if s.strip()}
        if statuses - {"open", "closed"}:
            raise Open311Error(400, "status must be open or closed")
        if len(statuses) == 1:
            # A merged report has the status of the case it follows: those whose chain ends in the wanted status are
            # picked out before the query, so that the limit of 1,000 counts only requests that match.
            wanted = statuses.pop()
            # Bounded like the answer: the newest 1,000 merged reports of the window (an anonymous query may ask
            # for any window; more merged reports than that in it would only make older ones drop out).
            chains = _merge_chains(qs.filter(state=CaseState.MERGED).only("id", "state", "duplicate_of_id")
                                   .order_by("-reported_at")[:MAX_RESULTS])
            following = [pk for pk, chain in chains.items() if _status(chain[-1]) == wanted]
            own = Q(state__in=OPEN_STATES) if wanted == "open" else ~Q(state__in=[*OPEN_STATES, CaseState.MERGED])
            qs = qs.filter(own | Q(pk__in=following))
    cases = list(_answered(qs).order_by("-reported_at")[:MAX_RESULTS])
    chains.update(_merge_chains([c for c in cases if c.pk not in chains]))
    return render(fmt, "service_requests", "request",
                  [_request_out(request, c, chains.get(c.pk, [c])[1:]) for c in cases])


@endpoint
def request_detail(request, fmt, sub, request_id: str):
    case = _answered(_public_cases(sub)).filter(pk=int(request_id)).first() \
        if request_id.isdigit() and len(request_id) <= 18 else None
    if case is None:
        raise Open311Error(404, f"unknown service_request_id: {request_id}")
    via = _merge_chains([case]).get(case.pk, [case])[1:]
    return render(fmt, "service_requests", "request", [_request_out(request, case, via)])


@endpoint
def token_detail(request, fmt, sub, token: str):
    case = Case.objects.filter(subdistrict=sub, public_token=token).first() if token else None
    if case is None:
        raise Open311Error(404, f"unknown token: {token}")
    return render(fmt, "service_requests", "request", [{"service_request_id": str(case.pk), "token": token}])


def _attributes(post) -> dict:
    """attribute[code]=v and attribute[code][]=v1&attribute[code][]=v2."""
    out: dict[str, object] = {}
    for key in post:
        if key.startswith("attribute[") and key.endswith("]"):
            inner = key[len("attribute["):]
            if inner.endswith("][]"):
                out[inner[:-3]] = post.getlist(key)
            else:
                out[inner[:-1]] = post.get(key)
    return out


def _create(request, fmt, sub):
    raw_key = request.POST.get("api_key", "")
    key = Open311Key.objects.filter(digest=Open311Key.digest_of(raw_key), active=True, subdistrict=sub).first() \
        if raw_key else None
    if key is None:
        raise Open311Error(403, "api_key is missing or invalid")
    if is_ratelimited(request, group="open311", key=lambda g, r: str(key.pk), rate=key.rate, increment=True):
        raise Open311Error(400, "rate limit exceeded for this api_key: retry later")  # the spec: other errors are 400
    post = request.POST
    category = _category_for(sub, post.get("service_code", "")) if post.get("service_code") else None
    if category is None:
        raise Open311Error(400, "service_code is required")
    lat, lng = post.get("lat", "").strip(), post.get("long", "").strip()
    address = post.get("address_string", "").strip()
    if not ((lat and lng) or address):
        raise Open311Error(400, "a location is required: lat & long or address_string"
                           + (" (address_id is not used by this jurisdiction)" if post.get("address_id") else ""))
    try:
        lat_f = float(lat) if lat else None
        lng_f = float(lng) if lng else None
    except ValueError:
        raise Open311Error(400, "lat and long must be numbers") from None
    attrs = _attributes(post)
    _check_attributes(attrs)
    urgency = attrs.get("urgency") or Urgency.NORMAL
    name = " ".join(x for x in (post.get("last_name", ""), post.get("first_name", "")) if x).strip()
    description = post.get("description", "").strip() or category.name
    media_urls = [u for u in post.getlist("media_url") if u.startswith(("http://", "https://"))]
    files = [f for field in request.FILES for f in request.FILES.getlist(field)]
    case = case_report(actor=None, subdistrict_id=sub.pk, intake=Intake(
        source=CaseSource.OPEN311, description=description[:MAX_DESCRIPTION], category=category, lat=lat_f, lng=lng_f,
        address=address[:200], urgency=urgency, reporter_name=name[:64], reporter_phone=post.get("phone", "")[:32],
        photos=tuple(files[:6]), external_id=""))
    device = (post.get("device_id") or post.get("deviceid") or "").strip()[:64]
    extra = {k: v for k, v in (("media_url", media_urls[:6]), ("attributes", attrs), ("device_id", device),
                               ("address_id", post.get("address_id", "").strip()[:64])) if v}
    if extra:
        first = case.events.order_by("id").first()
        first.data = {**first.data, **extra}
        first.save(update_fields=["data"])
    return render(fmt, "service_requests", "request", [{
        "service_request_id": str(case.pk), "token": case.public_token, "service_notice": "", "account_id": "",
    }])


def _check_attributes(attrs: dict) -> None:
    """Values of the attributes we define must be among their keys (one for a single-value list); a required one
    must be there. Attributes we do not define are kept as sent."""
    for attr in ATTRIBUTES:
        value = attrs.get(attr["code"])
        if value in (None, "", []):
            if attr["required"]:
                raise Open311Error(400, f"attribute[{attr['code']}] is required")
            continue
        keys = {v["key"] for v in attr["values"]}
        values = value if isinstance(value, list) else [value]
        if attr["datatype"] == "singlevaluelist" and len(values) != 1:
            raise Open311Error(400, f"attribute[{attr['code']}] takes one value")
        if any(v not in keys for v in values):
            raise Open311Error(400, f"attribute[{attr['code']}] must be one of: {', '.join(sorted(keys))}")
        if attr["datatype"] == "singlevaluelist":
            attrs[attr["code"]] = values[0]


def media(request, signed: str):
    """A report photo's public copy, for ``media_url`` (EXIF stripped, re-encoded)."""
    try:
        photo_id = int(signing.Signer(salt=_MEDIA_SALT).unsign(signed))
    except (signing.BadSignature, ValueError):
        raise Http404 from None
    # A merged report's photo too: the report is still answered (it follows its case).
    photo = CasePhoto.objects.filter(pk=photo_id, case__source__in=PUBLIC_SOURCES).first()
    if photo is None:
        raise Http404
    return FileResponse(photo.public_image.open("rb"), content_type="image/jpeg")


@csrf_exempt
def not_found(request, path: str = ""):
    """Anything else under /open311/v2/: the spec's error list, not an HTML page."""
    fmt = "json" if path.lower().endswith(".json") else "xml"
    return error(fmt, 404, f"unknown endpoint: /open311/v2/{path}")
