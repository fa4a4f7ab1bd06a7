"""Fixtures shared by the whole suite: the app on SQLite or PostgreSQL, clients, sign-in, SQL
query counting, a real SMTP server, and Chromium for browser tests."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import g, has_app_context
from flask.testing import FlaskClient
from flask_wtf.csrf import generate_csrf
from sqlalchemy.engine import make_url

from portal import create_app
from portal.audit import triggers
from portal.extensions import db as _db
from portal.extensions import limiter

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_TABLES = (
    "region",
    "strategic_axis",
    "plan_project",
    "sdg",
    "un_mechanism",
    "funding_partner",
)
TEST_PASSWORD = "correct horse battery staple"


def pytest_configure(config):
    os.environ.setdefault("PORTAL_ENV", "testing")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}


# --- database -------------------------------------------------------------------------------


def _postgres_database(base_url: str):
    """Create a throw-away database next to TEST_DATABASE_URL; yield its URL; drop it."""
    url = make_url(base_url).set(drivername="postgresql+psycopg")
    name = f"shiraka_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
            # A test database needs no durability: not waiting for the disk on every commit
            # makes the suite markedly faster.
            connection.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    except sa.exc.OperationalError as error:
        admin.dispose()
        if _flag("REQUIRE_POSTGRES"):
            pytest.exit(f"PostgreSQL is required but unreachable: {error}", returncode=3)
        raise
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"
                ),
                {"name": name},
            )
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """The database the suite runs on: PostgreSQL when TEST_DATABASE_URL says so, else SQLite."""
    base = os.environ.get("TEST_DATABASE_URL", "")
    if _flag("REQUIRE_POSTGRES") and not base.startswith("postgresql"):
        pytest.exit("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not a PostgreSQL URL", 3)
    if base.startswith("postgresql"):
        yield from _postgres_database(base)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


def make_app(database_url: str, tmp_path: Path, **overrides):
    """Build an app for tests: real CSRF, no rate limits unless asked, mail copies off."""
    settings = {
        "TESTING": True,
        "PORTAL_ENV": "testing",
        "SECRET_KEY": "test-secret-key-not-for-production",
        "DATABASE_URL": database_url,
        "PUBLIC_BASE_URL": "https://shiraka.test",
        "MAIL_COPY_DIR": None,
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "RATELIMIT_ENABLED": False,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    }
    settings.update(overrides)
    return create_app(settings)


@pytest.fixture(scope="session")
def migrated(database_url, tmp_path_factory):
    """Build the schema once per run through the migrations, and load the reference data."""
    from flask_migrate import upgrade

    from portal.strategy.services import load_reference_data

    app = make_app(database_url, tmp_path_factory.mktemp("migrate"))
    with app.app_context():
        upgrade()
        load_reference_data(_db.session)
        _db.session.commit()
        _db.engine.dispose()
    return database_url


def _clean_tables(engine) -> None:
    """Empty every table but the reference data, so each test starts from the same state."""
    tables = [
        table
        for table in reversed(_db.metadata.sorted_tables)
        if table.name not in REFERENCE_TABLES
    ]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            _truncate_filled_tables(connection, tables)
        else:
            # SQLite has no TRUNCATE: lift the audit trail's append-only triggers meanwhile.
            for statement in triggers.drop_statements("sqlite"):
                connection.execute(sa.text(statement))
            for table in tables:
                connection.execute(table.delete())
            for statement in triggers.create_statements("sqlite"):
                connection.execute(sa.text(statement))


def _truncate_filled_tables(connection, tables) -> None:
    """Empty only the tables holding rows, then restart every sequence.

    A test fills a handful of the schema's tables: asking which ones first saves emptying the
    others. They are emptied by DELETE with triggers and foreign keys off for the transaction
    (a superuser's `session_replication_role = replica`, which also lets the audit trail's
    append-only trigger be): for a few rows that takes milliseconds, where TRUNCATE … CASCADE
    takes about half a second, as it recreates the files of every table the foreign keys reach.
    Without a superuser, TRUNCATE it is.
    """
    probes = sa.union_all(
        *(
            sa.select(sa.literal(table.name)).where(sa.exists(sa.select(1).select_from(table)))
            for table in tables
        )
    )
    filled = set(connection.execute(probes).scalars())
    if filled and connection.scalar(sa.text("SELECT current_setting('is_superuser')")) == "on":
        connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
        for table in tables:  # children before parents
            if table.name in filled:
                connection.execute(table.delete())
    elif filled:
        names = ", ".join(f'"{name}"' for name in sorted(filled))
        connection.execute(sa.text(f"TRUNCATE {names} CASCADE"))
    # A rolled-back insert moves a sequence on an empty table too: restart them all.
    connection.execute(
        sa.text(
            "SELECT setval(s.oid, 1, false) FROM pg_class s "
            "JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') "
            "JOIN pg_class t ON t.oid = d.refobjid "
            "WHERE s.relkind = 'S' AND t.relname <> ALL(:kept)"
        ),
        {"kept": list(REFERENCE_TABLES)},
    )


class _SharedApp:
    """One app per test process for the plain `app` fixture: building an app compiles every
    URL rule, which costs more than most tests. Each test gets the settings and extensions the
    app was built with back, and its own upload folder.

    The rate limiter is one object for every app, set by the last app built: it is put back as
    the shared app left it, with its counts emptied."""

    def __init__(self, database_url: str, tmp_path: Path):
        self.app = make_app(database_url, tmp_path)
        self.config = dict(self.app.config)
        self.extensions = dict(self.app.extensions)
        self.limiter = dict(vars(limiter))

    def for_test(self, tmp_path: Path):
        app = self.app
        app.config.clear()
        app.config.update(self.config, UPLOAD_DIR=str(tmp_path / "uploads"))
        app.extensions.clear()
        app.extensions.update(self.extensions)
        vars(limiter).update(self.limiter)
        if limiter.enabled:
            limiter.reset()
        return app


@pytest.fixture(scope="session")
def _shared_app(migrated, tmp_path_factory):
    shared = _SharedApp(migrated, tmp_path_factory.mktemp("shared"))
    yield shared
    with shared.app.app_context():
        _db.engine.dispose()


@pytest.fixture
def app_factory(migrated, tmp_path, _shared_app):
    """Make apps with extra settings; each is torn down after the test.

    `shared=True` with no settings gives the process's shared app instead of a new one.
    """
    apps = []

    def build(*, shared: bool = False, **overrides):
        if shared and not overrides:
            app = _shared_app.for_test(tmp_path)
        else:
            app = make_app(migrated, tmp_path, **overrides)
        app.test_client_class = CsrfClient
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            _db.session.remove()
            _clean_tables(_db.engine)
            if app is not _shared_app.app:
                _db.engine.dispose()


@pytest.fixture
def app(app_factory):
    app = app_factory(shared=True)
    with app.app_context():
        yield app


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def session(app):
    return _db.session


# --- clients --------------------------------------------------------------------------------


def forget_request_globals() -> None:
    """Empty `g` as a new request would find it.

    Test requests run inside the test's app context, so `g` outlives a request: the signed-in
    user (Flask-Login), the locale (Flask-Babel) and the CSRF token (Flask-WTF) of one client's
    request would otherwise be reused by the next client's request.
    """
    if has_app_context():
        for key in list(g):
            g.pop(key)


class CsrfClient(FlaskClient):
    """A test client that sends a valid CSRF token with every unsafe request.

    Pass `csrf=False` to send none, or `csrf="wrong"` to send a forged one.
    """

    def open(self, *args, csrf=True, **kwargs):
        forget_request_globals()
        method = (kwargs.get("method") or "GET").upper()
        if method not in {"GET", "HEAD", "OPTIONS"} and csrf:
            headers = dict(kwargs.pop("headers", None) or {})
            token = self.csrf_token() if csrf is True else csrf
            headers.setdefault("X-CSRFToken", token)
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)

    def csrf_token(self) -> str:
        """Return a token valid for this client's session, storing its secret in the session."""
        app = self.application
        with app.test_request_context(), self.session_transaction() as stored:
            from flask import session as request_session

            request_session.update(stored)
            token = generate_csrf()
            stored.update(request_session)
        return token


