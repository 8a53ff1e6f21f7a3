from django import forms
from django.utils.translation import gettext_lazy as _

from jiedao.kernel.pii import phone

from .choices import CaseSource, CaseState, Urgency


class FilterForm(forms.Form):
    state = forms.ChoiceField(label=_("状态"), required=False,
                              choices=[("", _("全部")), ("open", _("未结案"))] + list(CaseState.choices))
    category_id = forms.IntegerField(label=_("类别"), required=False, widget=forms.HiddenInput)
    grid_id = forms.TypedChoiceField(label=_("网格"), required=False, coerce=int, empty_value=None)
    department_id = forms.TypedChoiceField(label=_("部门"), required=False, coerce=int, empty_value=None)
    source = forms.ChoiceField(label=_("来源"), required=False, choices=[("", _("全部"))] + list(CaseSource.choices))
    overdue = forms.BooleanField(label=_("仅超期"), required=False)
    supervised = forms.BooleanField(label=_("仅督办"), required=False)
    q = forms.CharField(label=_("编号/工单号/标题/地址"), required=False, max_length=64)

    def __init__(self, *args, grids=(), departments=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["grid_id"].choices = [("", _("全部"))] + [(g.pk, f"{g.code} {g.name}") for g in grids]
        self.fields["department_id"].choices = [("", _("全部"))] + [(d.pk, d.name) for d in departments]
        for name, field in self.fields.items():
            if isinstance(field.widget, forms.CheckboxInput):
                field.widget.attrs["class"] = "form-check-input"
            elif name != "category_id":
                field.widget.attrs["class"] = "form-select" if isinstance(field, forms.ChoiceField) else "form-control"


class ReportForm(forms.Form):
    """The report form of the phone page and of the public page."""

    category_id = forms.IntegerField(required=False)
    description = forms.CharField(max_length=2000)
    lat = forms.FloatField(required=False, min_value=-90, max_value=90)
    lng = forms.FloatField(required=False, min_value=-180, max_value=180)
    coord_system = forms.ChoiceField(choices=[("wgs84", "WGS-84"), ("gcj02", "GCJ-02")], required=False)
    address = forms.CharField(max_length=200, required=False)
    urgency = forms.ChoiceField(choices=Urgency.choices, required=False)


class PublicReportForm(ReportForm):
    reporter_name = forms.CharField(max_length=64, required=False)
    reporter_phone = forms.CharField(max_length=32, required=False)
    website = forms.CharField(required=False)  # honeypot: people leave it empty, form-filling bots don't
    started = forms.CharField()  # signed time the form was shown: bots submit within a second

    def clean_reporter_phone(self):
        """A number we can call back, as the people register reads one (kernel.pii.phone)."""
        raw = self.cleaned_data.get("reporter_phone", "").strip()
        if not raw:
            return ""
        try:
            return phone.parse(raw)
        except phone.InvalidPhone:
            raise forms.ValidationError(_("请填写正确的手机号或带区号的固定电话（选填）。")) from None
