"""The case engine (一网统管): one Case model for every problem or request, whatever its source."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from jiedao.kernel.pii.fields import EncryptedTextField
from jiedao.kernel.scoping import ScopedQuerySet
from jiedao.places.cells import GeoCell

from .choices import AssignmentRole, AssignmentState, CaseSource, CaseState, CategoryKind, PhotoStage, Urgency
from .numbering import CaseNumber


class CaseCategory(models.Model):
    """管理部件/管理事项 → 大类 → 小类 (GB/T 47678.5-2026), with the legacy 4-digit code where one matches.

    Rows belong to a sub-district because the default department and deadlines are its configuration.
    """

    subdistrict = models.ForeignKey("kernel.Subdistrict", on_delete=models.CASCADE, related_name="+")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children",
                               verbose_name=_("所属大类"))
    kind = models.CharField(_("类型"), max_length=16, choices=CategoryKind.choices)
    code = models.CharField(_("编码"), max_length=16)
    legacy_code = models.CharField(_("旧标准编码"), max_length=8, blank=True, db_index=True)
    name = models.CharField(_("名称"), max_length=64)
    is_leaf = models.BooleanField(_("小类"), default=True)
    default_department = models.ForeignKey("kernel.OrgUnit", null=True, blank=True, on_delete=models.SET_NULL,
                                           related_name="+", verbose_name=_("默认处置部门"))
    urgent_hours = models.FloatField(_("紧急处置时限（工作小时）"), null=True, blank=True)
    normal_days = models.PositiveSmallIntegerField(_("一般处置时限（工作日）"), null=True, blank=True)
    active = models.BooleanField(_("启用"), default=True)
    source = models.CharField(max_length=64, default="GB/T 47678.5-2026")  # or a chapter app's code

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("案件类别")
        verbose_name_plural = _("案件类别")
        constraints = [models.UniqueConstraint(fields=["subdistrict", "kind", "code"], name="category_code_unique")]
        ordering = ["kind", "code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @classmethod
    def scope_q(cls, scope):
        return Q(subdistrict_id__in=scope.subdistrict_ids)


class Case(models.Model):
    # Indexes are written on every intake and every transition: a foreign key gets none of its own where an index
    # in Meta starts with it or where only a rare admin delete would look it up (docs/decisions/0014).
    subdistrict = models.ForeignKey("kernel.Subdistrict", on_delete=models.PROTECT, related_name="+", db_index=False)
    # YYYYMMDD (local date of the report) + the id, at least 6 digits. The database computes it in the INSERT and
    # hands it back with the id (RETURNING), so intake needs no second statement to write it.
    number = models.GeneratedField(expression=CaseNumber(), output_field=models.CharField(max_length=32),
                                   db_persist=True, verbose_name=_("案件编号"))
    source = models.CharField(_("来源"), max_length=16, choices=CaseSource.choices)
    external_id = models.CharField(_("外部编号"), max_length=64, blank=True)  # 12345 工单号, alarm id…
    category = models.ForeignKey(CaseCategory, null=True, blank=True, on_delete=models.PROTECT, related_name="cases",
                                 verbose_name=_("类别"), db_index=False)
    title = models.CharField(_("标题"), max_length=120, blank=True)
    description = models.TextField(_("问题描述"))
    address = models.CharField(_("地址"), max_length=200, blank=True)
    lat = models.FloatField(_("纬度"), null=True, blank=True)
    lng = models.FloatField(_("经度"), null=True, blank=True)
    # The ~100 m cell of the point (jiedao/places/cells.py): the duplicate check reads a few cells, not a category.
    cell = models.GeneratedField(expression=GeoCell(), output_field=models.BigIntegerField(null=True), db_persist=True)
    grid = models.ForeignKey("places.Grid", null=True, blank=True, on_delete=models.SET_NULL, related_name="cases")
    urgency = models.CharField(_("紧急程度"), max_length=8, choices=Urgency.choices, default=Urgency.NORMAL)
    state = models.CharField(_("状态"), max_length=16, choices=CaseState.choices, default=CaseState.REPORTED)
    version = models.PositiveIntegerField(default=1)
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="reported_cases")
    reporter_name = models.CharField(_("反映人"), max_length=64, blank=True)
    reporter_phone = EncryptedTextField(_("反映人电话"), blank=True, default="")
    public_token = models.CharField(max_length=32, blank=True)  # lets the reporter follow the case
    lead_department = models.ForeignKey("kernel.OrgUnit", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+", verbose_name=_("主办部门"))
    deadline_at = models.DateTimeField(_("处置时限"), null=True, blank=True)
    reported_at = models.DateTimeField(_("上报时间"))
    registered_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    supervision_level = models.PositiveSmallIntegerField(_("督办级别"), default=0)
    postpone_requested_until = models.DateTimeField(null=True, blank=True)
    postponed = models.BooleanField(default=False)
    rework_count = models.PositiveSmallIntegerField(default=0)
    return_count = models.PositiveSmallIntegerField(default=0)
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="duplicates", db_index=False)
    duplicate_candidates = models.JSONField(default=list, blank=True)  # ids flagged at intake
    satisfaction = models.PositiveSmallIntegerField(_("满意度"), null=True, blank=True)  # 1..5
    follow_up_note = models.TextField(blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("案件")
        verbose_name_plural = _("案件")
        indexes = [
            models.Index(fields=["subdistrict", "state", "deadline_at"]),
            models.Index(fields=["subdistrict", "grid", "state"]),
            models.Index(fields=["subdistrict", "reported_at"]),
            # The duplicate check (services/intake.py): one descent per cell around the point, then the category and
            # the time window. The cell leads so that no plan can use the index without it: led by (subdistrict,
            # category) a generic plan skipped the cells and read every report of the category in the window.
            models.Index(fields=["cell", "category", "reported_at"], name="case_duplicate_probe"),
            # In Meta rather than db_index=True on the field: no second, varchar_pattern_ops copy on PostgreSQL.
            models.Index(fields=["number"], name="case_number"),
            models.Index(fields=["state"], name="case_state"),  # the periodic deadline check, across sub-districts
            models.Index(fields=["public_token"], name="case_public_token"),
            # Only merged cases have one: the others are not in the index, so intake does not write to it.
            models.Index(fields=["duplicate_of"], condition=Q(duplicate_of__isnull=False), name="case_duplicate_of"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["subdistrict", "source", "external_id"], condition=~Q(external_id=""),
                                    name="case_external_id_unique"),
        ]

    def __str__(self) -> str:
        return self.number or f"#{self.pk}"

    @classmethod
    def scope_q(cls, scope):
        if not scope.has("cases.view"):
            return None
        q = Q(subdistrict_id__in=scope.wide_subdistrict_ids) | Q(reporter_id=scope.user_id)
        if scope.org_unit_ids:
            # A subquery, not a join: a case with several departments must come back once.
            assigned = CaseAssignment.objects.filter(department_id__in=scope.org_unit_ids).values("case_id")
            q |= Q(pk__in=assigned) | Q(grid__org_unit_id__in=scope.org_unit_ids)
        if scope.grid_ids:
            q |= Q(grid_id__in=scope.grid_ids)
        return q


class CaseAssignment(models.Model):
    """One department on a case: the lead, or a co-handler in joint handling (联动处置)."""

    subdistrict = models.ForeignKey("kernel.Subdistrict", on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="assignments")
    department = models.ForeignKey("kernel.OrgUnit", on_delete=models.PROTECT, related_name="case_assignments")
    role = models.CharField(max_length=8, choices=AssignmentRole.choices, default=AssignmentRole.LEAD)
    state = models.CharField(max_length=16, choices=AssignmentState.choices, default=AssignmentState.DISPATCHED)
    feedback = models.TextField(blank=True)
    dispatched_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    feedback_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["subdistrict", "department", "state"]),
            # 绩效考评 by department reads one month of assignments, lead and co-handling (evaluation/live.py).
            models.Index(fields=["dispatched_at"], name="case_assign_dispatched"),
        ]


class CaseEvent(models.Model):
    """The append-only timeline of a case.

    Read by case (the timeline) and, for verify events, through ``case_event_verify``; nothing looks events up by
    sub-district, actor, department or time alone, so those columns have no index of their own: every intake and
    transition writes an event, and each index is one more entry and its WAL per event (decision 0015). Deleting a
    user or an org unit (rare, admin) scans the events once."""

    subdistrict = models.ForeignKey("kernel.Subdistrict", on_delete=models.PROTECT, related_name="+", db_index=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=32)
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              db_index=False)
    actor_name = models.CharField(max_length=150, blank=True)
    department = models.ForeignKey("kernel.OrgUnit", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", db_index=False)
    comment = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # 绩效考评 by grid and worker reads the verify events of one month's cases (jiedao/cases/evaluation/live.py):
            # with the time and the verifier in the index, from the index alone.
            models.Index(fields=["case", "created_at", "actor"], condition=Q(action="verify"), name="case_event_verify"),
        ]


def photo_path(instance, filename):
    return f"cases/{instance.subdistrict_id}/{instance.case_id}/{filename}"


class CasePhoto(models.Model):
    subdistrict = models.ForeignKey("kernel.Subdistrict", on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="photos")
    event = models.ForeignKey(CaseEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="photos")
    stage = models.CharField(max_length=16, choices=PhotoStage.choices, default=PhotoStage.REPORT)
    image = models.FileField(upload_to=photo_path)  # the original as uploaded (may carry EXIF)
    public_image = models.FileField(upload_to=photo_path)  # re-encoded JPEG, EXIF stripped
    thumbnail = models.FileField(upload_to=photo_path)
    content_type = models.CharField(max_length=32)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)


class AlarmSource(models.Model):
    """A registered sensor or video platform (雪亮工程, 神经元) that posts signed alarms."""

    subdistrict = models.ForeignKey("kernel.Subdistrict", on_delete=models.CASCADE, related_name="+")
    code = models.CharField(_("设备源编码"), max_length=64, unique=True)
    name = models.CharField(_("名称"), max_length=128)
    secret = EncryptedTextField(_("签名密钥"))
    category_map = models.JSONField(_("告警类型→案件类别编码"), default=dict, blank=True,
                                    help_text=_('例如 {"manhole_open": "01005", "fire_lane": "06030"}：设备平台的告警类型对应的案件类别编码'))
    active = models.BooleanField(_("启用"), default=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("告警设备源")
        verbose_name_plural = _("告警设备源")

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_q(cls, scope):
        if not scope.has("config.manage"):
            return None
        return Q(subdistrict_id__in=scope.subdistrict_ids)


class Open311Key(models.Model):
    """An Open311 client's api_key (issued by an admin). Only its SHA-256 is stored."""

    subdistrict = models.ForeignKey("kernel.Subdistrict", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("客户端名称"), max_length=128)
    digest = models.CharField(max_length=64, unique=True)
    rate = models.CharField(_("频率限制"), max_length=16, default="60/m")  # django-ratelimit syntax
    active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("Open311 客户端")
        verbose_name_plural = _("Open311 客户端")

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def digest_of(raw: str) -> str:
        import hashlib

        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def scope_q(cls, scope):
        if not scope.has("config.manage"):
            return None
        return Q(subdistrict_id__in=scope.subdistrict_ids)


