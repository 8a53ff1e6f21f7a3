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

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not Django's shared in-memory database: the live server of the browser tests hands an in-memory
    # database's one connection to every request thread, and two threads on one sqlite3 connection deadlock the
    # interpreter when one holds SQLite's mutex inside a Python SQL function (django_datetime_trunc and the like)
    # waiting for the GIL while the other holds the GIL waiting for the mutex to bind its parameters; the CI run
    # of 2026-11-26 hung that way. With a file each thread opens its own connection. xdist appends the worker;
    # the process id keeps two runs at once (two checkouts' `make test`, an editor's run beside CI) apart — they
    # shared the file and failed with "disk I/O error".
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-jiedao-{os.getpid()}.sqlite3")}  # noqa: F405
else:
    # PostgreSQL: one name per run (the controller's process id, which xdist's workers inherit through the
    # environment; pytest-django appends the worker), so two runs on one server — two checkouts, an editor's run
    # beside CI — do not create and drop each other's test databases. Databases of runs that died are dropped at the
    # next run's start (conftest.py).
    _RUN = os.environ.setdefault("JIEDAO_TEST_RUN", str(os.getpid()))
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_run{_RUN}"}  # noqa: F405
