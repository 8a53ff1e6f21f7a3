from django.apps import AppConfig


class PlacesConfig(AppConfig):
    name = "jiedao.places"
    label = "places"
    verbose_name = "地点"

    def ready(self) -> None:
        from jiedao.kernel.scoping import register_scope_extender

        from .selectors import extend_scope_with_grids

        register_scope_extender(extend_scope_with_grids)

        from django.db.models.signals import post_delete, post_save

        from . import signals
        from .models import Building, GridAssignment, Premises

        for signal in (post_save, post_delete):
            for model in (Building, Premises):
                signal.connect(signals.place_changed, sender=model, dispatch_uid=f"places.changed.{model.__name__}")
            signal.connect(signals.grid_assignment_changed, sender=GridAssignment,
                           dispatch_uid="places.grid_assignment_changed")
