"""iamreview settings: the only module that reads the environment.

Every setting has a default that lets `make run` work with nothing configured
(SQLite under var/, tasks run in-process). `.env.example` documents each one.
"""

import ipaddress
import os
import ssl
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.core import RESERVED_ATTRS

from iamreview.broker import FILESYSTEM_BROKER_URL, filesystem_broker_options

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off. Generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = "insecure-development-key-only-for-debug-mode-0123456789abcdefghij"

# The audit chain's HMAC key: kept outside the database, so rows edited there cannot be re-hashed.
AUDIT_LOG_KEY = env("AUDIT_LOG_KEY")
if not AUDIT_LOG_KEY and not DEBUG:
    raise ImproperlyConfigured(
        "AUDIT_LOG_KEY must be set when DEBUG is off (it keys the audit log's hash chain; keep "
        "it outside the database). Generate one with: "
        "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
    )
# Checkpoints of the audit chain's head: a directory, or an S3 bucket with object lock.
AUDIT_CHECKPOINT_DIR = env("AUDIT_CHECKPOINT_DIR", str(VAR_DIR / "audit-checkpoints"))
AUDIT_CHECKPOINT_S3_BUCKET = env("AUDIT_CHECKPOINT_S3_BUCKET")
AUDIT_CHECKPOINT_S3_PREFIX = env("AUDIT_CHECKPOINT_S3_PREFIX", "iamreview/audit-checkpoints/")
AUDIT_CHECKPOINT_RETENTION_DAYS = env_int("AUDIT_CHECKPOINT_RETENTION_DAYS", 2557)
AUDIT_CHECKPOINT_MINUTES = env_int("AUDIT_CHECKPOINT_MINUTES", 60)
# The audit page walks the whole chain at most this often; each view checks what was added.
AUDIT_FULL_VERIFY_SECONDS = env_int("AUDIT_FULL_VERIFY_SECONDS", 600)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "axes",
    "csp",
    "fetch_metadata",
    "ninja",
    "anymail",
    "accounts",
    "findings",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # NUL, lone surrogates, too-deep JSON: 400 before any view (pages and API alike).
    "iamreview.input_guard.RejectUnusableInputMiddleware",
    # Fetch Metadata: a request another site's page makes (an <img>, a fetch(), an <object>) is
    # refused; links from elsewhere, bookmarks and non-browser clients (the API) still work.
    # The evidence pack's download, a GET that records the export, refuses links and frames
    # from elsewhere too (findings.reviews.views).
    "fetch_metadata.middleware.FetchMetadataMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Whatever a logged-in person is shown or downloads: Cache-Control no-store, private.
    "iamreview.private_pages.PrivatePagesMiddleware",
    "accounts.access_audit.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "iamreview.errors.StyledNotFoundMiddleware",
    # Last: a form's address reopened from the address bar gets a page, not a blank 405, and
    # that page still passes every middleware above on its way out (CSP, cookies, headers).
    "iamreview.not_allowed.NotAllowedPageMiddleware",
]
FETCH_METADATA_PRESET = "DEFAULT"
FETCH_METADATA_FAILURE_VIEW = "iamreview.errors.cross_site_refused"

ROOT_URLCONF = "iamreview.urls"
WSGI_APPLICATION = "iamreview.wsgi.application"

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
                "accounts.context_processors.navigation",
            ],
        },
    },
]

# Database: DATABASE_URL, or a SQLite file under var/ for the zero-configuration demo.
DATABASE_URL = env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'iamreview.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # IMMEDIATE: a writing transaction takes the write lock when it begins, so concurrent
    # writers wait (up to the timeout) instead of failing at once with "database is locked"
    # when a read lock cannot be upgraded.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
