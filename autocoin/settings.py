"""autocoin settings: one module, driven by the environment (and `.env` when present).

Every value is validated here, at start-up. A bad value stops the process with one line naming the
variable, the value given and what is allowed, never a traceback.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import environ
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
_DOT_ENV = Path(os.environ.get("AUTOCOIN_ENV_FILE", BASE_DIR / ".env"))
if _DOT_ENV.is_file():
    environ.Env.read_env(str(_DOT_ENV), overwrite=False)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingError(Exception):
    """A configuration value that cannot be used; its text is shown to the person as-is."""


def _fail(message: str) -> None:
    sys.stderr.write(f"autocoin: configuration error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(2)


def _raw(name: str, default: str) -> str:
    return str(env.str(name, default=default)).strip()


def _shown(value: str) -> str:
    return repr(value)


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name, "true" if default else "false")
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise SettingError(f"{name}={_shown(value)} is not a boolean; use true or false")


def env_int(name: str, default: int, *, minimum: int, maximum: int) -> int:
    value = _raw(name, str(default))
    try:
        number = int(value)
    except ValueError:
        raise SettingError(f"{name}={_shown(value)} is not a whole number; use an integer from {minimum} to {maximum}") from None
    if not minimum <= number <= maximum:
        raise SettingError(f"{name}={_shown(value)} is out of range; use an integer from {minimum} to {maximum}")
    return number


def env_decimal(
    name: str,
    default: str,
    *,
    minimum: Decimal,
    maximum: Decimal,
    minimum_inclusive: bool = True,
) -> Decimal:
    value = _raw(name, default)
    lower = f"{'at least' if minimum_inclusive else 'more than'} {minimum}"
    try:
        number = Decimal(value.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise SettingError(f"{name}={_shown(value)} is not a number; use a decimal {lower} and at most {maximum}") from None
    if not number.is_finite():
        raise SettingError(f"{name}={_shown(value)} is not a finite number; use a decimal {lower} and at most {maximum}")
    too_low = number < minimum if minimum_inclusive else number <= minimum
    if too_low or number > maximum:
        raise SettingError(f"{name}={_shown(value)} is out of range; use a decimal {lower} and at most {maximum}")
    return number


def _require(condition: bool, message: str) -> None:
    """Refuse a combination of values (the single-value checks are the `env_*` readers)."""
    if not condition:
        raise SettingError(message)


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(name, default)
    if value not in choices:
        raise SettingError(f"{name}={_shown(value)} is not allowed; use one of: {', '.join(choices)}")
    return value


def env_url(name: str, default: str, *, schemes: tuple[str, ...] = ("http", "https"), allow_empty: bool = False) -> str:
    value = _raw(name, default)
    if not value and allow_empty:
        return ""
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.netloc:
        allowed = " or ".join(f"{scheme}://host" for scheme in schemes)
        raise SettingError(f"{name}={_shown(value)} is not a URL; use {allowed}{' (or leave it empty)' if allow_empty else ''}")
    return value.rstrip("/")


def env_market(name: str, default: str) -> str:
    value = _raw(name, default).upper()
    if not re.fullmatch(r"KRW-[A-Z0-9]{1,15}", value):
        raise SettingError(f"{name}={_shown(value)} is not a KRW market code; use the form KRW-BTC")
    return value


def env_timezone(name: str, default: str) -> str:
    value = _raw(name, default)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(f"{name}={_shown(value)} is not a known time zone; use an IANA name such as Asia/Seoul") from None
    return value


def env_secret(name: str, *, min_length: int = 0) -> str:
    value = _raw(name, "")
    if value and len(value) < min_length:
        raise SettingError(f"{name} is too short ({len(value)} characters); use at least {min_length} characters")
    return value


def _url_shown(url: str) -> str:
    """The URL for an error message, its password (in the user part or a `password=` parameter) as ***.

    Done on the text, not with urlparse, because the URL being reported may be one urlparse refuses.
    Everything up to the last `@` counts as the user part, so a password holding `@` or `/` is hidden too.
    """
    scheme, separator, rest = url.partition("://")
    if separator and "@" in rest:
        userinfo, _, host = rest.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        url = f"{scheme}://{user}{':***' if colon else ''}@{host}"
    return _shown(re.sub(r"(?i)(\bpassword=)[^&#]*", r"\1***", url))


_ORIGIN = re.compile(r"https://(\*\.)?[a-z0-9.-]+(:[0-9]{1,5})?|https://\[[0-9a-f:.]+\](:[0-9]{1,5})?")


def env_origins(name: str) -> list[str]:
    """Comma-separated https origins (`https://console.example.com`, `https://*.example.com:8443`)."""
    value = _raw(name, "")
    origins = [origin.strip() for origin in value.split(",") if origin.strip()]
    for origin in origins:
        if not _ORIGIN.fullmatch(origin.lower()):
            raise SettingError(
                f"{name} has {_shown(origin)}, which is not an https origin; "
                "use a comma-separated list such as https://console.example.com (no path)"
            )
    return origins


def _database(url: str) -> dict[str, Any]:
    try:
        # django-environ warns about some URLs with the whole user part (password included) in the text.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config: dict[str, Any] = env.db_url_config(url)
    except Exception:  # noqa: BLE001 - any parse failure becomes the one-line message below
        raise SettingError(
            f"DATABASE_URL={_url_shown(url)} is not a database URL; "
            "use sqlite:////abs/path.sqlite3 or postgres://user@host:5432/name"
        ) from None
    engine = config.get("ENGINE", "")
    if engine == "django.db.backends.sqlite3":
        name = str(config.get("NAME") or "")
        if not name or name == ":memory:":
            raise SettingError(f"DATABASE_URL={_url_shown(url)} needs a file path; use sqlite:////abs/path.sqlite3")
        config["OPTIONS"] = {
            # A web process and an engine process write at once: WAL lets readers run beside the
            # writer, the busy timeout waits for the lock instead of failing with "database is
            # locked", and IMMEDIATE takes the write lock at BEGIN so no transaction has to be
            # upgraded (the upgrade is what fails without waiting).
            "timeout": SQLITE_BUSY_TIMEOUT_SEC,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SEC * 1000};"
                "PRAGMA foreign_keys=ON;"
            ),
        }
        config["TEST"] = {"NAME": str(Path(name).with_name(f"test_{Path(name).name}"))}
    elif engine in ("django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2"):
        config["ENGINE"] = "django.db.backends.postgresql"
        # A pool per process: a burst of requests on the threaded web server shares a few connections
        # (waiting up to POSTGRES_POOL_TIMEOUT_SEC for one) instead of opening one per thread until PostgreSQL refuses clients.
        config["CONN_MAX_AGE"] = 0
        options = config.setdefault("OPTIONS", {})
        options["connect_timeout"] = 5
        options["pool"] = {"min_size": 1, "max_size": POSTGRES_POOL_SIZE, "timeout": POSTGRES_POOL_TIMEOUT_SEC}
        # The pool checks a connection as it hands it out: one the server ended while it sat there (a restart,
        # a failover, pg_terminate_backend) is replaced, not given to a request to fail with.
        config["CONN_HEALTH_CHECKS"] = True
    else:
        raise SettingError(f"DATABASE_URL={_url_shown(url)} uses an unsupported database; use sqlite:// or postgres://")
    return config


try:
    # --- Django ---------------------------------------------------------------------------------
    DEBUG = env_bool("DJANGO_DEBUG", False)
    SECRET_KEY = env_secret("DJANGO_SECRET_KEY", min_length=32)
    _require(
        bool(SECRET_KEY),
        "DJANGO_SECRET_KEY is not set; run `make run` (it writes .env with a generated key) or set it to 50 random characters",
    )
    ALLOWED_HOSTS = [
        host.strip() for host in _raw("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",") if host.strip()
    ]
    _require(bool(ALLOWED_HOSTS), "DJANGO_ALLOWED_HOSTS='' is empty; use a comma-separated list such as 127.0.0.1,localhost")
    # "*" answers any Host header, which lets a web page reach the console through DNS rebinding.
    ALLOW_ANY_HOST = env_bool("DJANGO_ALLOW_ANY_HOST", False)
    _require(
        "*" not in ALLOWED_HOSTS or ALLOW_ANY_HOST,
        f"DJANGO_ALLOWED_HOSTS={_shown(','.join(ALLOWED_HOSTS))} answers any host name, which lets other web pages "
        "reach the console (DNS rebinding); list the names you use, such as 127.0.0.1,localhost "
        "(or set DJANGO_ALLOW_ANY_HOST=true if something in front checks the host)",
    )
    TIME_ZONE = env_timezone("TIME_ZONE", "Asia/Seoul")
    SQLITE_BUSY_TIMEOUT_SEC = env_int("SQLITE_BUSY_TIMEOUT_SEC", 20, minimum=1, maximum=600)
    POSTGRES_POOL_SIZE = env_int("POSTGRES_POOL_SIZE", 10, minimum=2, maximum=100)
    POSTGRES_POOL_TIMEOUT_SEC = env_int("POSTGRES_POOL_TIMEOUT_SEC", 5, minimum=1, maximum=60)
    DATABASES = {"default": _database(_raw("DATABASE_URL", "") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}

    # --- Upbit ------------------------------------------------------------------------------------
    UPBIT_ACCESS_KEY = env_secret("UPBIT_ACCESS_KEY")
    UPBIT_SECRET_KEY = env_secret("UPBIT_SECRET_KEY")
    UPBIT_API_BASE = env_url("UPBIT_API_BASE", "https://api.upbit.com")
    # The API base is the bundled sandbox (no real money) on another host; one on 127.0.0.1/localhost is
    # recognised without it, and api.upbit.com is always real money (exchange/account.py, venue_for).
    UPBIT_SANDBOX = env_bool("UPBIT_SANDBOX", False)
    UPBIT_CONNECT_TIMEOUT_SEC = env_decimal("UPBIT_CONNECT_TIMEOUT_SEC", "3", minimum=Decimal("0.1"), maximum=Decimal("60"))
    UPBIT_READ_TIMEOUT_SEC = env_decimal("UPBIT_READ_TIMEOUT_SEC", "10", minimum=Decimal("0.1"), maximum=Decimal("120"))
    # The WebSocket beside the REST base (wss://api.upbit.com/websocket/v1; the sandbox's ws://host:port/websocket/v1).
    UPBIT_WS_URL = env_url("UPBIT_WS_URL", "", schemes=("ws", "wss"), allow_empty=True)

    # --- Trading ----------------------------------------------------------------------------------
    TRADING_MARKET = env_market("TRADING_MARKET", "KRW-BTC")
    LOOP_INTERVAL_SEC = env_int("LOOP_INTERVAL_SEC", 5, minimum=1, maximum=3600)
    PAPER_MODE = env_bool("PAPER_MODE", True)
    PAPER_INITIAL_KRW = env_decimal("PAPER_INITIAL_KRW", "1000000", minimum=Decimal("5000"), maximum=Decimal("100000000000"))
    MAX_ORDER_KRW = env_decimal("MAX_ORDER_KRW", "10000", minimum=Decimal("5000"), maximum=Decimal("1000000000"))
    MAX_DAILY_LOSS_KRW = env_decimal(
        "MAX_DAILY_LOSS_KRW", "50000", minimum=Decimal("0"), maximum=Decimal("100000000000"), minimum_inclusive=False
    )
    MAX_CONSECUTIVE_FAILURES = env_int("MAX_CONSECUTIVE_FAILURES", 3, minimum=1, maximum=100)
    ORDER_COOLDOWN_SEC = env_int("ORDER_COOLDOWN_SEC", 30, minimum=0, maximum=86400)
    MAX_POSITION_RATIO = env_decimal(
        "MAX_POSITION_RATIO", "0.3", minimum=Decimal("0"), maximum=Decimal("1"), minimum_inclusive=False
    )
    MAX_SLIPPAGE_PCT = env_decimal("MAX_SLIPPAGE_PCT", "0.5", minimum=Decimal("0"), maximum=Decimal("100"))
    STRATEGY = env_choice("STRATEGY", "macd", ("macd", "sma_cross", "volatility_breakout", "momentum"))
    BALANCE_SNAPSHOT_INTERVAL_SEC = env_int("BALANCE_SNAPSHOT_INTERVAL_SEC", 300, minimum=5, maximum=86400)
    HOLD_SIGNAL_INTERVAL_SEC = env_int("HOLD_SIGNAL_INTERVAL_SEC", 300, minimum=5, maximum=86400)
    # The exchange's last trade may be at most this old (by this PC's clock) before no new entries are made.
    TICKER_MAX_AGE_SEC = env_int("TICKER_MAX_AGE_SEC", 60, minimum=5, maximum=3600)
    # Prices, the order book and order updates from Upbit's WebSocket; REST polling whenever the stream is off,
    # down or silent for STREAM_STALE_SEC. Default: on when trading live or against a non-Upbit REST base (the
    # sandbox); off for paper trading on Upbit's own prices, which a cycle every LOOP_INTERVAL_SEC serves.
    MARKET_STREAM = env_choice(
        "MARKET_STREAM", "on" if not PAPER_MODE or urlparse(UPBIT_API_BASE).hostname != "api.upbit.com" else "off", ("on", "off")
    )
    STREAM_STALE_SEC = env_int("STREAM_STALE_SEC", 5, minimum=1, maximum=300)
    ENGINE_STALE_AFTER_SEC = env_int("ENGINE_STALE_AFTER_SEC", 10, minimum=3, maximum=600)
    # A manual request not carried out within this many seconds expires: an old "close" must never fire later.
    MANUAL_ORDER_TTL_SEC = env_int("MANUAL_ORDER_TTL_SEC", 120, minimum=5, maximum=86400)
    # The engine rides out a database that stops answering for up to this long; past it, ERROR once it answers.
    DB_OUTAGE_MAX_SEC = env_int("DB_OUTAGE_MAX_SEC", 60, minimum=1, maximum=3600)

    # --- Web and API ------------------------------------------------------------------------------
    AUTOCOIN_API_TOKEN = env_secret("AUTOCOIN_API_TOKEN", min_length=16)
    # The account the token acts as: the token has exactly that account's permissions (docs/API.md).
    AUTOCOIN_API_USER = _raw("AUTOCOIN_API_USER", "")
    _require(
        not AUTOCOIN_API_TOKEN or bool(AUTOCOIN_API_USER),
        "AUTOCOIN_API_TOKEN is set but AUTOCOIN_API_USER is not; name the user whose permissions the token "
        "carries (e.g. an account in the Viewers or Operators group)",
    )
    DASHBOARD_POLL_SEC = env_int("DASHBOARD_POLL_SEC", 2, minimum=1, maximum=600)
    # The server log leaves out successful polls of these paths unless LOG_POLLS is true (`runall --verbose`):
    # trading/server_log.py. Failed polls and every other request are always logged.
    LOG_POLLS = env_bool("LOG_POLLS", False)
    QUIET_POLL_PREFIXES = ("/panels/", "/healthz", "/metrics", "/api/engine/status", "/api/chart/", "/chart/")

    # --- Login throttling and HTTPS ------------------------------------------------------------------
    LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
    LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1, maximum=1440)
    HTTPS = env_bool("DJANGO_HTTPS", False)
    HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000, minimum=0, maximum=63072000)
    HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
    SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", False)
    _require(not SSL_REDIRECT or HTTPS, "DJANGO_SSL_REDIRECT=true needs DJANGO_HTTPS=true (autocoin behind an HTTPS proxy)")
    CSRF_TRUSTED_ORIGINS = env_origins("DJANGO_CSRF_TRUSTED_ORIGINS")

    # --- Notifications ----------------------------------------------------------------------------
    NOTIFY_WEBHOOK_URL = env_url("NOTIFY_WEBHOOK_URL", "", allow_empty=True)
    TELEGRAM_BOT_TOKEN = env_secret("TELEGRAM_BOT_TOKEN")
    TELEGRAM_CHAT_ID = _raw("TELEGRAM_CHAT_ID", "")
    _require(
        bool(TELEGRAM_BOT_TOKEN) == bool(TELEGRAM_CHAT_ID),
        "TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID go together; set both or neither",
    )
    TELEGRAM_API_BASE = env_url("TELEGRAM_API_BASE", "https://api.telegram.org")

    LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
except SettingError as error:
    _fail(str(error))

LIVE_KEYS_CONFIGURED = bool(UPBIT_ACCESS_KEY and UPBIT_SECRET_KEY)

# Files kept readable by their owner only (trading/files.py), besides the SQLite database.
ENV_FILE_PATH = _DOT_ENV
BACKUP_DIR = BASE_DIR / "backups"
# The columnar copy of stored candles that backtests read (trading/candle_cache.py); empty turns it off.
_CANDLE_CACHE = _raw("CANDLE_CACHE_DIR", str(BASE_DIR / "var" / "candle-cache"))
CANDLE_CACHE_DIR: Path | None = Path(_CANDLE_CACHE) if _CANDLE_CACHE else None

# --- Django wiring ----------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "csp",
    "exchange",
    "trading",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "autocoin.urls"
WSGI_APPLICATION = "autocoin.wsgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# 24-hour times with seconds and ISO dates in both languages (autocoin/formats/); shown in TIME_ZONE.
FORMAT_MODULE_PATH = ["autocoin.formats"]
USE_I18N = True
USE_TZ = True

LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "/"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "trading.static_storage.ForgivingManifestStaticFilesStorage"},
}

# A bare `runserver` must work even before `collectstatic` (which `make run` does): the storage falls
# back to plain names and whitenoise finds the files in the static folders.
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Strict"
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Every page, the admin's included, loads scripts and styles only from its own static files: no inline
# script or style, no eval, no plugins, and no other site may frame the console or receive its forms.
# An injected <script> or style attribute is then inert, and a page cannot be made to post elsewhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- Login throttling (docs/SECURITY.md) ------------------------------------------------------------
# django-axes counts failed logins per user name and address (its AccessAttempt rows, listed in the admin
# where "delete" unlocks); a success clears the count. A try during the lockout does not extend it.
# Axes first (it refuses a locked-out login before any password is checked); then Django's model backend,
# reading a user's permissions in one query (trading/auth.py).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "trading.auth.PermissionsBackend"]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_TEMPLATE = "admin/login_locked.html"
AXES_CLIENT_IP_CALLABLE = "trading.auth.client_address"
# Wrong API bearer tokens per address within LOGIN_LOCKOUT_MINUTES before the API answers 429 (trading/auth.py).
API_TOKEN_FAILURE_LIMIT = 10
# The token counter lives in this process's memory: one web process, and a restart forgets it.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "autocoin"},
    # Signed-in sessions, apart from the token counter so neither crowds the other out of its entries.
    "sessions": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "autocoin-sessions",
        "OPTIONS": {"MAX_ENTRIES": 1000},
    },
}
# Sessions are stored in the database and read from this process's memory: a poll costs no session query.
# Signing out deletes both copies; the one web process (runall) is the only one that reads them.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_CACHE_ALIAS = "sessions"

# --- HTTPS behind a reverse proxy (DJANGO_HTTPS=true; README "Behind HTTPS") -----------------------
# The proxy ends TLS and tells Django so with X-Forwarded-Proto; Django itself only listens on loopback.
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_HSTS_SECONDS = HSTS_SECONDS if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS and HSTS_INCLUDE_SUBDOMAINS
SECURE_SSL_REDIRECT = SSL_REDIRECT
SILENCED_SYSTEM_CHECKS = [
    # HSTS for every subdomain is the owner's decision about hosts autocoin does not serve: an opt-in
    # (DJANGO_HSTS_INCLUDE_SUBDOMAINS).
    *(["security.W005"] if HTTPS and not SECURE_HSTS_INCLUDE_SUBDOMAINS else []),
    # The proxy redirects plain HTTP to HTTPS (Caddy does by default; the nginx example has the redirect),
    # and Django listens on 127.0.0.1 only, where health checks and scripts on this PC speak plain HTTP.
    *(["security.W008"] if HTTPS and not SECURE_SSL_REDIRECT else []),
    # The browsers' HSTS preload list binds a whole registered domain (every host under it, for months);
    # it is for public sites, not one person's console.
    *(["security.W021"] if HTTPS else []),
]

# Every handler masks every configured secret (exchange/redact.py) in the message and the traceback. The
# "django" and "django.server" loggers are named so that the unmasked handlers Django attaches by default
# are replaced: error tracebacks of django.request reach the masked console through "django".
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "mask_secrets": {"()": "trading.engine.logs.MaskingFilter"},
        "quiet_polls": {"()": "trading.server_log.QuietPollsFilter"},
    },
    "formatters": {
        "text": {
            "()": "trading.engine.logs.MaskingFormatter",
            "format": "%(asctime)s %(levelname)-7s [%(threadName)s] %(name)s: %(message)s",
        },
        "django.server": {
            "()": "trading.engine.logs.MaskingServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "text", "filters": ["mask_secrets"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["quiet_polls", "mask_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": "INFO"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
        "axes.apps": {"level": "WARNING"},  # its start-up banner on every command
    },
}
