"""Sensor and video alarms (GOV-8, 雪亮工程/神经元): signed webhooks that become cases.

A device source signs the raw body: header ``X-Jiedao-Source`` names it, ``X-Jiedao-Signature`` is
``sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`` and ``X-Jiedao-Timestamp`` is Unix seconds
(±300 s, so a captured request cannot be replayed later; a replay inside the window is caught by the alarm id).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from django.utils.translation import gettext as _

from jiedao.kernel.exceptions import DomainError

from ..categories import category_for_code
from ..choices import CaseSource, Urgency
from ..error_codes import CaseErrorCode
from ..models import AlarmSource, Case
from .intake import Intake, case_report

MAX_SKEW_S = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def alarm_receive(*, source_code: str, timestamp: str, signature: str, body: bytes) -> tuple[Case, bool]:
    """Verify and turn one alarm into a case. Returns (case, created)."""
    source = AlarmSource.objects.filter(code=source_code, active=True).select_related("subdistrict").first()
    if source is None:
        raise DomainError(CaseErrorCode.SIGNATURE_INVALID, _("签名无效。"), status=401)
    try:
        skew = abs(time.time() - int(timestamp))
    except (TypeError, ValueError):
        skew = MAX_SKEW_S + 1
    if skew > MAX_SKEW_S or not hmac.compare_digest(sign(source.secret, timestamp, body), signature or ""):
        raise DomainError(CaseErrorCode.SIGNATURE_INVALID, _("签名无效。"), status=401)
    try:
        payload = json.loads(body)
        alarm_id = str(payload["alarm_id"])[:64]
        alarm_type = str(payload.get("type", ""))
        lat, lng = float(payload["lat"]), float(payload["lng"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DomainError("invalid_input", _("告警数据不完整：需要 alarm_id、type、lat、lng。")) from exc
    existing = Case.objects.filter(subdistrict_id=source.subdistrict_id, source=CaseSource.SENSOR,
                                   external_id=f"{source.code}:{alarm_id}").first()
    if existing:
        return existing, False
    code = source.category_map.get(alarm_type, "")
    category = category_for_code(subdistrict_id=source.subdistrict_id, code=code) if code else None
    description = str(payload.get("description") or f"{source.name}告警：{alarm_type}")
    case = case_report(actor=None, subdistrict_id=source.subdistrict_id, intake=Intake(
        source=CaseSource.SENSOR, description=description, category=category, lat=lat, lng=lng,
        coord_system=str(payload.get("coord_system") or "wgs84"), external_id=f"{source.code}:{alarm_id}",
        urgency=Urgency.URGENT if payload.get("urgent") else Urgency.NORMAL, reporter_name=source.name,
        title=f"{source.name}：{alarm_type}"[:120]))
    return case, True