class EvaluationFigure(models.Model):
    """绩效考评 kept incrementally (GOV-4): the counters of one sub-district, month, dimension and key.

    Written only by ``jiedao.cases.evaluation.figures`` (in the transaction of each case write, and by the
    rebuild); read by ``evaluation()`` for users who see whole sub-districts. ``key`` is the department, grid or
    user id, 0 for "none" (a case without grid or reporter): a plain unique constraint then covers every row.
    docs/decisions/0008-evaluation-aggregates.md.
    """

    # The unique constraint below starts with it: no index of its own (decision 0014).
    subdistrict = models.ForeignKey("kernel.Subdistrict", on_delete=models.CASCADE, related_name="+", db_index=False)
    month = models.DateField()  # the first day of the month, local time (Asia/Shanghai)
    dimension = models.CharField(max_length=16)  # department, grid, worker
    key = models.BigIntegerField()
    # Defaults in the database too: a write names only the counters it changes (figures_add).
    reported = models.IntegerField(default=0, db_default=0)
    registered = models.IntegerField(default=0, db_default=0)
    dispatched = models.IntegerField(default=0, db_default=0)
    closed = models.IntegerField(default=0, db_default=0)
    closed_on_time = models.IntegerField(default=0, db_default=0)
    reworked = models.IntegerField(default=0, db_default=0)
    returned = models.IntegerField(default=0, db_default=0)
    postponed = models.IntegerField(default=0, db_default=0)
    verified = models.IntegerField(default=0, db_default=0)
    verified_on_time = models.IntegerField(default=0, db_default=0)
    handling_us = models.BigIntegerField(default=0, db_default=0)  # working time from accept to feedback, microseconds, summed
    handling_count = models.IntegerField(default=0, db_default=0)
    satisfaction_total = models.IntegerField(default=0, db_default=0)
    satisfaction_count = models.IntegerField(default=0, db_default=0)
    co_handled = models.IntegerField(default=0, db_default=0)  # by department: assignments as a co-handler (协办)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subdistrict", "month", "dimension", "key"],
                                               name="evaluation_figure_unique")]
        indexes = [models.Index(fields=["month", "dimension"], name="evaluation_figure_month")]
