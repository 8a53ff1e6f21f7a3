"""Base settings. Everything a deployment changes is an environment variable."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("JIEDAO_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and not env_bool("JIEDAO_TESTING"):
        raise RuntimeError("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    # First: its createsuperuser (audited) overrides django.contrib.auth's.
    "jiedao.kernel",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "csp",
    "ninja",
    "jiedao.places",
    "jiedao.people",
    "jiedao.cases",
    "jiedao.inspections",
    "jiedao.streets",
    "jiedao.web",
    "jiedao.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "jiedao.kernel.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "jiedao.kernel.middleware.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "jiedao.kernel.middleware.SessionTimeoutMiddleware",
    "jiedao.kernel.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "jiedao.web.middleware.DomainErrorMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "jiedao.urls"
WSGI_APPLICATION = "jiedao.wsgi.application"
ASGI_APPLICATION = "jiedao.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "jiedao.web.context_processors.navigation",
            ],
        },
    }
]

# --- Database: SQLite (WAL) embedded by default, PostgreSQL through DATABASE_URL.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
# kernel.rows runs its hot statements as server-side prepared statements on PostgreSQL; set JIEDAO_PG_PREPARE=0
# behind a transaction-mode pooler (PgBouncer), where a session's statements are not there for the next transaction.
PG_PREPARED_STATEMENTS = os.environ.get("JIEDAO_PG_PREPARE", "1") != "0"
if not DATABASE_URL:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("JIEDAO_SQLITE_PATH", str(VAR_DIR / "jiedao.sqlite3")),
            "OPTIONS": {
                # WAL lets readers go on while one writer writes; IMMEDIATE makes a
                # write transaction take the lock at BEGIN, so two writers queue
                # instead of failing half-way (and the audit chain cannot fork).
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery: Redis when REDIS_URL is set, in-process otherwise.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BEAT_SCHEDULE = {
    "cases-check-deadlines": {"task": "cases.check_deadlines", "schedule": 300.0},
    "inspections-check-missed": {"task": "inspections.check_missed", "schedule": 3600.0},
}

# --- Authentication and sessions (等保 level 3 basics).
AUTH_USER_MODEL = "kernel.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "jiedao.kernel.passwords.CharacterClassValidator", "OPTIONS": {"min_classes": 3}},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "/accounts/login/"
SESSION_COOKIE_AGE = 12 * 3600  # absolute lifetime; SessionTimeoutMiddleware enforces it
SESSION_IDLE_TIMEOUT = 30 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the meta tag, not the cookie
API_TOKEN_LIFETIME = timedelta(hours=12)

# Possible duplicates of a new case: same category, within this radius, reported within this window.
CASE_DUPLICATE_RADIUS_M = int(os.environ.get("JIEDAO_DUPLICATE_RADIUS_M", "50"))
CASE_DUPLICATE_WINDOW_H = int(os.environ.get("JIEDAO_DUPLICATE_WINDOW_H", "48"))
# 超期自动督办: working days past the deadline at which an open case reaches supervision levels 1, 2 and 3.
CASE_ESCALATION_WORKING_DAYS = tuple(int(n) for n in os.environ.get("JIEDAO_ESCALATION_WORKING_DAYS", "0,2,5").split(","))

AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=30)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "jiedao.kernel.auth.lockout_response"
AXES_VERBOSE = False
# How many reverse proxies stand in front of the app (nginx: 1). The client's address is then read from the
# X-Forwarded-For entry the outermost of them added (kernel.middleware.client_ip), for the audit log, rate limits
# (django-ratelimit) and login lockouts (django-axes) alike; 0 means REMOTE_ADDR.
_trust_proxy = os.environ.get("JIEDAO_TRUST_PROXY", "0").strip().lower()
TRUST_PROXY = 1 if _trust_proxy in {"true", "yes", "on"} else int(_trust_proxy) if _trust_proxy.isdigit() else 0
AXES_CLIENT_IP_CALLABLE = "jiedao.kernel.middleware.client_ip"
RATELIMIT_IP_META_KEY = "jiedao.kernel.middleware.client_ip"

if not DEBUG and not env_bool("JIEDAO_TESTING"):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Map tiles: none by default (the map draws our own GeoJSON); an optional URL template.
MAP_TILE_URL = os.environ.get("JIEDAO_MAP_TILE_URL", "")
_tile_origin = ""
if MAP_TILE_URL:
    from urllib.parse import urlsplit

    _parts = urlsplit(MAP_TILE_URL.replace("{s}", "a"))
    _tile_origin = f"{_parts.scheme}://{_parts.netloc}".replace("://a.", "://*.")

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'"],  # Leaflet and ECharts set style attributes
        "img-src": [SELF, "data:", "blob:"] + ([_tile_origin] if _tile_origin else []),
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# --- I18N: Chinese first, English selectable; store UTC, show Asia/Shanghai.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("JIEDAO_MEDIA_ROOT", VAR_DIR / "media"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
IMPORT_MAX_BYTES = int(os.environ.get("JIEDAO_IMPORT_MAX_BYTES", 40 * 1024 * 1024))

# --- Personal information (DESIGN §4.4). Keys come from the environment; see docs/operations.md.
# JIEDAO_PII_KEYS: "id:base64key,id:base64key" — the first is current, the others still decrypt.
PII_KEYS = os.environ.get("JIEDAO_PII_KEYS", "")
PII_BLIND_INDEX_KEY = os.environ.get("JIEDAO_BLIND_INDEX_KEY", "")
PII_CIPHER = os.environ.get("JIEDAO_PII_CIPHER", "AES-256-GCM")  # or SM4-GCM (密评)
PII_BLIND_INDEX_HASH = os.environ.get("JIEDAO_BLIND_INDEX_HASH", "SHA256")  # or SM3

# --- Audit (DESIGN §4.5).
AUDIT_KEY = os.environ.get("JIEDAO_AUDIT_KEY", "")
AUDIT_RETENTION_DAYS = int(os.environ.get("JIEDAO_AUDIT_RETENTION_DAYS", 365))
# Chains the log is appended to in parallel on PostgreSQL (decision 0017): more than the writers that run at once
# (web workers + Celery), else a writer waits for a lane. Lowering it later is safe: verification walks every lane.
AUDIT_LANES = max(1, min(int(os.environ.get("JIEDAO_AUDIT_LANES", 16)), 1000))

# --- Working time (DESIGN §4.6): office hours of a working day, local time.
OFFICE_HOURS = [("08:30", "11:30"), ("13:00", "17:30")]

# --- Notifications: extra channels beside the in-app inbox.
NOTIFY_BACKENDS = [b for b in os.environ.get("JIEDAO_NOTIFY_BACKENDS", "jiedao.kernel.notify.LoggingSmsBackend").split(",") if b]

# --- The deployment's name on the login page (each user sees their own sub-district once logged in).
SITE_NAME = os.environ.get("JIEDAO_SITE_NAME", "新江湾城街道")

# --- Demo data.
DEMO_PASSWORD = os.environ.get("JIEDAO_DEMO_PASSWORD", "jiedao-demo")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_pii": {"()": "jiedao.kernel.pii.logging.RedactPIIFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_pii"], "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("JIEDAO_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if DEBUG:
    # Development only: keys derived from SECRET_KEY so `make run` works without set-up.
    import base64 as _b
    import hashlib as _h

    def _derive(label: str) -> str:
        return _b.b64encode(_h.sha256((SECRET_KEY + label).encode()).digest()).decode()

    PII_KEYS = PII_KEYS or f"dev1:{_derive('pii')}"
    PII_BLIND_INDEX_KEY = PII_BLIND_INDEX_KEY or _derive("blind")
    AUDIT_KEY = AUDIT_KEY or _derive("audit")
