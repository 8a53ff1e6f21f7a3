"""`make run` loads this demo: a small one, end to end, so a change that breaks it fails here and not on a new
machine."""

import datetime as dt

from django.utils import timezone

from jiedao.cases.evaluation.figures import figures_check
from jiedao.cases.models import Case, CaseAssignment
from jiedao.demo import loader
from jiedao.kernel.models import AuditRecord, Notification


def test_a_small_demo_loads_and_settles(db, django_capture_on_commit_callbacks, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    with django_capture_on_commit_callbacks(execute=True):
        sub = loader.load(size=loader.DemoSize(people=20, premises=5, offices=2, plazas=1, hotels=1, cases=24))
    assert Case.objects.filter(subdistrict=sub).exists()
    # The inspection history's findings went through the workflow; only the last days' may still be open.
    old = timezone.now() - dt.timedelta(days=11)
    assert not Case.objects.filter(source="inspection", reported_at__lt=old).exclude(state="closed").exists()
    assert Case.objects.filter(source="inspection", state="closed").exists()
    # The simulated months' notifications are seen; each user keeps a few new ones.
    unread = {}
    for user_id in Notification.objects.filter(read_at=None).values_list("recipient_id", flat=True):
        unread[user_id] = unread.get(user_id, 0) + 1
    assert unread and max(unread.values()) <= 5
    assert AuditRecord.objects.filter(action="demo.load").count() == 1
    # Some cases are handled jointly (绿化市容所 co-handling), and the kept evaluation figures are the live ones.
    assert CaseAssignment.objects.filter(role="co", state="feedback").exists()
    assert figures_check() == []
