"""Thin views of the shell: login, the home map, alerts, the audit log."""

from django.contrib import messages
from django.contrib.auth import login, logout
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from jiedao.kernel import alerts as alert_services
from jiedao.kernel import selectors as kernel_selectors
from jiedao.kernel.alerts import alert_subject_url
from jiedao.kernel.auth import AuthError, auth_check_credentials, auth_record_login, auth_record_logout
from jiedao.kernel.downloads import xlsx_response
from jiedao.kernel.exceptions import DomainError, PermissionDeniedError
from jiedao.kernel.exporting import audit_export
from jiedao.kernel.models import Notification
from jiedao.kernel.scoping import user_scope
from jiedao.kernel.security import lockout_list, user_unlock

from .forms import AuditFilterForm, LoginForm, UnlockForm


def login_view(request):
    form = LoginForm(request.POST or None)
    error = ""
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = auth_check_credentials(request=request, username=form.cleaned_data["username"],
                                          password=form.cleaned_data["password"])
        except AuthError as exc:
            error, status = exc.message, exc.status
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            auth_record_login(user=user, channel="web")
            target = request.GET.get("next") or "/"
            if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
                target = "/"
            return redirect(target)
    return render(request, "web/login.html", {"form": form, "error": error}, status=status)


@require_POST
def logout_view(request):
    if request.user.is_authenticated:
        auth_record_logout(user=request.user)
    logout(request)
    return redirect("web:login")


def home(request):
    scope = user_scope(request.user)
    return render(request, "web/home.html", {"can_map": scope.has("places.view")})


def alerts(request):
    qs = kernel_selectors.alert_list(user=request.user, state=request.GET.get("state", ""))
    page = Paginator(qs, 30).get_page(request.GET.get("page"))
    for alert in page:
        alert.subject_url = alert_subject_url(alert)
    return render(request, "web/alerts.html", {"page": page, "state": request.GET.get("state", "")})


@require_POST
def alert_action(request, alert_id: int, action: str):
    alert = kernel_selectors.alert_get_visible(user=request.user, alert_id=alert_id)
    service = {"acknowledge": alert_services.alert_acknowledge, "resolve": alert_services.alert_resolve}.get(action)
    if service is None:
        return redirect("web:alerts")
    try:
        service(actor=request.user, alert=alert)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已确认预警。") if action == "acknowledge" else _("已解除预警。"))
    return redirect("web:alerts")


def _audit_queryset(request):
    form = AuditFilterForm(request.GET or None)
    filters = {k: v for k, v in (form.cleaned_data if form.is_valid() else {}).items() if v}
    if not user_scope(request.user).has("audit.view"):
        raise PermissionDeniedError("forbidden", "您没有查看审计日志的权限。", capability="audit.view",
                                    actor=request.user)
    return form, filters, kernel_selectors.audit_list(user=request.user, **filters)


def audit(request):
    form, _filters, qs = _audit_queryset(request)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(request, "web/audit.html", {"page": page, "form": form,
                                              "can_export": user_scope(request.user).has("audit.export")})


def audit_export_view(request):
    _form, filters, qs = _audit_queryset(request)
    data = audit_export(actor=request.user, queryset=qs, filters=filters)
    return xlsx_response(data, "audit.xlsx")


def inbox(request):
    qs = Notification.objects.visible_to(request.user)
    page = Paginator(qs, 30).get_page(request.GET.get("page"))
    if request.method == "POST":
        qs.filter(read_at__isnull=True).update(read_at=timezone.now())
        return redirect("web:inbox")
    return render(request, "web/inbox.html", {"page": page})


def lockouts(request):
    if request.method == "POST":
        form = UnlockForm(request.POST)
        if form.is_valid():
            count = user_unlock(actor=request.user, username=form.cleaned_data["username"],
                                ip=form.cleaned_data["ip"] or None)
            messages.success(request, f"已解锁（清除 {count} 条失败记录）。")
        return redirect("web:lockouts")
    return render(request, "web/lockouts.html", {"attempts": lockout_list(user=request.user)})
