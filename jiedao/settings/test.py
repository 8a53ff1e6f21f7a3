"""Settings for the test suite: fixed test keys, fast hashing, same everything else."""

import os

os.environ.setdefault("JIEDAO_TESTING", "1")

from .base import *  # noqa: E402,F401,F403

PII_KEYS = "t1:" + "dGVzdC1waWkta2V5LTMyLWJ5dGVzLWxvbmctLS0tLS0="
PII_BLIND_INDEX_KEY = "dGVzdC1ibGluZC1pbmRleC1rZXk="
AUDIT_KEY = "test-audit-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; production uses Argon2 (base.py)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CELERY_TASK_ALWAYS_EAGER = True
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
