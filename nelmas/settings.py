"""NELMAS EDC settings, read from the environment (django-environ).

With nothing set the project runs in its *local mode*: SQLite, Celery tasks in-process, e-mail to the
console, DEBUG on. Setting DATABASE_URL (PostgreSQL) and REDIS_URL switches to the production shape;
outside the local mode SECRET_KEY is required and DEBUG is off unless asked for.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

LOCAL_MODE = not env.str("DATABASE_URL", default="") and not env.str("REDIS_URL", default="")
# The test suite runs against the real services but is not production: it sets NELMAS_TESTING.
TESTING = env.bool("NELMAS_TESTING", default=False)

DEBUG = env.bool("DEBUG", default=LOCAL_MODE and not TESTING)
if LOCAL_MODE or TESTING:
    SECRET_KEY = env.str("SECRET_KEY", default="local-mode-only-not-secret-nelmas-edc")
else:
    SECRET_KEY = env.str("SECRET_KEY")  # required: raises ImproperlyConfigured when missing

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "simple_history",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files: the CSP allows no CDN
    "accounts",
    "core",
    "sites",
    "patients",
    "randomisation",
    "crf",
    "safety",
    "reports",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "nelmas.input_guard.RejectNulCharactersMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes requires: it turns a lockout into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "nelmas.urls"
WSGI_APPLICATION = "nelmas.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.navigation.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env.str("SQLITE_PATH", default=str(BASE_DIR / "db.sqlite3")),
            # IMMEDIATE takes the write lock at BEGIN, so select_for_update-style critical sections
            # (randomisation, numbering) serialise on SQLite as they do on PostgreSQL.
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The PostgreSQL role the application serves requests as; it must not own the tables. `migrate`
# (run as the owner) grants it read/write on trial data and read/append on the audit trail.
DATABASE_APP_ROLE = env.str("DATABASE_APP_ROLE", default="")

# --- Accounts, login policy -----------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.EmailOrUsernameBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Idle timeout: every request pushes expiry 30 minutes ahead (Annex 11 §12 access control).
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_SECONDS", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=30))
# Per account, not per IP: a hospital puts all its staff behind one NAT address, and an IP lockout
# would lock out a whole site because of one person's typos.
AXES_LOCKOUT_PARAMETERS = ["username"]
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_USERNAME_CALLABLE = "accounts.backends.axes_username"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# Two-factor authentication (django-otp, TOTP + backup codes): always for PIs, sub-investigators and
# every trial-wide role; for everyone when REQUIRE_2FA_FOR_ALL is set.
REQUIRE_2FA_FOR_ALL = env.bool("REQUIRE_2FA_FOR_ALL", default=False)
# Enforced wherever real data lives; the local demo mode leaves it to the user (TWO_FACTOR_ENFORCED=1).
TWO_FACTOR_ENFORCED = env.bool("TWO_FACTOR_ENFORCED", default=not LOCAL_MODE)
OTP_TOTP_ISSUER = "NELMAS EDC"

# Electronic signatures: failed password re-entries allowed per window before signing is refused.
SIGNATURE_FAILURE_LIMIT = env.int("SIGNATURE_FAILURE_LIMIT", default=5)
SIGNATURE_FAILURE_WINDOW = timedelta(minutes=env.int("SIGNATURE_FAILURE_WINDOW_MINUTES", default=15))

# --- Internationalisation -------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
LANGUAGES = [("en-gb", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Reasons for change are free text of any length (the default caps them at 100 characters).
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- E-mail ---------------------------------------------------------------------------------------
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / "test-artifacts" / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="NELMAS EDC <edc@nelmas.invalid>")
EDC_BASE_URL = env.str("EDC_BASE_URL", default="http://127.0.0.1:8000")

# EORTC questionnaires (protocol CRF 14). The item texts are copyrighted: without a licence text
# file the quality-of-life form shows item numbers only ("Item 12"). With the EORTC's permission,
# EORTC_ITEM_TEXT_FILE names a JSON file {"items": {"1": "...", ...}, "headings": {...}} whose texts
# the form shows beside the numbers. QLQ_GINET21_SCALES_FILE replaces the shipped GI.NET21 scale
# map (crf/config/qlq_ginet21_scales.json) with another cited one.
EORTC_ITEM_TEXT_FILE = env.str("EORTC_ITEM_TEXT_FILE", default="")
QLQ_GINET21_SCALES_FILE = env.str("QLQ_GINET21_SCALES_FILE", default="")

# --- Celery ---------------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")

# --- Cache ----------------------------------------------------------------------------------------
# Shared by the gunicorn workers in production (dashboard figures, API throttle counters); in the
# process's memory in the local mode. Keys carry the database's name, so two deployments (or the
# benchmark's two trials) sharing one Redis never read each other's figures.
DASHBOARD_CACHE_SECONDS = env.int("DASHBOARD_CACHE_SECONDS", default=60)  # then recomputed by the worker
DASHBOARD_STALE_SECONDS = env.int("DASHBOARD_STALE_SECONDS", default=600)  # never shown older than this
# The nurse's home panels and the record status grid's rows (reports.grid_html), cached per site
# until the site's data change (core.site_cache); this is only the backstop for what no save
# announces (a change written by a data migration or raw SQL).
SITE_FIGURES_SECONDS = env.int("SITE_FIGURES_SECONDS", default=300)
# Recruitment plan: a site randomises its target evenly over this many months from activation
# (reports.role_queues.planned_by, the trial manager's "sites recruiting behind plan").
RECRUITMENT_PLAN_MONTHS = env.int("RECRUITMENT_PLAN_MONTHS", default=48)
# The cache only saves work (dashboards, the nurse's panels, the API throttle's counters): when
# Redis is unreachable every cache call logs and answers "nothing cached", and the caller computes
# directly, so an outage never fails a write or a page (django-redis IGNORE_EXCEPTIONS). Short
# socket timeouts keep a hung Redis from holding requests.
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
DJANGO_REDIS_LOGGER = "nelmas.cache"
REDIS_CACHE = {
    "BACKEND": "django_redis.cache.RedisCache",
    "LOCATION": REDIS_URL,
    "KEY_PREFIX": f"nelmas:{DATABASES['default']['NAME']}",
    "OPTIONS": {
        "IGNORE_EXCEPTIONS": True,
        "SOCKET_CONNECT_TIMEOUT": env.float("CACHE_CONNECT_TIMEOUT", default=0.5),
        "SOCKET_TIMEOUT": env.float("CACHE_TIMEOUT", default=0.5),
    },
}
CACHES = {"default": REDIS_CACHE if REDIS_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
# No broker in the local mode: tasks run in-process so the embedded default needs no services.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 600
CELERY_TASK_SOFT_TIME_LIMIT = 540
CELERY_TIMEZONE = "UTC"
# Queueing a task is requested after a commit; when Redis is down it must fail within a second or
# so (and be logged: the callers queue with on_commit(robust=True) and the outbox retries), not
# hold the request for Celery's default of about twenty seconds of reconnecting.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=1.0)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 1.0
# Periodic jobs (Celery beat in production; `python manage.py run_periodic_jobs` in the local mode).
CELERY_BEAT_SCHEDULE = {
    "send-due-notifications": {"task": "core.tasks.send_due_notifications", "schedule": 300.0},
    "worker-heartbeat": {"task": "nelmas.tasks.worker_heartbeat", "schedule": 60.0},
    "visit-reminders": {"task": "crf.tasks.send_visit_reminders", "schedule": crontab(hour=6, minute=0)},
    "sae-escalations": {"task": "safety.tasks.send_sae_escalations", "schedule": 900.0},
}
# A reminder goes out when a visit window opens within this many days, when it is open, and when
# it has closed without the visit done.
VISIT_REMINDER_DAYS = env.int("VISIT_REMINDER_DAYS", default=7)

# --- Security (hardening switches on outside the local mode, from the environment) ---------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
_secure = env.bool("SECURE_COOKIES", default=not (LOCAL_MODE or TESTING or DEBUG))
SESSION_COOKIE_SECURE = _secure
CSRF_COOKIE_SECURE = _secure
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_secure)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _secure else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _secure
SECURE_HSTS_PRELOAD = _secure
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None

# Content Security Policy (django-csp 4): scripts, styles and fonts from this origin only, so an
# injected <script> or on*= handler cannot run. Bootstrap's CSS uses data: SVGs for form controls.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Structured (JSON) logs outside the local mode. Log lines carry ids and trial numbers at most, never
# patient data: request bodies are not logged and the EDC stores no names to leak.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if (LOCAL_MODE or TESTING) else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "nelmas.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

# Safety reporting timelines and the sponsor's time zone are configuration data reviewed in the app
# (safety.ReportingTimelines, page /safety/timelines/), not environment variables.
# SAE deadlines escalate by e-mail this many hours before they fall due, and again when passed.
SAE_ESCALATE_HOURS = env.int("SAE_ESCALATE_HOURS", default=4)

# REST API (/api/v1/): personal tokens only (no session, so no CSRF exposure), JSON errors with a
# code and per-field messages, rate limits answered with 429 and Retry-After.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.api_tokens.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env.str("API_RATE", default="1200/minute")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "NELMAS EDC API",
    "DESCRIPTION": "Scripted data management and integrations. Authenticate with a personal token: "
    "`Authorization: Bearer nel_…`. Patients are keyed by trial number; anything outside your sites is 404.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"CausalityEnum": "safety.models.Causality"},
}
API_TOKEN_DAYS = env.int("API_TOKEN_DAYS", default=90)