else:
    # PostgreSQL's default random_page_cost (4) prices an index read as on a spinning disk: on
    # a 10,000-user inventory it sorted the whole table (14 ms) rather than walk the index that
    # matches the list's order (0.5 ms). 1.1 is the usual value for SSD storage, as databases
    # are served today; set PG_RANDOM_PAGE_COST to change it (empty: the server's own).
    if page_cost := env("PG_RANDOM_PAGE_COST", "1.1"):
        DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
            f"-c random_page_cost={float(page_cost)}"
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# Single sign-on (OpenID Connect, mozilla-django-oidc): on when OIDC_RP_CLIENT_ID is set.
OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env("OIDC_RP_CLIENT_SECRET")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_OP_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env("OIDC_OP_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env("OIDC_OP_USER_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env("OIDC_OP_JWKS_ENDPOINT")
OIDC_RP_SIGN_ALGO = env("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env("OIDC_RP_SCOPES", "openid email profile groups")
OIDC_GROUPS_CLAIM = env("OIDC_GROUPS_CLAIM", "groups")
# The provider's issuer (`iss` of its ID tokens, as its discovery document names it): checked
# on every ID token, with the audience (this client).
OIDC_OP_ISSUER = env("OIDC_OP_ISSUER")
# Link an existing account to an identity whose provider sends no `email_verified` (Entra ID):
# only for a provider whose users cannot set their own address.
OIDC_TRUST_EMAIL_CLAIM = env_bool("OIDC_TRUST_EMAIL_CLAIM", False)
OIDC_USE_PKCE = True
OIDC_AUTHENTICATION_CALLBACK_URL = "sso_callback"
LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/?sso=failed"
if OIDC_ENABLED:
    missing = [
        name
        for name in (
            "OIDC_RP_CLIENT_SECRET",
            "OIDC_OP_AUTHORIZATION_ENDPOINT",
            "OIDC_OP_TOKEN_ENDPOINT",
            "OIDC_OP_USER_ENDPOINT",
            "OIDC_OP_ISSUER",
        )
        if not globals()[name]
    ]
    if OIDC_RP_SIGN_ALGO.startswith("RS") and not OIDC_OP_JWKS_ENDPOINT:
        missing.append("OIDC_OP_JWKS_ENDPOINT")
    if missing:
        raise ImproperlyConfigured(f"OIDC_RP_CLIENT_ID is set, so set {', '.join(missing)} too")


def parse_role_map(raw: str) -> dict[str, list[str]]:
    """OIDC_ROLE_MAP: 'claim-value:role,...'; one value may appear several times."""
    known = {"administrator", "reviewer", "approver", "auditor"}
    mapping: dict[str, list[str]] = {}
    for item in (part.strip() for part in raw.split(",") if part.strip()):
        value, _, role = item.rpartition(":")
        if not value or role.strip().lower() not in known:
            raise ImproperlyConfigured(
                f"OIDC_ROLE_MAP entry {item!r} must be 'claim-value:role' with a role among "
                f"{', '.join(sorted(known))}"
            )
        mapping.setdefault(value.strip(), []).append(role.strip().lower())
    return mapping


OIDC_ROLE_MAP = parse_role_map(env("OIDC_ROLE_MAP"))
# Turn local passwords off to make single sign-on the only way in.
LOCAL_PASSWORDS_ENABLED = env_bool("LOCAL_PASSWORDS_ENABLED", True)
if not LOCAL_PASSWORDS_ENABLED and not OIDC_ENABLED:
    raise ImproperlyConfigured("LOCAL_PASSWORDS_ENABLED=false needs single sign-on (OIDC_*)")

AUTHENTICATION_BACKENDS = [
    *(
        ["axes.backends.AxesStandaloneBackend", "accounts.backends.PasswordBackend"]
        if LOCAL_PASSWORDS_ENABLED
        else []
    ),
    *(["accounts.sso.SingleSignOnBackend"] if OIDC_ENABLED else []),
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Failed-login throttling (django-axes, accounts/lockout.py): an (account, address) pair after
# AXES_FAILURE_LIMIT failures; an address, for every account, after AXES_ADDRESS_FAILURE_LIMIT.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_ADDRESS_FAILURE_LIMIT = env_int("AXES_ADDRESS_FAILURE_LIMIT", 50)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "accounts.lockout.PairAndAddressLockout"
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.lockout.username_of"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
# The address of a login attempt: the connection's, or behind a proxy the one it forwards.
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 1)
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_address"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Security. Behind a TLS-terminating proxy set BEHIND_PROXY=true; SECURE_SSL_REDIRECT can be
# turned off where the proxy already redirects.
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# Django's database sessions, read as one plain statement (iamreview/sessions.py).
SESSION_ENGINE = "iamreview.sessions"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy: only our own scripts and styles.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Email: SMTP by default; EMAIL_PROVIDER=ses sends through Amazon SES (django-anymail, boto3's
# credential chain: no key in settings). EMAIL_BACKEND, when set, wins over both.
EMAIL_PROVIDER = env("EMAIL_PROVIDER", "smtp").strip().lower()
if EMAIL_PROVIDER not in {"smtp", "ses"}:
    raise ImproperlyConfigured(f"EMAIL_PROVIDER must be smtp or ses, got {EMAIL_PROVIDER!r}")
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "anymail.backends.amazon_ses.EmailBackend"
    if EMAIL_PROVIDER == "ses"
    else "django.core.mail.backends.console.EmailBackend"
    if DEBUG and not env("EMAIL_HOST")
    else "django.core.mail.backends.smtp.EmailBackend",
)
ANYMAIL = {
    "AMAZON_SES_CLIENT_PARAMS": {"region_name": env("AWS_SES_REGION") or None},
    **(
        {"AMAZON_SES_CONFIGURATION_SET_NAME": env("AWS_SES_CONFIGURATION_SET")}
        if env("AWS_SES_CONFIGURATION_SET")
        else {}
    ),
}
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "iamreview <iamreview@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Email digests go at or after this hour (0-23, in TIME_ZONE): daily, or on Mondays for weekly.
DIGEST_HOUR = env_int("DIGEST_HOUR", 7)
if not 0 <= DIGEST_HOUR <= 23:
    raise ImproperlyConfigured(f"DIGEST_HOUR must be an hour from 0 to 23, got {DIGEST_HOUR}")

# /metrics for Prometheus: a bearer token, and/or addresses or networks allowed without one.
METRICS_TOKEN = env("METRICS_TOKEN")
try:
    METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(item, strict=False) for item in env_list("METRICS_ALLOWED_IPS")
    ]
except ValueError as exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {exc}") from exc

# Webhooks (configured in the Django admin): a timeout for the whole attempt, and attempts
# before giving up.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
# Days a delivered or failed webhook delivery is kept (a daily task deletes older ones). At
# least 7: a delivery's key keeps its event from going again, and the webhook task looks back
# over a few hours (news_overlap), so a key days old is never needed again.
WEBHOOK_DELIVERY_KEEP_DAYS = env_int("WEBHOOK_DELIVERY_KEEP_DAYS", 90)
if WEBHOOK_DELIVERY_KEEP_DAYS < 7:
    raise ImproperlyConfigured("WEBHOOK_DELIVERY_KEEP_DAYS must be at least 7")
# Off: a webhook URL that resolves to a loopback, private, link-local (169.254.169.254, the
# instance metadata service) or reserved address is refused, so the app cannot be turned on
# its own network.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False)
# PEM certificates trusted besides certifi's bundle for webhook receivers and an https:// proxy
# (a corporate CA: receivers inside the network, or a proxy that inspects TLS). Read at start.
WEBHOOK_CA_BUNDLE = env("WEBHOOK_CA_BUNDLE")
if WEBHOOK_CA_BUNDLE:
    try:
        ssl.create_default_context(cafile=WEBHOOK_CA_BUNDLE)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or "not PEM"
        raise ImproperlyConfigured(
            f"WEBHOOK_CA_BUNDLE must be a file of PEM certificates; {WEBHOOK_CA_BUNDLE}: {reason}"
        ) from exc

# Celery. Without a broker, tasks run eagerly in-process so the demo needs no Redis.
CELERY_BROKER_URL = env("CELERY_BROKER_URL") or env("REDIS_URL")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND") or CELERY_BROKER_URL or None
if CELERY_BROKER_URL.startswith(FILESYSTEM_BROKER_URL):
    # make run: a real worker on a broker that needs no server (iamreview/broker.py).
    CELERY_BROKER_FOLDER = Path(env("CELERY_BROKER_FOLDER") or VAR_DIR / "celery-broker")
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(CELERY_BROKER_FOLDER)
    CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 25 * 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30 * 60)
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", "celery")
# Crash recovery: a worker writes a heartbeat on its run every COLLECT_HEARTBEAT_SECONDS; a
# running run without one for COLLECT_STALE_AFTER_SECONDS belongs to a dead worker. Every
# COLLECT_SWEEP_SECONDS the beat fails such runs and queues a retry (and sends again the task of
# a run whose message was lost: findings.collection.tasks.resend_lost_runs).
COLLECT_HEARTBEAT_SECONDS = env_int("COLLECT_HEARTBEAT_SECONDS", 15)
COLLECT_STALE_AFTER_SECONDS = env_int("COLLECT_STALE_AFTER_SECONDS", 90)
COLLECT_SWEEP_SECONDS = env_int("COLLECT_SWEEP_SECONDS", 60)
if COLLECT_STALE_AFTER_SECONDS < 2 * COLLECT_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "COLLECT_STALE_AFTER_SECONDS must be at least twice COLLECT_HEARTBEAT_SECONDS"
    )
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "iamreview.heartbeat", "schedule": 300.0},
    # Every few minutes, enqueue each (account, source) whose interval has passed.
    "schedule-collections": {"task": "findings.schedule_collections", "schedule": 300.0},
    "write-audit-checkpoint": {
        "task": "findings.write_audit_checkpoint",
        "schedule": env_int("AUDIT_CHECKPOINT_MINUTES", 60) * 60.0,
    },
    "sweep-stale-runs": {
        "task": "findings.sweep_stale_runs",
        "schedule": float(env_int("COLLECT_SWEEP_SECONDS", 60)),
    },
    # Policy generations whose task stopped following them: taken up again, or given up.
    "sweep-policy-generations": {"task": "findings.sweep_policy_generations", "schedule": 300.0},
    "open-scheduled-cycles": {"task": "findings.open_scheduled_cycles", "schedule": 3600.0},
    "expire-risk-acceptances": {"task": "findings.expire_risk_acceptances", "schedule": 3600.0},
    "mark-no-response": {"task": "findings.mark_no_response", "schedule": 3600.0},
    # Hourly; each person's digest goes once per period, at or after DIGEST_HOUR.
    "send-digests": {"task": "findings.send_digests", "schedule": 3600.0},
    # Queues webhook events and sends the deliveries that are due (first tries and retries).
    "send-webhooks": {"task": "findings.send_webhooks", "schedule": 60.0},
    "discover-organization": {
        "task": "findings.discover_organization",
        "schedule": env_int("DISCOVERY_HOURS", 24) * 3600.0,
    },
    # Daily: what would otherwise stay for ever.
    "clear-expired-sessions": {"task": "iamreview.clear_expired_sessions", "schedule": 86400.0},
    "prune-credential-reports": {"task": "findings.prune_credential_reports", "schedule": 86400.0},
    "prune-webhook-deliveries": {"task": "findings.prune_webhook_deliveries", "schedule": 86400.0},
    "prune-sent-reminders": {"task": "findings.prune_sent_reminders", "schedule": 86400.0},
}

