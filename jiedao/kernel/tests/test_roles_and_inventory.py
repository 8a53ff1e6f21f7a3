import pytest
from django.apps import apps

from jiedao.kernel.exceptions import DomainError
from jiedao.kernel.models import Membership
from jiedao.kernel.pii.inventory import INVENTORY, LOOKS_PERSONAL, NOT_PERSONAL, inventoried
from jiedao.kernel.roles import ADMIN_ROLES, ROLES
from jiedao.kernel.services import membership_grant


def test_three_admin_roles_exist_and_none_reads_people():
    assert {"system_admin", "security_admin", "audit_admin"} == ADMIN_ROLES
    for code in ADMIN_ROLES:
        assert not {c for c in ROLES[code].caps if c.startswith("people.")}


@pytest.mark.parametrize("first, second", [("system_admin", "audit_admin"), ("audit_admin", "security_admin"),
                                           ("security_admin", "system_admin")])
def test_admin_roles_cannot_be_held_together(town, first, second):
    user = town.users[first]
    with pytest.raises(DomainError) as exc:
        membership_grant(actor=None, user=user, org_unit=town.units["office"], role=second)
    assert exc.value.code == "admin_roles_exclusive"
    assert not Membership.objects.filter(user=user, role=second).exists()


def test_security_admin_grants_roles_and_it_is_audited(town):
    from jiedao.kernel.models import AuditRecord

    membership_grant(actor=town.users["security_admin"], user=town.users["leader"], org_unit=town.units["rc1"],
                     role="rc_staff")
    assert AuditRecord.objects.filter(action="membership.grant", actor_username="T1-security_admin").exists()


def test_every_personal_looking_field_is_in_the_inventory():
    missing = []
    for model in apps.get_models():
        if not model.__module__.startswith("jiedao."):
            continue
        label = f"{model._meta.app_label}.{model.__name__}"
        for field in model._meta.concrete_fields:
            name = field.name.lower()
            if any(word in name for word in LOOKS_PERSONAL):
                if not inventoried(label, field.name) and f"{label}.{field.name}" not in NOT_PERSONAL:
                    missing.append(f"{label}.{field.name}")
    assert missing == [], f"add these to kernel/pii/inventory.py: {missing}"


def test_inventory_entries_point_at_real_fields():
    for entry in INVENTORY:
        model = apps.get_model(entry.model)
        model._meta.get_field(entry.field)
        assert entry.cls in {"sensitive", "general"}
        assert entry.purpose and entry.legal_basis and entry.retention


def test_personal_information_doc_is_current():
    from pathlib import Path

    from django.conf import settings

    from jiedao.kernel.pii.inventory import render_markdown

    doc = Path(settings.BASE_DIR, "docs", "personal-information.md").read_text(encoding="utf-8")
    assert doc == render_markdown(), "run: python manage.py pii_inventory > docs/personal-information.md"
