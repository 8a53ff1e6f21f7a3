from django.apps import AppConfig


class InspectionsConfig(AppConfig):
    name = "jiedao.inspections"
    label = "inspections"
    verbose_name = "巡查检查"

    def ready(self) -> None:
        from jiedao.kernel.alerts import AlertRule, register_rule

        register_rule(AlertRule("inspection.missed", "巡查漏检", "warning"))