IAMREVIEW_REQUIRE_SERVICES = env_bool("IAMREVIEW_REQUIRE_SERVICES", False)

# Collection: how often each source is collected (hours), and file import limits.
COLLECT_CREDENTIAL_REPORT_HOURS = env_int("COLLECT_CREDENTIAL_REPORT_HOURS", 6)
COLLECT_AUTHORIZATION_DETAILS_HOURS = env_int("COLLECT_AUTHORIZATION_DETAILS_HOURS", 6)
COLLECT_ACCESS_ANALYZER_HOURS = env_int("COLLECT_ACCESS_ANALYZER_HOURS", 6)
COLLECT_SERVICE_LAST_ACCESSED_HOURS = env_int("COLLECT_SERVICE_LAST_ACCESSED_HOURS", 24)
# Days the raw copy of each credential report is kept (each account's latest stays however old).
CREDENTIAL_REPORT_KEEP_DAYS = env_int("CREDENTIAL_REPORT_KEEP_DAYS", 90)
# Organizations discovery on a schedule: set the management (or delegated-admin) role to enable.
DISCOVERY_ROLE_ARN = env("DISCOVERY_ROLE_ARN")
DISCOVERY_MEMBER_ROLE_NAME = env("DISCOVERY_MEMBER_ROLE_NAME", "IAMReviewReadOnly")
DISCOVERY_EXTERNAL_ID = env("DISCOVERY_EXTERNAL_ID")
DISCOVERY_REGIONS = env_list("DISCOVERY_REGIONS", "us-east-1")
DISCOVERY_HOURS = env_int("DISCOVERY_HOURS", 24)
# Detection thresholds (days). Recorded on every finding with the rule version.
DETECT_UNUSED_CREDENTIAL_DAYS = env_int("DETECT_UNUSED_CREDENTIAL_DAYS", 45)
DETECT_KEY_ROTATION_DAYS = env_int("DETECT_KEY_ROTATION_DAYS", 90)
DETECT_INACTIVE_USER_DAYS = env_int("DETECT_INACTIVE_USER_DAYS", 90)
DETECT_UNUSED_ROLE_DAYS = env_int("DETECT_UNUSED_ROLE_DAYS", 90)
DETECT_UNUSED_SERVICE_DAYS = env_int("DETECT_UNUSED_SERVICE_DAYS", 90)
DETECT_ROOT_USE_DAYS = env_int("DETECT_ROOT_USE_DAYS", 90)
DETECT_GRACE_DAYS = env_int("DETECT_GRACE_DAYS", 14)