@pytest.fixture
def client(app):
    return app.test_client()


def sign_in(client: FlaskClient, user) -> FlaskClient:
    """Open a session for `user` on this client without going through the sign-in form."""
    with client.session_transaction() as stored:
        stored["_user_id"] = user.get_id()
        stored["_fresh"] = True
        stored["mfa"] = True  # as after the second factor (staff and admin need one)
    return client


@pytest.fixture
def login_as(app):
    """Return a function that makes a user with these roles and a client signed in as them."""
    from tests import factories

    def login(*roles, user=None, **user_fields):
        user = user or factories.UserFactory(roles=roles or ("applicant",), **user_fields)
        return sign_in(app.test_client(), user), user

    return login


# --- SQL query counting ---------------------------------------------------------------------


class QueryCounter:
    def __init__(self):
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        if not re.match(r"\s*(SAVEPOINT|RELEASE|ROLLBACK|PRAGMA)", statement, re.I):
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app):
    """Count the SQL statements run inside a `with count_queries() as counter:` block."""

    @contextlib.contextmanager
    def counting():
        counter = QueryCounter()
        engine = _db.engine
        sa.event.listen(engine, "before_cursor_execute", counter)
        try:
            yield counter
        finally:
            sa.event.remove(engine, "before_cursor_execute", counter)

    return counting


