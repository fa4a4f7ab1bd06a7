"""What the benchmarks share: a throw-away database and an app configured for measuring."""

from __future__ import annotations

import os
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

LOCAL_POSTGRES = "postgresql+psycopg://root@127.0.0.1:5432/test"


@contextmanager
def database(default: str = ""):
    """Yield the URL of an empty database and drop it afterwards: a new database next to
    BENCH_DATABASE_URL (or `default`) when that is PostgreSQL, else a temporary SQLite file."""
    base = os.environ.get("BENCH_DATABASE_URL", "") or default
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
    127.0.0.1), no development copies of e-mails on disk."""
    return {
        "PORTAL_ENV": "testing",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
        "DATABASE_URL": url,
        "MAIL_COPY_DIR": None,
        "RATELIMIT_ENABLED": False,
    }


def server_app():
    """The app gunicorn serves in a benchmark: `gunicorn 'bench.support:server_app()'` with
    DATABASE_URL in the environment."""
    from portal import create_app

    return create_app(bench_settings(os.environ["DATABASE_URL"]))
