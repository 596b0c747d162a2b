"""Settings of the test identity provider process (never imported by iamreview)."""

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEBUG = False
SECRET_KEY = "test-identity-provider-only-" + "x" * 30
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "tests.sso_provider.urls"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oidc_provider",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [HERE / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["PROVIDER_DATABASE"]}
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "/login/"
# The relying party runs on the same host (another port): cookies must not collide.
SESSION_COOKIE_NAME = "provider_session"
CSRF_COOKIE_NAME = "provider_csrf"
SITE_URL = os.environ["PROVIDER_URL"]
OIDC_USERINFO = "tests.sso_provider.claims.userinfo"
OIDC_EXTRA_SCOPE_CLAIMS = "tests.sso_provider.claims.GroupsClaims"
PROVIDER_GROUPS_FILE = os.environ["PROVIDER_GROUPS_FILE"]
