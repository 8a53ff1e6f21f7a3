"""Notifications (KER-9): the in-app inbox, plus pluggable channels (SMS, WeChat).

Sending runs after commit, so a rolled-back write never notifies anyone.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from .models import Notification
from .pii.logging import redact

log = logging.getLogger(__name__)


class NotifyBackend:
    """A channel beside the inbox. Implementations must not raise on delivery failure."""

    def send(self, *, user, title: str, body: str, url: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class LoggingSmsBackend(NotifyBackend):
    """The default 'SMS': writes one redacted log line (no gateway is configured)."""

    def send(self, *, user, title: str, body: str, url: str) -> None:
        log.info("sms to user=%s: %s", user.pk, redact(f"{title} {body}")[:200])


def _backends() -> list[NotifyBackend]:
    return [import_string(path)() for path in settings.NOTIFY_BACKENDS]


def notify(*, users, title: str, body: str = "", url: str = "") -> None:
    """Queue a notification to each user; written and sent only if the transaction commits."""
    users = list(users)

    def _deliver() -> None:
        Notification.objects.bulk_create(
            [Notification(recipient=u, title=title[:200], body=body, url=url[:255]) for u in users]
        )
        for backend in _backends():
            for u in users:
                try:
                    backend.send(user=u, title=title, body=body, url=url)
                except Exception:  # a channel outage must not break the inbox
                    log.exception("notification backend %s failed", type(backend).__name__)

    transaction.on_commit(_deliver)


def notification_mark_read(*, actor, notification: Notification) -> None:
    from django.utils import timezone

    Notification.objects.visible_to(actor).filter(pk=notification.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )
