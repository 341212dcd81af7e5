"""Settings of the example project, read from the environment.

Every value has a default that works on a laptop: SQLite in the project folder,
DEBUG on, and the demo's stand-in for MCE's pixel endpoint.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env.str(
    "SECRET_KEY", default="example-project-insecure-key-change-me-in-any-real-deploy"
)
DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
USE_TZ = True
TIME_ZONE = "UTC"

DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "conversion_tracking",
    "example_project.shop",
    "example_project.mce_stand_in",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "conversion_tracking.middleware.ConversionTrackingMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
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
            ]
        },
    }
]
WSGI_APPLICATION = "example_project.wsgi.application"
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The app's settings. The demo has no MCE account, so the pixel goes to the
# example project's own stand-in endpoint (example_project/mce_stand_in/).
CONVERSION_TRACKING_PIXEL_URL = env.str(
    "CONVERSION_TRACKING_PIXEL_URL",
    default="http://127.0.0.1:8000/mce-stand-in/conversion.aspx",
)
# runserver speaks plain http, so a stand-in on this machine cannot pass the app's
# https check (E003), which guards against mixed content on real HTTPS pages. It
# is silenced for a loopback stand-in only: any other pixel URL is checked.
if urlsplit(CONVERSION_TRACKING_PIXEL_URL).hostname in {"127.0.0.1", "localhost"}:
    SILENCED_SYSTEM_CHECKS = ["conversion_tracking.E003"]
# None tracks every visitor; see example_project/shop/consent.py for a callable.
CONVERSION_TRACKING_CONSENT = env.str("CONVERSION_TRACKING_CONSENT", default=None)
CONVERSION_TRACKING_ALLOWED_MIDS = env.list(
    "CONVERSION_TRACKING_ALLOWED_MIDS", default=[]
)
CONVERSION_TRACKING_STRIP_PARAMETERS = env.bool(
    "CONVERSION_TRACKING_STRIP_PARAMETERS", default=False
)
