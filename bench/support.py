"""What the benchmarks share: a throw-away database, an app configured for measuring, the
gunicorn server with its bench-only routes, and HTTP clients that sign in through the real form.
"""

from __future__ import annotations

import gzip
import html
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path

LOCAL_POSTGRES = "postgresql+psycopg://root@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parent.parent
WORKERS = 4
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- the database ---------------------------------------------------------------------------


@contextmanager
def database(default: str = "", *, sqlite: bool = False):
    """Yield the URL of an empty database and drop it afterwards: a new database next to
    BENCH_DATABASE_URL (or `default`) when that is PostgreSQL, else (or when `sqlite`) a
    temporary SQLite file."""
    base = "" if sqlite else os.environ.get("BENCH_DATABASE_URL", "") or default
    if not base.startswith("postgresql"):
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        return
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    url = make_url(base).set(drivername="postgresql+psycopg")
    name = f"shiraka_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_settings(url: str) -> dict:
    """Settings for an app under measurement: no rate limits (every client signs in from
    127.0.0.1), no development copies of e-mails on disk, and no role that must pass a second
    factor (clients sign in with a password; a session that passed one costs the same)."""
    return {
        "PORTAL_ENV": "testing",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
        "DATABASE_URL": url,
        "MAIL_COPY_DIR": None,
        "RATELIMIT_ENABLED": False,
        "TWO_FACTOR_REQUIRED_ROLES": (),
    }


def analyze(engine) -> None:
    """Give PostgreSQL's planner statistics after a bulk load, as autovacuum would."""
    from sqlalchemy import text

    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


# --- the server -----------------------------------------------------------------------------


def server_app():
    """The app gunicorn serves in a benchmark: `gunicorn 'bench.support:server_app()'` with
    DATABASE_URL in the environment; it has the bench-only routes under /__bench/."""
    from portal import create_app

    app = create_app(bench_settings(os.environ["DATABASE_URL"]))
    install_bench_routes(app)
    return app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(url: str, port: int, workers: int = WORKERS) -> subprocess.Popen:
    """Start gunicorn with several workers on the benchmark database; wait until it answers."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "300",  # the heaviest pages under load must be measured, not killed
        "--log-level",
        "warning",
        "bench.support:server_app()",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "DATABASE_URL": url})  # noqa: S603
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):  # noqa: S310
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the benchmark server did not start within 60 s")


def stop_server(server: subprocess.Popen) -> None:
    """Stop gunicorn (its master stops the workers) and wait for it."""
    server.terminate()
    server.wait(timeout=30)


# --- bench-only routes: the floor a page is compared with -----------------------------------

FLOOR_QUERIES_HEADER = "X-Bench-Floor-Queries"
WORKER_HEADER = "X-Bench-Worker"


@dataclass
class _Floor:
    """What a page was rendered from, kept in the worker's memory."""

    kind: str  # "render": the page's template; "stream": the open-data rows
    template: str = ""
    context: dict = field(default_factory=dict)
    user: object = None
    rows: list = field(default_factory=list)
    fmt: str = "csv"


def install_bench_routes(app) -> None:
    """Add /__bench/hello (a bare answer) and /__bench/floor?path=… (the page at `path`
    rendered again from objects kept in memory, without the database) to an app, and the
    answering worker's pid to every response."""
    import sqlalchemy as sa
    from flask import Response, g, request, stream_with_context
    from flask.signals import before_render_template

    from portal.extensions import db

    floors: dict[tuple[str, str], _Floor] = {}  # per worker: gunicorn's workers are processes

    def hello():
        return Response("hello", mimetype="text/plain")

    def capture(path: str) -> _Floor:
        """Answer `path` once for real, as the client asking for the floor (its cookies,
        method, body), and keep the template and the context the view rendered it from."""
        from flask import current_app
        from flask_login import current_user

        seen: list[_Floor] = []

        def remember(sender, template, context, **extra):
            if seen:
                return
            fresh: dict = {}
            current_app.update_template_context(fresh)
            # Keep what the view gave; the context processors run again at each render.
            given = {
                key: value
                for key, value in context.items()
                if key not in fresh or not _same(fresh[key], value)
            }
            user = current_user._get_current_object()
            seen.append(_Floor("render", template.name, given, user))

        headers = {
            name: request.headers[name]
            for name in ("Cookie", "X-CSRFToken", "HX-Request")
            if name in request.headers
        }
        if path.startswith("/open-data/"):
            return _capture_open_data(path)
        client = current_app.test_client(use_cookies=False)
        # The form as parsed (the CSRF check has read the body already); GET sends none.
        form = request.form.copy() if request.method == "POST" else None
        with before_render_template.connected_to(remember, app):
            answer = client.open(path, method=request.method, data=form, headers=headers)
        if not seen or answer.status_code >= 400:
            raise RuntimeError(f"no template rendered for {path} ({answer.status_code})")
        return seen[0]

    def floor():
        path = request.args["path"]
        key = (request.method, path)
        if key not in floors:
            floors[key] = capture(path)
        kept = floors[key]
        counted: list[str] = []

        def count(conn, cursor, statement, *args):
            counted.append(statement)

        engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            if kept.kind == "stream":
                response = _stream_open_data(kept, stream_with_context)
            else:
                from flask import render_template

                if kept.user is not None and kept.user.is_authenticated:
                    g._login_user = kept.user  # what Flask-Login keeps; no query for the user
                response = Response(render_template(kept.template, **kept.context))
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        response.headers[FLOOR_QUERIES_HEADER] = str(len(counted))
        return response

    def tag_worker(response):
        # Which worker answered: a benchmark warms every worker up before it measures.
        response.headers[WORKER_HEADER] = str(os.getpid())
        return response

    app.add_url_rule("/__bench/hello", "bench_hello", hello)
    app.add_url_rule("/__bench/floor", "bench_floor", floor, methods=["GET", "POST"])
    app.after_request(tag_worker)


