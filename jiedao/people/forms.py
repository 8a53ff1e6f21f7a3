from django import forms
from django.utils.translation import gettext_lazy as _

from .models import ResidenceType


class PersonForm(forms.Form):
    name = forms.CharField(label=_("姓名"), max_length=64)
    id_number = forms.CharField(label=_("身份证号"), max_length=32, required=False,
                                help_text=_("留空表示不修改；填写则替换为新号码。"))
    phone = forms.CharField(label=_("联系电话"), max_length=32, required=False, help_text=_("留空表示不修改。"))
    address = forms.CharField(label=_("详细地址"), max_length=200, required=False, help_text=_("留空表示不修改。"))
    compound = forms.ModelChoiceField(label=_("小区"), queryset=None, required=False)
    residence_type = forms.ChoiceField(label=_("人口类型"), choices=ResidenceType.choices)
    registered_on = forms.DateField(label=_("登记日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    notes = forms.CharField(label=_("备注"), required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, compounds, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["compound"].queryset = compounds
        for field in self.fields.values():
            css = "form-select" if isinstance(field, forms.ChoiceField) else "form-control"
            field.widget.attrs.setdefault("class", css)


class RevealForm(forms.Form):
    field = forms.ChoiceField(choices=[("id_number", _("身份证号")), ("phone", _("联系电话")), ("address", _("详细地址"))])
    reason = forms.CharField(label=_("查看事由"), min_length=2, max_length=500)


class ImportForm(forms.Form):
    file = forms.FileField(label=_("人员表格（.xlsx 或 .csv）"))
    commit_valid_rows = forms.BooleanField(label=_("仅导入无误的行（默认：有任何错误则整批不导入）"), required=False)