# Right-sizing: a service not used for this many days (by a principal at least this old) is
# removed from its suggested policies; the buffer keeps same-service read-only actions.
RIGHTSIZING_UNUSED_DAYS = env_int("RIGHTSIZING_UNUSED_DAYS", 90)
RIGHTSIZING_READ_ONLY_BUFFER = env_bool("RIGHTSIZING_READ_ONLY_BUFFER", False)
# Review cycles: days from opening to due date, per kind.
REVIEW_MONTHLY_DUE_DAYS = env_int("REVIEW_MONTHLY_DUE_DAYS", 14)
REVIEW_QUARTERLY_DUE_DAYS = env_int("REVIEW_QUARTERLY_DUE_DAYS", 30)
REVIEW_RELEASE_DUE_DAYS = env_int("REVIEW_RELEASE_DUE_DAYS", 7)
# Days before the due date on which assignees get a reminder (0: on the day); then daily while
# overdue. Approvers hear when a cycle is ready to sign; overdue cycles escalate to
# administrators. All through the email digests, each reminder once.
try:
    REVIEW_REMINDER_DAYS = sorted({int(day) for day in env_list("REVIEW_REMINDER_DAYS", "7,3,1,0")})
except ValueError as exc:
    raise ImproperlyConfigured("REVIEW_REMINDER_DAYS must be whole days, e.g. 7,3,1,0") from exc
