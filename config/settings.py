"""Settings, all read from the environment (see docs/operations.md for the table).

With nothing set, the arena runs embedded: SQLite under ARENA_DATA_DIR, the
in-memory channel layer and an in-process Celery worker. DATABASE_URL and
REDIS_URL switch to PostgreSQL, channels_redis and real workers.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_networks, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("ARENA_DATA_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    """The SECRET_KEY from the environment, else one generated once and kept in DATA_DIR."""
    key = env_str("SECRET_KEY")
    if key:
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",  # django-axes: brute-force protection of the admin login
    "arena",
    "leaderboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # the language: set_language's cookie, else Accept-Language
    "django.middleware.common.CommonMiddleware",
    "config.middleware.RequestGuardMiddleware",  # before the CSRF check: a wrong method is 405, not 403
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",  # LANGUAGES (each named in its own language), LANGUAGE_CODE
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL")
# PostgreSQL: each process keeps a bounded pool of connections (psycopg_pool), so load waits for a free
# connection instead of exhausting max_connections; see docs/operations.md for the sizing. DB_POOL_MAX_SIZE=0
# turns the pool off (then DB_CONN_MAX_AGE may keep connections per thread instead).
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10, minimum=0)
DB_POOL_TIMEOUT = env_int("DB_POOL_TIMEOUT", 10, minimum=1)
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=0 if DB_POOL_MAX_SIZE else env_int("DB_CONN_MAX_AGE", 0, minimum=0))}
    if DB_POOL_MAX_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 0, "max_size": DB_POOL_MAX_SIZE, "timeout": DB_POOL_TIMEOUT,
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "arena.sqlite3"),
            "OPTIONS": {
                # WAL lets the page read while the in-process worker writes; IMMEDIATE avoids lock upgrades.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
# The channel layer is channels_redis's pub/sub layer: messages are pushed to the web process, which polls
# its subscription in short reads. The list-based RedisChannelLayer waits on a 5 s blocking pop that races
# redis-py 8's 5 s read timeout, so an idle websocket died every 5 s (django/channels_redis#422), and a
# raised timeout made its cancellation hang. Commands get a bounded read timeout and connect quickly, so a
# Redis that is down is noticed at once.
REDIS_SOCKET_TIMEOUT = env_int("REDIS_SOCKET_TIMEOUT", 10, minimum=1)
REDIS_CONNECT_TIMEOUT = env_int("REDIS_CONNECT_TIMEOUT", 3, minimum=1)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": REDIS_SOCKET_TIMEOUT,
                                  "socket_connect_timeout": REDIS_CONNECT_TIMEOUT}]},
        }
    }
    CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_timeout": REDIS_SOCKET_TIMEOUT, "socket_connect_timeout": REDIS_CONNECT_TIMEOUT},
    }}
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL  # a broker of its own, if wanted
    ARENA_EMBEDDED_WORKER = False
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "config.channel_layers.ThreadSafeInMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.02}  # the memory transport polls; keep latency low
    ARENA_EMBEDDED_WORKER = True

CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# django-axes: after AXES_FAILURE_LIMIT wrong passwords for one username from one client address, that
# pair is locked out (HTTP 429) for AXES_COOLOFF_HOURS; the address is the arena's own (trusted proxies only).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_HOURS", 1, minimum=1)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "arena.views.client_ip"
AXES_RESET_ON_SUCCESS = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# The languages of the public pages (docs/operations.md, "Languages", says how to add one). Each is named in its
# own language: that is how the picker lists them.
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600  # the picker's choice outlives the browser session
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True  # only the server reads it
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "staticfiles")))
WHITENOISE_USE_FINDERS = True  # serve straight from the source folders when collectstatic was not run

# Images attached to prompts (arena/images.py, docs/operations.md, "Images"): validated, stripped of metadata,
# re-encoded and stored under their SHA-256 through the storage "arena_images". By default the file system under
# ARENA_DATA_DIR/images; in the distributed configuration every web and worker process must reach the same store:
# a shared volume (ARENA_IMAGE_DIR), or any django-storages backend named by ARENA_IMAGE_STORAGE with its options
# as a JSON object in ARENA_IMAGE_STORAGE_OPTIONS (e.g. storages.backends.s3.S3Storage, {"bucket_name": "arena"}).
ARENA_IMAGE_DIR = Path(env_str("ARENA_IMAGE_DIR", str(DATA_DIR / "images")))
_image_storage_options = env_str("ARENA_IMAGE_STORAGE_OPTIONS", "")
try:
    _image_options = json.loads(_image_storage_options) if _image_storage_options else {}
except ValueError:
    raise ImproperlyConfigured("ARENA_IMAGE_STORAGE_OPTIONS must be a JSON object") from None
if not isinstance(_image_options, dict):
    raise ImproperlyConfigured("ARENA_IMAGE_STORAGE_OPTIONS must be a JSON object")
_image_backend = env_str("ARENA_IMAGE_STORAGE", "django.core.files.storage.FileSystemStorage")
if _image_backend == "django.core.files.storage.FileSystemStorage":
    _image_options.setdefault("location", str(ARENA_IMAGE_DIR))
    _image_options.setdefault("base_url", None)  # never served directly: /images/<sha256> checks who asks
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "arena_images": {"BACKEND": _image_backend, "OPTIONS": _image_options},
}
ARENA_MAX_IMAGES = env_int("ARENA_MAX_IMAGES", 4, minimum=0)  # per prompt; 0 turns images off
ARENA_IMAGE_MAX_BYTES = env_int("ARENA_IMAGE_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)  # per uploaded file
ARENA_IMAGE_MAX_PIXELS = env_int("ARENA_IMAGE_MAX_PIXELS", 40_000_000, minimum=1)  # width x height of an upload
ARENA_IMAGE_MAX_SIDE = env_int("ARENA_IMAGE_MAX_SIDE", 2048, minimum=16)  # longer sides are scaled down to this
# A function "package.module.name" called with each validated image before it is stored or any provider sees it
# (arena/images.py, "moderation"); empty: none.
ARENA_IMAGE_MODERATION = env_str("ARENA_IMAGE_MODERATION", "")

# Security: safe by default, HTTPS hardening behind ARENA_HTTPS (a TLS-terminating proxy in front).
ARENA_HTTPS = env_bool("ARENA_HTTPS", False)
SESSION_COOKIE_SECURE = ARENA_HTTPS
CSRF_COOKIE_SECURE = ARENA_HTTPS
LANGUAGE_COOKIE_SECURE = ARENA_HTTPS
SECURE_SSL_REDIRECT = ARENA_HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if ARENA_HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = ARENA_HTTPS
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", ARENA_HTTPS)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("ARENA_BEHIND_PROXY", False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_ENGINE = "config.sessions"  # database sessions; a cookie is a key only in the shape Django issues
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS", [])

# The arena itself.
ARENA_MAX_TURNS = env_int("ARENA_MAX_TURNS", 6, minimum=1)
ARENA_MAX_PROMPT_CHARS = env_int("ARENA_MAX_PROMPT_CHARS", 8000, minimum=1)
ARENA_MAX_TOKENS = env_int("ARENA_MAX_TOKENS", 1024, minimum=1)
ARENA_COALESCE_MS = env_int("ARENA_COALESCE_MS", 30, minimum=0)
ARENA_COALESCE_CHUNKS = env_int("ARENA_COALESCE_CHUNKS", 8, minimum=1)
ARENA_PROXY_HOPS = env_int("ARENA_PROXY_HOPS", 0, minimum=0)
# The peers whose X-Forwarded-For is believed (CIDR list); the default covers proxies on loopback and private nets.
ARENA_TRUSTED_PROXIES = env_networks("ARENA_TRUSTED_PROXIES", [
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"])
ARENA_IP_SALT = env_str("ARENA_IP_SALT") or SECRET_KEY
ARENA_PROMPTS_PER_IP_PER_HOUR = env_int("ARENA_PROMPTS_PER_IP_PER_HOUR", 120, minimum=1)
ARENA_VOTES_PER_IP_PER_HOUR = env_int("ARENA_VOTES_PER_IP_PER_HOUR", 60, minimum=1)
ARENA_PRELOAD_LOCAL_MODELS = env_bool("ARENA_PRELOAD_LOCAL_MODELS", False)
ARENA_QUEUE_TIMEOUT = env_int("ARENA_QUEUE_TIMEOUT", 120, minimum=1)
ARENA_EXPIRE_EVERY_SECONDS = env_int("ARENA_EXPIRE_EVERY_SECONDS", 5, minimum=1)
ARENA_HEARTBEAT_TTL = env_int("ARENA_HEARTBEAT_TTL", 10, minimum=3)
ARENA_STREAM_BUFFER_SECONDS = env_int("ARENA_STREAM_BUFFER_SECONDS", 900, minimum=60)

# The leaderboard (see leaderboard/rules.py for the rule set).
ARENA_SNAPSHOT_EVERY_VOTES = env_int("ARENA_SNAPSHOT_EVERY_VOTES", 50, minimum=1)
ARENA_SNAPSHOT_INTERVAL_MINUTES = env_int("ARENA_SNAPSHOT_INTERVAL_MINUTES", 60, minimum=1)
ARENA_SNAPSHOT_ROUNDS = env_int("ARENA_SNAPSHOT_ROUNDS", 1000, minimum=1)
ARENA_SNAPSHOT_SEED = env_int("ARENA_SNAPSHOT_SEED", 0, minimum=0)
ARENA_MIN_VOTE_SECONDS = env_int("ARENA_MIN_VOTE_SECONDS", 2, minimum=0)
ARENA_MAX_VOTES_PER_IP_PER_DAY = env_int("ARENA_MAX_VOTES_PER_IP_PER_DAY", 500, minimum=1)
ARENA_LONG_PROMPT_CHARS = env_int("ARENA_LONG_PROMPT_CHARS", 500, minimum=1)
ARENA_CATEGORY_MIN_VOTES = env_int("ARENA_CATEGORY_MIN_VOTES", 200, minimum=1)
ARENA_PROVISIONAL_VOTES = env_int("ARENA_PROVISIONAL_VOTES", 300, minimum=0)
# The style-controlled view needs this many counted votes (it fits four style coefficients besides the models).
ARENA_STYLE_MIN_VOTES = env_int("ARENA_STYLE_MIN_VOTES", 500, minimum=1)
# The vision view (battles with at least one image) is shown once it has this many counted votes.
ARENA_VISION_MIN_VOTES = env_int("ARENA_VISION_MIN_VOTES", 200, minimum=1)
# A model with fewer counted votes in a view is fitted (its votes inform the others) but not ranked.
ARENA_RANK_MIN_VOTES = env_int("ARENA_RANK_MIN_VOTES", 30, minimum=0)
ARENA_LEADERBOARD_METHOD = env_str("ARENA_LEADERBOARD_METHOD", "bootstrap")  # a key of ratings.leaderboard.METHODS
ARENA_STYLE_BOOTSTRAP_MAX_VOTES = env_int("ARENA_STYLE_BOOTSTRAP_MAX_VOTES", 10000, minimum=0)
# Under the bootstrap preset, a view (other than the style-controlled one) with more counted votes gets sandwich
# intervals: at that size the two agree (docs/leaderboard.md) and the sandwich costs a fraction of 1000 refits.
ARENA_BOOTSTRAP_MAX_VOTES = env_int("ARENA_BOOTSTRAP_MAX_VOTES", 100000, minimum=0)
# Duplicated prompts (docs/integrity.md): one first prompt counts at most max(MIN_VOTES, SHARE x the votes).
ARENA_DUPLICATE_PROMPT_SHARE = env_float("ARENA_DUPLICATE_PROMPT_SHARE", 0.001, minimum=0.0, maximum=1.0)
ARENA_DUPLICATE_PROMPT_MIN_VOTES = env_int("ARENA_DUPLICATE_PROMPT_MIN_VOTES", 20, minimum=0)
# A model tested in 2+ private variants before release stays provisional until this many counted votes after release.
ARENA_FRESH_VOTES = env_int("ARENA_FRESH_VOTES", 500, minimum=0)
# Anomalous voters, checked after every counted vote (leaderboard/voters.py, docs/integrity.md).
ARENA_VOTER_CHECKS = env_bool("ARENA_VOTER_CHECKS", True)
ARENA_VOTER_MAX_PER_HOUR = env_int("ARENA_VOTER_MAX_PER_HOUR", 40, minimum=1)
ARENA_VOTER_MIN_MEDIAN_SECONDS = env_float("ARENA_VOTER_MIN_MEDIAN_SECONDS", 4.0, minimum=0.0)
ARENA_VOTER_MIN_VOTES = env_int("ARENA_VOTER_MIN_VOTES", 8, minimum=1)
ARENA_VOTER_Z = env_float("ARENA_VOTER_Z", 4.5, minimum=0.5)
ARENA_VOTER_SHARE = env_float("ARENA_VOTER_SHARE", 0.8, minimum=0.5, maximum=1.0)
ARENA_VOTER_AGREEMENT_Z = env_float("ARENA_VOTER_AGREEMENT_Z", 3.5, minimum=0.5)
ARENA_VOTER_HISTORY = env_int("ARENA_VOTER_HISTORY", 500, minimum=10)
ARENA_CAMPAIGN_SESSIONS = env_int("ARENA_CAMPAIGN_SESSIONS", 5, minimum=2)
ARENA_CAMPAIGN_MINUTES = env_int("ARENA_CAMPAIGN_MINUTES", 60, minimum=1)
ARENA_CAMPAIGN_SHARE = env_float("ARENA_CAMPAIGN_SHARE", 0.8, minimum=0.0, maximum=1.0)
# A session that asked one first prompt this many times can be flagged with that prompt's pooled votes (voters.py).
ARENA_CAMPAIGN_REPEATS = env_int("ARENA_CAMPAIGN_REPEATS", 3, minimum=2)
# A human check before voting (arena/human_check.py): "" (off), pow, turnstile, hcaptcha or recaptcha.
ARENA_HUMAN_CHECK = env_str("ARENA_HUMAN_CHECK", "")
if ARENA_HUMAN_CHECK not in ("", "pow", "turnstile", "hcaptcha", "recaptcha"):
    raise ImproperlyConfigured(f"ARENA_HUMAN_CHECK must be empty, pow, turnstile, hcaptcha or recaptcha; got "
                               f"{ARENA_HUMAN_CHECK!r}")
ARENA_HUMAN_CHECK_SITE_KEY = env_str("ARENA_HUMAN_CHECK_SITE_KEY", "")
ARENA_HUMAN_CHECK_SECRET = env_str("ARENA_HUMAN_CHECK_SECRET", "")
ARENA_HUMAN_CHECK_VERIFY_URL = env_str("ARENA_HUMAN_CHECK_VERIFY_URL", "")  # default: the provider's siteverify
ARENA_HUMAN_CHECK_TIMEOUT = env_int("ARENA_HUMAN_CHECK_TIMEOUT", 5, minimum=1)
ARENA_POW_BITS = env_int("ARENA_POW_BITS", 16, minimum=1)
if ARENA_POW_BITS > 32:
    raise ImproperlyConfigured(f"ARENA_POW_BITS must be at most 32 (2^32 hashes is more than a browser can do); got "
                               f"{ARENA_POW_BITS}")
ARENA_POW_SECONDS = env_int("ARENA_POW_SECONDS", 300, minimum=10)
# How many of the top places each snapshot checks for fragility (docs/integrity.md); 0 turns it off.
ARENA_FRAGILITY_TOP = env_int("ARENA_FRAGILITY_TOP", 5, minimum=0)
ARENA_SNAPSHOT_KEEP_HOURS = env_int("ARENA_SNAPSHOT_KEEP_HOURS", 48, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "leaderboard-refresh": {"task": "leaderboard.refresh", "schedule": ARENA_SNAPSHOT_INTERVAL_MINUTES * 60.0},
    # Settles answers whose worker is gone (see arena/reaper.py), so request handlers only read.
    "arena-answers-expire": {"task": "arena.answers_expire", "schedule": float(ARENA_EXPIRE_EVERY_SECONDS),
                             "options": {"expires": float(ARENA_EXPIRE_EVERY_SECONDS)}},
    # Deletes superseded runs that were never published (leaderboard/retention.py).
    "leaderboard-prune": {"task": "leaderboard.prune", "schedule": 3600.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}, "kombu": {"level": "WARNING"},
                "celery.beat": {"level": "WARNING"}},  # the sweep is sent every few seconds: not a line each time
}
CSRF_FAILURE_VIEW = "arena.views.csrf_failure"
