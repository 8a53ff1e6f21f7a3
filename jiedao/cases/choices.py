from django.db import models
from django.utils.translation import gettext_lazy as _


class CategoryKind(models.TextChoices):
    COMPONENT = "component", _("部件")
    EVENT = "event", _("事件")


class CaseState(models.TextChoices):
    REPORTED = "reported", _("待立案")
    REGISTERED = "registered", _("待派遣")
    REJECTED = "rejected", _("不予立案")
    DISPATCHED = "dispatched", _("待签收")
    RETURNED = "returned", _("已退回")
    ACCEPTED = "accepted", _("处置中")
    HANDLED = "handled", _("待核查")
    VERIFIED = "verified", _("待结案")
    CLOSED = "closed", _("已结案")
    MERGED = "merged", _("已合并")


OPEN_STATES = frozenset({CaseState.REPORTED, CaseState.REGISTERED, CaseState.DISPATCHED, CaseState.RETURNED,
                         CaseState.ACCEPTED, CaseState.HANDLED, CaseState.VERIFIED})
TERMINAL_STATES = frozenset({CaseState.REJECTED, CaseState.CLOSED, CaseState.MERGED})


class CaseSource(models.TextChoices):
    GRID_WORKER = "grid_worker", _("网格员巡查")
    RESIDENT = "resident", _("居民上报")
    HOTLINE = "hotline", _("12345热线")
    SENSOR = "sensor", _("感知设备")
    INSPECTION = "inspection", _("巡查检查")
    OPEN311 = "open311", _("Open311")
    STAFF = "staff", _("工作人员录入")


class Urgency(models.TextChoices):
    NORMAL = "normal", _("一般")
    URGENT = "urgent", _("紧急")


class AssignmentRole(models.TextChoices):
    LEAD = "lead", _("主办")
    CO = "co", _("协办")


class AssignmentState(models.TextChoices):
    DISPATCHED = "dispatched", _("待签收")
    ACCEPTED = "accepted", _("处置中")
    FEEDBACK = "feedback", _("已反馈")
    RETURNED = "returned", _("已退回")
    CANCELLED = "cancelled", _("已撤销")


class PhotoStage(models.TextChoices):
    REPORT = "report", _("上报")
    FEEDBACK = "feedback", _("处置反馈")
    VERIFY = "verify", _("核查")
