"""Pages of the people registry: thin — parse, call a service or selector, render."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from jiedao.kernel.downloads import xlsx_response
from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.scoping import user_scope
from jiedao.kernel.selectors import subdistrict_of
from jiedao.places.selectors import compound_options

from . import selectors, services
from .exporting import person_export
from .forms import ImportForm, PersonForm, RevealForm
from .importing import person_import, template_workbook
from .models import ResidenceType


def _filters(request) -> dict:
    """Filters come from the session (``?f=<key>``, set by the POSTed search form) or plain GET parameters.

    A full ID number or phone typed into the search must never reach a URL (access logs, history,
    Referer), so the form posts and the list is addressed by an opaque key.
    """
    key = request.GET.get("f", "")
    source = request.session.get("people_filters", {}).get(key) if key else None
    source = source or request.GET
    compound = str(source.get("compound", "") or "")
    q = str(source.get("q", "") or "").strip()[:64]
    if source is request.GET and selectors.looks_sensitive(q):
        q = ""  # refuse to act on a personal number that arrived in a URL
    return {"q": q, "compound_id": int(compound) if compound.isdigit() else None,
            "residence_type": str(source.get("residence_type", "") or "")}


def _remember_filters(request) -> str:
    import secrets

    stored = request.session.get("people_filters", {})
    if len(stored) > 20:  # keep the session small
        stored = dict(list(stored.items())[-20:])
    key = secrets.token_urlsafe(6)
    stored[key] = {k: request.POST.get(k, "") for k in ("q", "compound", "residence_type")}
    request.session["people_filters"] = stored
    return key


def person_list(request):
    if request.method == "POST":
        return redirect(f"{request.path}?f={_remember_filters(request)}")
    filters = _filters(request)
    if not user_scope(request.user).has("people.view"):
        from jiedao.kernel.exceptions import PermissionDeniedError

        raise PermissionDeniedError("forbidden", "您没有查看人口信息的权限。", capability="people.view",
                                    actor=request.user)
    qs = selectors.person_list(user=request.user, **filters)
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    scope = user_scope(request.user)
    return render(request, "people/list.html", {
        "page": page, "filters": filters, "compounds": compound_options(user=request.user),
        "residence_types": ResidenceType.choices, "can_edit": scope.has("people.edit"),
        "can_import": scope.has("people.import"), "can_export": scope.has("people.export"),
        "filter_key": request.GET.get("f", ""),
    })


def person_detail(request, person_id: int):
    person = selectors.person_get_visible(user=request.user, person_id=person_id)
    scope = user_scope(request.user)
    return render(request, "people/detail.html", {
        "person": person, "can_reveal": scope.has("people.reveal"), "can_edit": scope.has("people.edit"),
        "reveal_form": RevealForm(),
    })


@require_POST
def person_reveal_view(request, person_id: int):
    """htmx: returns the revealed value (or the error) as a fragment."""
    form = RevealForm(request.POST)
    if not form.is_valid():
        return render(request, "people/_reveal_result.html", {"error": "请填写查看事由（至少2个字）。"}, status=400)
    try:
        person = selectors.person_get_visible(user=request.user, person_id=person_id)
        value = services.person_reveal(actor=request.user, person=person, field=form.cleaned_data["field"],
                                       reason=form.cleaned_data["reason"])
    except DomainError as exc:
        return render(request, "people/_reveal_result.html", {"error": exc.message}, status=exc.status)
    return render(request, "people/_reveal_result.html", {"value": value, "field": form.cleaned_data["field"]})


def _save_form(request, person=None):
    compounds = compound_options(user=request.user)
    initial = {}
    if person is not None:
        initial = {"name": person.name, "compound": person.compound_id, "residence_type": person.residence_type,
                   "registered_on": person.registered_on, "notes": person.notes, "version": person.version}
    form = PersonForm(request.POST or None, compounds=compounds, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        version = data.pop("version")
        try:
            if person is None:
                person = services.person_create(actor=request.user, subdistrict=subdistrict_of(request.user), **data)
            else:
                for key in ("id_number", "phone", "address"):  # blank = keep the stored value
                    if not data[key]:
                        data.pop(key)
                person = services.person_update(actor=request.user, person=person,
                                                expected_version=version or 0, **data)
        except DomainError as exc:
            for field, message in exc.fields.items():
                form.add_error(field if field in form.fields else None, message)
            if not exc.fields:
                form.add_error(None, exc.message)
        else:
            messages.success(request, "已保存。")
            return redirect("people:detail", person_id=person.pk)
    return render(request, "people/form.html", {"form": form, "person": person},
                  status=400 if request.method == "POST" else 200)


def person_new(request):
    return _save_form(request)


def person_edit(request, person_id: int):
    return _save_form(request, selectors.person_get_visible(user=request.user, person_id=person_id))


def person_import_view(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    report = None
    error = ""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = person_import(actor=request.user, subdistrict=subdistrict_of(request.user), data=upload.read(),
                                   filename=upload.name, commit_valid_rows=form.cleaned_data["commit_valid_rows"])
        except DomainError as exc:
            error = exc.message
    return render(request, "people/import.html", {"form": form, "report": report, "error": error},
                  status=400 if error else 200)


def import_template(request):
    return xlsx_response(template_workbook(), "people-template.xlsx")


def export(request):
    filters = _filters(request)
    qs = selectors.person_list(user=request.user, **filters)
    data = person_export(actor=request.user, queryset=qs,
                         filters={**filters, "q": "***" if filters["q"] else ""})
    return xlsx_response(data, "people.xlsx")