def _same(one, other) -> bool:
    if one is other:
        return True
    try:
        return bool(one == other)
    except Exception:  # noqa: BLE001 - any comparison problem means "not the same"
        return False


def _capture_open_data(path: str) -> _Floor:
    """Keep the funded awards the open-data export streams, as plain objects in memory."""
    from portal.extensions import db
    from portal.results import public

    match = re.fullmatch(r"/open-data/(?:(?P<code>[^/]+)/)?grants\.(?P<fmt>csv|json)", path)
    if match is None:
        raise RuntimeError(f"not an open-data path: {path}")
    call_id = None
    if match["code"]:
        found = public.published_call(db.session, match["code"])
        call_id = found[0].id if found else None
    rows = list(public.funded_awards(db.session, call_id))
    db.session.remove()
    return _Floor("stream", rows=rows, fmt=match["fmt"])


def _stream_open_data(kept: _Floor, stream_with_context):
    """Stream the kept awards exactly as the export does."""
    from flask import Response

    from portal.exports import csv_chunks
    from portal.results import public

    if kept.fmt == "csv":
        body = csv_chunks(public.CSV_COLUMNS, (public.csv_row(award) for award in kept.rows))
        return Response(stream_with_context(body), mimetype="text/csv; charset=utf-8")
    body = public.json_chunks(iter(kept.rows))
    return Response(stream_with_context(body), mimetype="application/json")


# --- the clients ----------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict
    ms: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Client:
    """One visitor with its own cookies; redirects are returned, not followed."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect()
        )
        self.token = ""

    def fetch(self, path: str, form: dict | None = None, headers: dict | None = None) -> Answer:
        """Send a GET (or a POST when `form` is given); time it until the body is read."""
        data = urllib.parse.urlencode(form, doseq=True).encode() if form is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=headers or {})  # noqa: S310
        started = time.perf_counter()
        try:
            with self.opener.open(request, timeout=300) as response:
                body = response.read()
                status, answer_headers = response.status, dict(response.headers)
        except urllib.error.HTTPError as error:
            body = error.read()
            status, answer_headers = error.code, dict(error.headers)
        return Answer(status, body, answer_headers, (time.perf_counter() - started) * 1000)

    def request(self, path: str, form: dict | None = None) -> tuple[int, str]:
        answer = self.fetch(path, form)
        return answer.status, answer.text

    def remember_token(self, body: str) -> None:
        found = CSRF.search(body)
        if found:
            self.token = html.unescape(found.group(1))

    def sign_in(self, email: str, password: str) -> None:
        """Sign in through the real form (with its CSRF token); fail loudly if refused."""
        self.remember_token(self.request("/account/sign-in")[1])
        status, _ = self.request(
            "/account/sign-in", {"email": email, "password": password, "csrf_token": self.token}
        )
        if status != 303:
            raise RuntimeError(f"sign-in of {email} answered {status}")
        self.remember_token(self.request("/account")[1])

    def timed(self, path: str, form: dict | None = None) -> tuple[int, float]:
        answer = self.fetch(path, form)
        return answer.status, answer.ms


def in_parallel(work) -> None:
    """Run each callable in its own thread; wait for all; re-raise the first failure."""
    failures: list[BaseException] = []

    def guarded(job):
        try:
            job()
        except BaseException as failure:  # noqa: BLE001 - reported to the caller below
            failures.append(failure)

    threads = [threading.Thread(target=guarded, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def percentile(values: list[float], share: float) -> float:
    """Return the `share` percentile (0.5, 0.95) of the values."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def gzip_size(body: bytes) -> int:
    """Return the size of the body compressed as a reverse proxy would (gzip level 6)."""
    return len(gzip.compress(body, compresslevel=6))
