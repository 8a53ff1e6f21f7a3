from django.db import models
from django.utils.translation import gettext_lazy as _


class TemplateKind(models.TextChoices):
    ROAD_PATROL = "road_patrol", _("道路巡查（路长制）")
    WEAK_SPOT = "weak_spot", _("薄弱环节检查（创全迎检）")
    RIVER_PATROL = "river_patrol", _("河道巡查（河长制）")
    GARBAGE_SORTING = "garbage_sorting", _("生活垃圾分类检查")
    EPIDEMIC_KEY_PLACE = "epidemic_key_place", _("疫情防控重点场所检查")
    PRODUCTION_SAFETY = "production_safety", _("生产安全检查")
    FIRE_SAFETY = "fire_safety", _("消防安全检查")
    FOOD_DRUG_SAFETY = "food_drug_safety", _("食品药品安全检查")
    ACCEPTANCE = "acceptance", _("项目验收")
    OTHER = "other", _("其他")


class TemplateStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    ACTIVE = "active", _("启用")
    RETIRED = "retired", _("已停用")


class ItemKind(models.TextChoices):
    PASS_FAIL = "pass_fail", _("是否合格")
    SCORE = "score", _("评分")
    NUMBER = "number", _("数值")
    CHOICE = "choice", _("选项")
    TEXT = "text", _("文字")
    PHOTO = "photo", _("拍照")


class TargetType(models.TextChoices):
    PREMISES = "premises", _("场所")
    BUILDING = "building", _("楼宇")
    COMPOUND = "compound", _("小区")
    ROAD = "road", _("道路")
    RIVER = "river", _("河道")
    GRID = "grid", _("网格")


class Frequency(models.TextChoices):
    DAILY = "daily", _("每天")
    WEEKLY = "weekly", _("每周")
    MONTHLY = "monthly", _("每月")
    DATES = "dates", _("指定日期")
