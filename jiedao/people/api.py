from django.utils.translation import gettext as _
from ninja import File, Form, Router, Schema
from ninja.files import UploadedFile
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.responses import Status
from pydantic import Field

from jiedao.kernel.downloads import xlsx_response
from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.idempotency import run_idempotent
from jiedao.kernel.selectors import subdistrict_of
from jiedao.places.selectors import place_get_visible

from . import selectors, services
from .exporting import person_export
from .importing import person_import, template_workbook
from .schemas import ImportReportOut, PersonIn, PersonOut, PersonPatch, RevealIn, RevealOut

router = Router(tags=["people"])


@router.get("", response=list[PersonOut])
@paginate(LimitOffsetPagination)
def person_list(request, q: str = "", compound_id: int | None = None, residence_type: str = ""):
    """Scoped people. ``q`` is a name fragment; search by ID number or phone with POST /people/search."""
    if selectors.looks_sensitive(q):
        raise DomainError("use_post_search", _("身份证号、电话号码不能放在网址中，请使用 POST /api/v1/people/search。"))
    return selectors.person_list(user=request.user, q=q, compound_id=compound_id, residence_type=residence_type)


class SearchIn(Schema):
    q: str = Field("", max_length=64)
    compound_id: int | None = None
    residence_type: str = ""


@router.post("/search", response=list[PersonOut])
@paginate(LimitOffsetPagination)
def person_search(request, payload: SearchIn):
    """Search by a full ID number or phone (exact, via the blind index) — in the body, never the URL."""
    return selectors.person_list(user=request.user, **payload.dict())


@router.post("", response={201: PersonOut})
def person_create(request, payload: PersonIn):
    def work():
        compound = (place_get_visible(user=request.user, kind="compound", place_id=payload.compound_id)
                    if payload.compound_id else None)
        data = payload.dict(exclude={"compound_id"})
        person = services.person_create(actor=request.user, subdistrict=subdistrict_of(request.user), compound=compound,
                                        **data)
        return 201, person

    status, body = run_idempotent(request=request, endpoint="people.create", work=work,
                                  load=lambda pk: selectors.person_get_visible(user=request.user, person_id=pk))
    return Status(status, body)


@router.get("/template.xlsx", response={200: None})
def import_template(request):
    return xlsx_response(template_workbook(), "people-template.xlsx")


@router.get("/export.xlsx", response={200: None})
def export(request, q: str = "", compound_id: int | None = None, residence_type: str = ""):
    qs = selectors.person_list(user=request.user, q=q, compound_id=compound_id, residence_type=residence_type)
    data = person_export(actor=request.user, queryset=qs,
                         filters={"q": "***" if q else "", "compound_id": compound_id, "residence_type": residence_type})
    return xlsx_response(data, "people.xlsx")


@router.post("/import", response=ImportReportOut)
def import_people(request, file: File[UploadedFile], commit_valid_rows: Form[bool] = False):
    """Import an .xlsx/.csv; by default nothing is written if any row is wrong."""
    report = person_import(actor=request.user, subdistrict=subdistrict_of(request.user), data=file.read(),
                           filename=file.name or "upload.xlsx", commit_valid_rows=commit_valid_rows)
    return report


@router.get("/{person_id}", response=PersonOut)
def person_detail(request, person_id: int):
    return selectors.person_get_visible(user=request.user, person_id=person_id)


@router.patch("/{person_id}", response=PersonOut)
def person_update(request, person_id: int, payload: PersonPatch):
    person = selectors.person_get_visible(user=request.user, person_id=person_id)
    fields = payload.dict(exclude_unset=True)
    version = fields.pop("version")
    if "compound_id" in fields:
        cid = fields.pop("compound_id")
        fields["compound"] = place_get_visible(user=request.user, kind="compound", place_id=cid) if cid else None
    return services.person_update(actor=request.user, person=person, expected_version=version, **fields)


@router.post("/{person_id}/reveal", response=RevealOut)
def person_reveal(request, person_id: int, payload: RevealIn):
    """Show one field in full; needs people.reveal and a reason, and is audited."""
    person = selectors.person_get_visible(user=request.user, person_id=person_id)
    value = services.person_reveal(actor=request.user, person=person, field=payload.field, reason=payload.reason)
    return {"field": payload.field, "value": value}
