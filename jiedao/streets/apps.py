from django.apps import AppConfig


class StreetsConfig(AppConfig):
    """路长制 2.0, 河长制 and 美丽街区 (GOV-5, GOV-6, GOV-10): the chapter data around the inspection engine."""

    name = "jiedao.streets"
    label = "streets"
    verbose_name = "路长制·河长制·美丽街区"
