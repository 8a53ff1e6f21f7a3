from django.apps import AppConfig


class PlacesConfig(AppConfig):
    name = "jiedao.places"
    label = "places"
    verbose_name = "地点"

    def ready(self) -> None:
        from jiedao.kernel.scoping import register_scope_extender

        from .selectors import extend_scope_with_grids

        register_scope_extender(extend_scope_with_grids)
