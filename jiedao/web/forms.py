from django import forms


class LoginForm(forms.Form):
    username = forms.CharField(label="用户名", max_length=150)
    password = forms.CharField(label="密码", widget=forms.PasswordInput, max_length=256)


class AuditFilterForm(forms.Form):
    action = forms.CharField(label="操作", required=False, max_length=64)
    actor = forms.CharField(label="操作人", required=False, max_length=150)
    object_type = forms.CharField(label="对象类型", required=False, max_length=64)
    object_id = forms.CharField(label="对象编号", required=False, max_length=64)
    outcome = forms.ChoiceField(label="结果", required=False,
                                choices=[("", "全部"), ("success", "成功"), ("failure", "失败"), ("denied", "拒绝")])
    since = forms.DateField(label="起始日期", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="截止日期", required=False, widget=forms.DateInput(attrs={"type": "date"}))


    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.setdefault("class", "form-select" if isinstance(field, forms.ChoiceField) else "form-control")


class UnlockForm(forms.Form):
    username = forms.CharField(max_length=150)
    ip = forms.GenericIPAddressField(required=False)