@pytest.fixture
def assert_queries(count_queries):
    """`with assert_queries(max=8):` fails when the block runs more SQL statements than that."""

    @contextlib.contextmanager
    def asserting(max: int):  # noqa: A002 — reads as the rule it checks
        with count_queries() as counter:
            yield counter
        listing = "\n".join(counter.statements)
        assert counter.count <= max, f"{counter.count} queries, at most {max} allowed:\n{listing}"

    return asserting


# --- mail -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MailSink:
    """Collects every message the SMTP server receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 — aiosmtpd's hook name
        from email import message_from_bytes
        from email.policy import default

        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"


@pytest.fixture
def smtp_server():
    """A real SMTP server on a free local port; yields (host, port, sink)."""
    from aiosmtpd.controller import Controller

    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.hostname, controller.port, sink
    finally:
        controller.stop()


# --- browser --------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright; skipped only when REQUIRE_BROWSER is unset."""
    if not Path(CHROMIUM).exists():
        if _flag("REQUIRE_BROWSER"):
            pytest.fail(f"REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is not installed (set REQUIRE_BROWSER=1 to make this fail)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class LiveServer:
    """The app served by werkzeug in a thread, on a given local port."""

    def __init__(self, app, port: int):
        from werkzeug.serving import make_server

        self.app = app  # pytest-flask pushes a request context of the served app
        self.port = port
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_server(app_factory, tmp_path):
    """The portal served on a free local port, on the test database; e-mails copied to disk."""
    port = free_port()
    app = app_factory(
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        MAIL_COPY_DIR=str(tmp_path / "mail"),
        # Browser tests sign staff in through the form; tests/e2e/test_two_factor.py serves
        # an app of its own that asks for the second factor.
        TWO_FACTOR_REQUIRED_ROLES=(),
    )
    server = LiveServer(app, port)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def page(browser, live_server, request):
    """A fresh browser page; a screenshot is kept in test-artifacts/ when the test fails."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    browser_page = context.new_page()
    yield browser_page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        out = ROOT / "test-artifacts"
        out.mkdir(exist_ok=True)
        browser_page.screenshot(path=str(out / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def sign_in_browser(page, user, password: str = TEST_PASSWORD) -> None:
    """Sign in through the real form in the browser."""
    page.goto("/account/sign-in")
    page.fill("#email", user.email)
    page.fill("#password", password)
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/account")


def assert_fits_the_screen(page) -> None:
    """Nothing makes the page scroll sideways, even on a phone (wide tables scroll alone).

    Measured once the page's stylesheet has loaded: a selector can appear before it does, and
    an unstyled table is wider than a phone."""
    page.wait_for_load_state("load")
    width = page.evaluate("document.documentElement.scrollWidth")
    too_wide = page.evaluate(
        """limit => [...document.body.querySelectorAll('*')]
            .filter(node => node.getBoundingClientRect().right > limit + 1
                || node.getBoundingClientRect().left < -1)
            .slice(0, 5)
            .map(node => node.tagName + (node.id ? '#' + node.id : ''))""",
        page.viewport_size["width"],
    )
    assert width <= page.viewport_size["width"], (page.url, too_wide)


def shown(text: str, locale: str = "ar", **values) -> str:
    """Return `text` as a page in `locale` shows it: translated, then HTML-escaped."""
    from flask_babel import force_locale, gettext
    from markupsafe import escape

    with force_locale(locale):
        return str(escape(gettext(text, **values)))


def shown_plural(singular: str, plural: str, num: int, locale: str = "ar") -> str:
    """Return the plural message for `num` as a page in `locale` shows it."""
    from flask_babel import force_locale, ngettext
    from markupsafe import escape

    with force_locale(locale):
        return str(escape(ngettext(singular, plural, num)))
