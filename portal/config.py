"""Settings: safe defaults, then instance/config.py, then the environment, then a test mapping."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ENV_SETTINGS = (
    "SECRET_KEY",
    "RECEIPT_KEY",
    "DATABASE_URL",
    "PUBLIC_BASE_URL",
    "MAIL_SERVER",
    "MAIL_PORT",
    "MAIL_USE_TLS",
    "MAIL_USE_SSL",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_DEFAULT_SENDER",
    "MAIL_COPY_DIR",
    "REDIS_URL",
    "UPLOAD_DIR",
    "BABEL_DEFAULT_LOCALE",
    "TIMEZONE",
    "PORTAL_ENV",
    "ALLOW_SQLITE_IN_PRODUCTION",
)

BOOLEAN_SETTINGS = {"MAIL_USE_TLS", "MAIL_USE_SSL", "ALLOW_SQLITE_IN_PRODUCTION"}
INTEGER_SETTINGS = {"MAIL_PORT"}


class ConfigurationError(RuntimeError):
    """A setting is missing or unsafe for the environment the portal runs in."""


def default_settings(instance_path: Path) -> dict:
    """Return the defaults used when nothing else is configured."""
    return {
        "PORTAL_ENV": "development",
        # Signs submission receipts; unset means SECRET_KEY. Changing it voids old receipts' check.
        "RECEIPT_KEY": None,
        "DATABASE_URL": f"sqlite:///{instance_path / 'shiraka.sqlite3'}",
        "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": 25,
        "MAIL_USE_TLS": False,
        "MAIL_USE_SSL": False,
        "MAIL_USERNAME": None,
        "MAIL_PASSWORD": None,
        "MAIL_DEFAULT_SENDER": "Shiraka <no-reply@shiraka.local>",
        # "auto": instance/mail in development, off in production unless set.
        "MAIL_COPY_DIR": "auto",
        "MAIL_MAX_ATTEMPTS": 5,
        "REDIS_URL": None,
        "UPLOAD_DIR": str(instance_path / "uploads"),
        "BABEL_DEFAULT_LOCALE": "ar",
        "LANGUAGES": ("ar", "fr"),
        "TIMEZONE": "Africa/Casablanca",
        "ALLOW_SQLITE_IN_PRODUCTION": False,
        "MAX_CONTENT_LENGTH": 25 * 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": 12 * 3600,
        # The CSRF token lives as long as the session, so a long form sitting still submits.
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_HEADERS": ["X-CSRFToken"],
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_LOCK_MINUTES": 15,
        "EMAIL_TOKEN_MAX_AGE": 48 * 3600,
        "RESET_TOKEN_MAX_AGE": 3600,
        "INVITATION_MAX_AGE": 14 * 24 * 3600,
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_HEADERS_ENABLED": False,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    }


def _coerce(name: str, value: str):
    if name in BOOLEAN_SETTINGS:
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if name in INTEGER_SETTINGS:
        return int(value)
    return value


def settings_from_environment(environ=os.environ) -> dict:
    """Return every known setting present in the environment."""
    return {name: _coerce(name, environ[name]) for name in ENV_SETTINGS if environ.get(name)}


def dev_secret_key(instance_path: Path) -> str:
    """Return the development key kept in instance/, creating it on first use."""
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def finalise(config: dict, instance_path: Path) -> None:
    """Derive dependent settings and refuse unsafe production configurations."""
    production = config["PORTAL_ENV"] == "production"
    if not config.get("SECRET_KEY"):
        if production:
            raise ConfigurationError("SECRET_KEY must be set when PORTAL_ENV=production.")
        config["SECRET_KEY"] = dev_secret_key(instance_path)
    url = config["DATABASE_URL"]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    config["SQLALCHEMY_DATABASE_URI"] = url
    if production:
        if url.startswith("sqlite") and not config["ALLOW_SQLITE_IN_PRODUCTION"]:
            raise ConfigurationError(
                "DATABASE_URL points at SQLite; set a PostgreSQL URL for production "
                "(or ALLOW_SQLITE_IN_PRODUCTION=1 for a single-machine install)."
            )
        if not config["PUBLIC_BASE_URL"].startswith("https://"):
            raise ConfigurationError("PUBLIC_BASE_URL must be an https:// address in production.")
        config["SESSION_COOKIE_SECURE"] = True
        config["REMEMBER_COOKIE_SECURE"] = True
        config["SESSION_COOKIE_NAME"] = "__Host-session"
    if config["MAIL_COPY_DIR"] == "auto":
        config["MAIL_COPY_DIR"] = None if production else str(instance_path / "mail")
    if config.get("REDIS_URL"):
        config["RATELIMIT_STORAGE_URI"] = config["REDIS_URL"]
    config["BABEL_DEFAULT_TIMEZONE"] = config["TIMEZONE"]
