"""Settings are checked when the portal starts: a production install with a missing or unsafe
setting refuses to start, and says, in one message, every setting to fix and how
(ASVS 4.0.3 14.1.3: the configuration is verified at start; 2.10.4: no weak secrets)."""

from __future__ import annotations

import pytest
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import config as settings
from portal import create_app
from portal.config import ConfigurationError

STRONG_KEY = "k" * 64


@pytest.fixture
def start(monkeypatch, tmp_path):
    """Build the app from these settings alone: no environment, no instance/config.py."""
    for name in settings.ENV_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))

    def build(**overrides):
        # Rate limits stay off: Flask-Limiter is one object per process, shared with other tests.
        return create_app({"RATELIMIT_ENABLED": False, **overrides})

    return build


@pytest.fixture
def production(tmp_path) -> dict:
    """A complete, valid production configuration."""
    return {
        "PORTAL_ENV": "production",
        "SECRET_KEY": STRONG_KEY,
        "DATABASE_URL": "postgresql://shiraka@db.example/shiraka",
        "PUBLIC_BASE_URL": "https://shiraka.example.ma",
        "REDIS_URL": "redis://cache.example:6379/0",
        "MAIL_SERVER": "smtp.example.ma",
        "UPLOAD_DIR": str(tmp_path / "uploads"),
    }


def refusal(start, **config) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        start(**config)
    return caught.value


def test_a_complete_production_configuration_starts(start, production):
    app = start(**production)

    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://cache.example:6379/0"
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["MAIL_SERVER"] == "smtp.example.ma"


def test_every_problem_is_reported_together_in_one_error(start, tmp_path):
    """Nothing set but PORTAL_ENV=production: one error names each missing setting."""
    error = refusal(start, PORTAL_ENV="production", UPLOAD_DIR=str(tmp_path / "uploads"))

    message = str(error)
    for name in ("SECRET_KEY", "DATABASE_URL", "PUBLIC_BASE_URL", "REDIS_URL", "MAIL_SERVER"):
        assert sum(name in problem.split(" ")[0] for problem in error.problems) == 1, name
        assert name in message
    assert len(error.problems) == 5
    assert message.startswith("5 settings must be fixed:")


def test_production_refuses_a_missing_redis_url(start, production):
    del production["REDIS_URL"]

    error = refusal(start, **production)

    assert len(error.problems) == 1
    assert error.problems[0].startswith("REDIS_URL must be set in production")
    assert "redis://" in error.problems[0]


def test_a_single_machine_install_on_sqlite_may_count_rate_limits_in_memory(start, production):
    """The documented opt-out: SQLite allowed explicitly means one machine, one worker."""
    del production["REDIS_URL"]
    production["DATABASE_URL"] = "sqlite:////var/lib/shiraka/shiraka.sqlite3"

    app = start(**production, ALLOW_SQLITE_IN_PRODUCTION=True)

    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_allowing_sqlite_does_not_excuse_a_postgresql_install_from_redis(start, production):
    """Several app servers can share PostgreSQL: their rate limits must be shared too."""
    del production["REDIS_URL"]

    error = refusal(start, **production, ALLOW_SQLITE_IN_PRODUCTION=True)

    assert [problem.split(" ")[0] for problem in error.problems] == ["REDIS_URL"]


@pytest.mark.parametrize("url", ["http://cache.example:6379", "cache.example:6379", "unix:///x"])
def test_a_redis_url_the_rate_limiter_cannot_read_is_refused(start, production, url):
    error = refusal(start, **{**production, "REDIS_URL": url})

    assert error.problems[0].startswith("REDIS_URL must start with one of redis://")


def test_a_bad_redis_url_is_refused_outside_production_too(start):
    error = refusal(start, SECRET_KEY=STRONG_KEY, REDIS_URL="localhost:6379")

    assert "REDIS_URL" in str(error)


def test_production_refuses_a_missing_secret_key(start, production, tmp_path):
    del production["SECRET_KEY"]

    error = refusal(start, **production)

    assert error.problems[0].startswith("SECRET_KEY must be set when PORTAL_ENV=production")
    assert not (tmp_path / "instance" / "secret_key").exists()


