"""Alerts (KER-10): rules raise them on a subject; people acknowledge and resolve them."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .audit import audit_record
from .error_codes import KernelErrorCode
from .exceptions import ConflictError
from .models import Alert
from .models.alerts import AlertState
from .permissions import require_capability


@dataclass(frozen=True)
class AlertRule:
    code: str
    name: str
    severity: str = "warning"


_RULES: dict[str, AlertRule] = {}


def register_rule(rule: AlertRule) -> None:
    """Chapter apps register their rules at start-up (AppConfig.ready)."""
    _RULES[rule.code] = rule


def rules() -> dict[str, AlertRule]:
    return dict(_RULES)


register_rule(AlertRule("calendar.year_unknown", "节假日数据缺失", "warning"))

_SUBJECT_URLS: dict[str, object] = {}


def register_subject_url(subject_type: str, url_for) -> None:
    """Chapter apps say where an alert's subject is shown (``url_for(subject_id) -> str``): the alert links to it."""
    _SUBJECT_URLS[subject_type] = url_for


def alert_subject_url(alert) -> str:
    url_for = _SUBJECT_URLS.get(alert.subject_type)
    return url_for(alert.subject_id) if url_for and alert.subject_id else ""


def alert_raise(**kwargs) -> Alert:
    """Raise an alert unless one is already unresolved for the same rule and subject (idempotent)."""
    return alert_raise_once(**kwargs)[0]


def alert_dedup_key(*, rule: str, subject_type: str, subject_id: str, subdistrict_id: int | None) -> str:
    """What makes two alerts the same alert (at most one unresolved per key)."""
    return f"{rule}:{subject_type}:{subject_id}:{subdistrict_id or ''}"


def alert_raise_once(
    *, rule: str, subject_type: str, subject_id: str, message: str, subdistrict_id: int | None,
    severity: str | None = None, subject_repr: str = "", audience: str = "alerts.view",
) -> tuple[Alert, bool]:
    """Like alert_raise, and says whether this call raised it."""
    key = alert_dedup_key(rule=rule, subject_type=subject_type, subject_id=subject_id, subdistrict_id=subdistrict_id)
    existing = Alert.objects.filter(dedup_key=key).exclude(state=AlertState.RESOLVED).first()
    if existing:
        return existing, False
    severity = severity or (_RULES[rule].severity if rule in _RULES else "warning")
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                subdistrict_id=subdistrict_id, rule=rule, subject_type=subject_type, subject_id=subject_id,
                subject_repr=subject_repr[:200], severity=severity, message=message, dedup_key=key, audience=audience,
            )
            audit_record(actor=None, action="alert.raise", obj=alert, subdistrict_id=subdistrict_id,
                         changes={"rule": [None, rule], "severity": [None, severity]})
            return alert, True
    except IntegrityError:  # raised concurrently by another worker: one alert is enough
        return Alert.objects.filter(dedup_key=key).exclude(state=AlertState.RESOLVED).get(), False


def _alert_move(*, actor, alert: Alert, expected: set[str], target: str, action: str) -> Alert:
    require_capability(actor, alert.audience if alert.audience != "alerts.view" else "alerts.handle", obj=alert)
    now = timezone.now()
    fields = {"state": target}
    if target == AlertState.ACKNOWLEDGED:
        fields.update(acknowledged_by=actor, acknowledged_at=now)
    else:
        fields.update(resolved_by=actor, resolved_at=now)
    updated = Alert.objects.filter(pk=alert.pk, state__in=expected).update(**fields)
    if not updated:
        raise ConflictError(KernelErrorCode.STALE_VERSION, _("预警状态已变化，请刷新后再试。"))
    audit_record(actor=actor, action=action, obj=alert, changes={"state": [alert.state, target]})
    alert.refresh_from_db()
    return alert


@transaction.atomic
def alert_acknowledge(*, actor, alert: Alert) -> Alert:
    return _alert_move(actor=actor, alert=alert, expected={AlertState.OPEN}, target=AlertState.ACKNOWLEDGED,
                       action="alert.acknowledge")


@transaction.atomic
def alert_resolve(*, actor, alert: Alert) -> Alert:
    return _alert_move(actor=actor, alert=alert, expected={AlertState.OPEN, AlertState.ACKNOWLEDGED},
                       target=AlertState.RESOLVED, action="alert.resolve")


def alerts_resolve_for_subject(*, subject_type: str, subject_id: str, rules: tuple[str, ...] = ()) -> int:
    """The subject no longer needs attention (e.g. the case was closed): resolve its open alerts."""
    qs = Alert.objects.filter(subject_type=subject_type, subject_id=subject_id).exclude(state=AlertState.RESOLVED)
    if rules:
        qs = qs.filter(rule__in=rules)
    count = 0
    for alert in qs:
        # Only if still unresolved: two processes resolving the same alert write one record, not two.
        if not Alert.objects.filter(pk=alert.pk).exclude(state=AlertState.RESOLVED).update(
                state=AlertState.RESOLVED, resolved_at=timezone.now()):
            continue
        audit_record(actor=None, action="alert.resolve", obj=alert, changes={"state": [alert.state, "resolved"]})
        count += 1
    return count
