from django.apps import AppConfig
from django.core import checks


class KernelConfig(AppConfig):
    name = "jiedao.kernel"
    label = "kernel"
    verbose_name = "平台内核"

    def ready(self) -> None:
        checks.register(check_audit_retention, checks.Tags.security)
        checks.register(check_keys, checks.Tags.security, deploy=True)
        from django.db.models.signals import post_delete, post_save

        from . import signals
        from .models import CalendarDay, Membership, OrgUnit

        for signal in (post_save, post_delete):
            signal.connect(signals.membership_changed, sender=Membership, dispatch_uid="kernel.membership_changed")
            signal.connect(signals.org_unit_changed, sender=OrgUnit, dispatch_uid="kernel.org_unit_changed")
            signal.connect(signals.calendar_day_changed, sender=CalendarDay, dispatch_uid="kernel.calendar_changed")


def check_audit_retention(app_configs, **kwargs):
    from django.conf import settings

    if settings.AUDIT_RETENTION_DAYS < 184:
        return [
            checks.Error(
                "JIEDAO_AUDIT_RETENTION_DAYS is below 184 days (six calendar months, 网络安全法 第21条).",
                id="jiedao.E001",
            )
        ]
    return []


def check_keys(app_configs, **kwargs):
    from django.conf import settings

    errors = []
    for name, value in (("JIEDAO_PII_KEYS", settings.PII_KEYS), ("JIEDAO_BLIND_INDEX_KEY", settings.PII_BLIND_INDEX_KEY),
                        ("JIEDAO_AUDIT_KEY", settings.AUDIT_KEY)):
        if not value:
            errors.append(checks.Error(f"{name} is not set", id="jiedao.E002"))
    return errors
