from django.apps import AppConfig
from django.core import checks


class KernelConfig(AppConfig):
    name = "jiedao.kernel"
    label = "kernel"
    verbose_name = "平台内核"

    def ready(self) -> None:
        checks.register(check_audit_retention, checks.Tags.security)
        checks.register(check_keys, checks.Tags.security, deploy=True)


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
