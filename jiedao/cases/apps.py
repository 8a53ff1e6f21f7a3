from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "jiedao.cases"
    label = "cases"
    verbose_name = "一网统管"

    def ready(self) -> None:
        from jiedao.kernel.alerts import AlertRule, register_rule

        register_rule(AlertRule("case.overdue", "案件超期", "critical"))
        register_rule(AlertRule("case.near_deadline", "案件临近时限", "warning"))
        from django.urls import reverse

        from jiedao.kernel.alerts import register_subject_url

        register_subject_url("cases.case", lambda pk: reverse("cases:detail", args=[pk]) if pk.isdigit() else "")

        from django.db.models.signals import post_delete, post_save

        from . import signals
        from .models import CaseCategory

        for signal in (post_save, post_delete):
            signal.connect(signals.category_changed, sender=CaseCategory, dispatch_uid="cases.category_changed")

        from jiedao.kernel.services import register_calendar_listener

        from .evaluation.figures import figures_calendar_changed

        register_calendar_listener(figures_calendar_changed)