@pytest.mark.parametrize("length", [8, 31])
def test_production_refuses_a_secret_key_shorter_than_32_characters(start, production, length):
    key = "s3cr3t-" + "x" * (length - 7)

    error = refusal(start, **{**production, "SECRET_KEY": key})

    assert error.problems == [error.problems[0]]
    assert error.problems[0].startswith(f"SECRET_KEY is {length} characters long")
    assert "at least 32" in error.problems[0]
    assert key not in str(error), "the message must not print the key"


def test_a_secret_key_of_32_characters_is_accepted(start, production):
    app = start(**{**production, "SECRET_KEY": "x" * 32})

    assert app.config["SECRET_KEY"] == "x" * 32


def test_production_refuses_a_missing_mail_server(start, production):
    del production["MAIL_SERVER"]

    error = refusal(start, **production)

    assert len(error.problems) == 1
    assert error.problems[0].startswith("MAIL_SERVER must be set in production")
    assert "send-mail" in error.problems[0]


def test_outside_production_the_mail_server_defaults_to_this_machine(start):
    app = start(SECRET_KEY=STRONG_KEY)

    assert app.config["MAIL_SERVER"] == "127.0.0.1"


def test_settings_are_read_from_the_environment(start, production, monkeypatch):
    for name in ("REDIS_URL", "MAIL_SERVER", "SECRET_KEY"):
        monkeypatch.setenv(name, production.pop(name))
    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    monkeypatch.setenv("RATELIMIT_ENROLMENT", "5 per minute")

    app = start(**production)

    assert app.config["MAIL_SERVER"] == "smtp.example.ma"
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://cache.example:6379/0"
    assert app.config["TRUSTED_PROXIES"] == 1
    assert app.config["RATELIMIT_ENROLMENT"] == "5 per minute"


def test_a_missing_upload_directory_is_created(start, production, tmp_path):
    upload_dir = tmp_path / "srv" / "shiraka" / "uploads"

    start(**{**production, "UPLOAD_DIR": str(upload_dir)})

    assert upload_dir.is_dir()


def test_an_upload_directory_that_cannot_be_created_is_refused(start, production, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    error = refusal(start, **{**production, "UPLOAD_DIR": str(blocker / "uploads")})

    assert len(error.problems) == 1
    assert error.problems[0].startswith(f"UPLOAD_DIR {blocker / 'uploads'} does not exist")
    assert "cannot be created" in error.problems[0]


def test_an_upload_directory_that_is_a_file_is_refused(start, production, tmp_path):
    blocker = tmp_path / "uploads"
    blocker.write_text("not a directory")

    error = refusal(start, **{**production, "UPLOAD_DIR": str(blocker)})

    assert error.problems == [
        f"UPLOAD_DIR {blocker} is a file, not a directory: point UPLOAD_DIR at a directory "
        "where the portal keeps uploaded files."
    ]


def test_an_upload_directory_the_portal_cannot_write_is_refused(start, production, monkeypatch):
    # The suite may run as root, for whom every directory is writable: ask the check instead.
    monkeypatch.setattr(settings, "directory_is_writable", lambda path: False)

    error = refusal(start, **production)

    assert len(error.problems) == 1
    assert "is not writable by the account the portal runs as" in error.problems[0]


def test_the_upload_directory_is_not_checked_outside_production(start, tmp_path):
    upload_dir = tmp_path / "later"

    start(SECRET_KEY=STRONG_KEY, UPLOAD_DIR=str(upload_dir))

    assert not upload_dir.exists(), "created by the first upload, not at start"


@pytest.mark.parametrize(("proxies", "wrapped"), [(0, False), (1, True)])
def test_trusted_proxies_decides_whether_forwarded_headers_are_read(start, proxies, wrapped):
    app = start(SECRET_KEY=STRONG_KEY, TRUSTED_PROXIES=proxies)

    assert isinstance(app.wsgi_app, ProxyFix) is wrapped
    if wrapped:
        assert (app.wsgi_app.x_for, app.wsgi_app.x_proto, app.wsgi_app.x_host) == (1, 1, 0)