# Days the records of reminders and escalations about a signed-off cycle are kept after its
# sign-off (a daily task deletes older ones; nothing asks about a signed-off cycle's reminders).
SENT_REMINDER_KEEP_DAYS = env_int("SENT_REMINDER_KEEP_DAYS", 90)
if SENT_REMINDER_KEEP_DAYS < 7:
    raise ImproperlyConfigured("SENT_REMINDER_KEEP_DAYS must be at least 7")
# What happens to undecided items at a cycle's due date, per kind: "leave_open", or
# "no_response" (marked for the approver to see; the cycle can then be signed off).
REVIEW_AT_DUE = {}
for _kind in ("monthly", "quarterly", "release"):
    REVIEW_AT_DUE[_kind] = env(f"REVIEW_{_kind.upper()}_AT_DUE", "leave_open")
    if REVIEW_AT_DUE[_kind] not in ("leave_open", "no_response"):
        raise ImproperlyConfigured(
            f"REVIEW_{_kind.upper()}_AT_DUE must be leave_open or no_response, "
            f"got {REVIEW_AT_DUE[_kind]!r}"
        )
IAMREVIEW_IMPORT_MAX_BYTES = env_int("IAMREVIEW_IMPORT_MAX_BYTES", 50 * 1024 * 1024)
# The Findings list pages through at most this many rows (a bounded OFFSET); exports have no cap.
FINDINGS_LIST_MAX_ROWS = env_int("FINDINGS_LIST_MAX_ROWS", 10_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# LOG_FORMAT=json: one JSON object per line (python-json-logger), for log pipelines.
LOG_FORMAT = env("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "iamreview.log_context.ContextFilter"},
        "refusals": {"()": "iamreview.log_context.RefusalsWithoutTraceback"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s %(context)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            # `context` is the plain format's text; JSON has the fields themselves.
            "reserved_attrs": [*RESERVED_ATTRS, "context"],
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context", "refusals"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own default sends `django` to a second, unfiltered console under DEBUG
        # (`make run`): every 403 printed again with its traceback. One handler, ours.
        "django": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO"), "propagate": False},
        "django.db.backends": {"level": "INFO"},
        "axes": {"level": "WARNING"},
        # urllib3 logs a webhook's request line (its path and query may be the credential) at
        # DEBUG, and a mismatched certificate's names, chosen by the receiver, at WARNING.
        "urllib3": {"level": "INFO"},
        "urllib3.connection": {"level": "ERROR"},
        # boto3 announces every credential lookup; moto's demo server logs every request.
        "botocore": {"level": "WARNING"},
        "werkzeug": {"level": "WARNING"},
        "moto": {"level": "WARNING"},
    },
}

TESTING = "pytest" in sys.modules
if TESTING:
    # Tests run tasks in-process unless a test starts a real worker on a real Redis itself.
    CELERY_BROKER_URL = ""
    CELERY_RESULT_BACKEND = None
    CELERY_TASK_ALWAYS_EAGER = True
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    AUDIT_LOG_KEY = AUDIT_LOG_KEY or "test-audit-log-key"
