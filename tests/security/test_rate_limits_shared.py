"""Rate limits: counted in Redis, so every worker and app server shares one count, and a limit
on every route that sends e-mail, takes a seat or checks a secret (OWASP ASVS 4.0.3 2.2.1:
anti-automation against credential stuffing, brute force and mail flooding; 11.1.4).

The tests against Redis need a server: `TEST_REDIS_URL` (default redis://127.0.0.1:6379/15).
When it cannot be reached they are skipped, or fail when REQUIRE_REDIS=1 or CI=true.
Each test counts under its own RATELIMIT_KEY_PREFIX, whose keys are deleted afterwards, so
parallel test workers never share a count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass

import pytest
from flask import url_for
from flask_babel import force_locale
from markupsafe import escape
from sqlalchemy import func, select

from portal.extensions import db, limiter
from portal.organisations.models import Invitation
from portal.review.models import PoolMember
from portal.training.models import Enrolment
from portal.web.errors import error_text, error_title
from tests import factories
from tests.conftest import ROOT, _flag, sign_in
from tests.training.conftest import participant

SIGN_IN_LIMIT = 30  # @limiter.limit("30 per minute", methods=["POST"]) on accounts.sign_in


@pytest.fixture(autouse=True)
def _limiter_restored():
    """Give the process's Flask-Limiter back as it was.

    The limiter is one object per process: each app built re-initialises it (enabled or not,
    storage, key prefix), and a test that enables limits would otherwise leave them on, with
    its Redis storage, for the tests that run after it in the same worker.
    """
    saved = dict(vars(limiter))
    options = dict(limiter._storage_options)
    yield
    vars(limiter).clear()
    vars(limiter).update(saved)
    limiter._storage_options.clear()
    limiter._storage_options.update(options)


@dataclass
class SharedStore:
    url: str
    prefix: str
    client: object

    def settings(self) -> dict:
        return {
            "RATELIMIT_ENABLED": True,
            "REDIS_URL": self.url,
            "RATELIMIT_KEY_PREFIX": self.prefix,
        }

    def counters(self) -> dict[str, int]:
        """Every counter kept under this test's prefix, by key."""
        return {
            key.decode(): int(self.client.get(key))
            for key in self.client.scan_iter(match=f"*{self.prefix}*")
        }


@pytest.fixture
def redis_store():
    """The Redis server the limits are counted in, with a key prefix of this test's own."""
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    try:
        client.ping()
    except redis.exceptions.RedisError as error:
        client.close()
        if _flag("REQUIRE_REDIS") or _flag("CI"):
            pytest.fail(f"Redis is required (REQUIRE_REDIS=1 or CI=true) but {url}: {error}")
        pytest.skip(f"Redis at {url} is unreachable ({error}); REQUIRE_REDIS=1 makes this fail")
    store = SharedStore(url, f"shiraka-test-{uuid.uuid4().hex}", client)
    yield store
    keys = list(client.scan_iter(match=f"*{store.prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def arabic_too_many_attempts(app, response) -> None:
    """Assert the answer is the 429 page, readable in Arabic, right to left."""
    assert response.status_code == 429
    body = response.get_data(as_text=True)
    with app.test_request_context(), force_locale("ar"):
        title, text = str(escape(error_title(429))), str(escape(error_text(429)))
    assert '<html lang="ar" dir="rtl">' in body
    assert f"<h1>{title}</h1>" in body
    assert text in body
    assert title != "Too many attempts", "the Arabic catalogue has no translation"


# --- one count across workers ---------------------------------------------------------------


def test_two_app_instances_share_one_count_in_redis(app_factory, redis_store):
    """Sign-in attempts alternating between two instances reach the limit at the shared count,
    and the count is Redis's, not the process's memory."""
    first = app_factory(**redis_store.settings())
    second = app_factory(**redis_store.settings())
    clients = [first.test_client(), second.test_client()]

    statuses = [
        clients[n % 2].post("/account/sign-in", data={}).status_code for n in range(SIGN_IN_LIMIT)
    ]
    over = clients[SIGN_IN_LIMIT % 2].post("/account/sign-in", data={})

    assert 429 not in statuses
    arabic_too_many_attempts(first, over)
    counters = redis_store.counters()
    assert len(counters) == 1, counters
    ((key, count),) = counters.items()
    assert "sign_in" in key
    assert count >= SIGN_IN_LIMIT


WORKER = """
import json, sys
from portal import create_app

client = create_app(json.loads(sys.argv[1])).test_client()
print(json.dumps([client.post("/account/sign-in", data={}).status_code
                  for _ in range(int(sys.argv[2]))]))
"""


def test_a_separate_worker_process_shares_the_count(app_factory, redis_store, tmp_path):
    """A second process (its own limiter, as a gunicorn worker has) spends half the budget: this
    process reaches the limit after the other half."""
    app = app_factory(**redis_store.settings())
    worker_settings = {
        **redis_store.settings(),
        "TESTING": True,
        "PORTAL_ENV": "testing",
        "SECRET_KEY": app.config["SECRET_KEY"],
        "DATABASE_URL": app.config["DATABASE_URL"],
        "UPLOAD_DIR": app.config["UPLOAD_DIR"],
        "MAIL_COPY_DIR": None,
        "WTF_CSRF_ENABLED": False,
    }
    half = SIGN_IN_LIMIT // 2
    worker = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps(worker_settings), str(half)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "INSTANCE_PATH": str(tmp_path / "worker-instance")},
        check=False,
    )
    assert worker.returncode == 0, worker.stderr
    assert 429 not in json.loads(worker.stdout.strip().splitlines()[-1])

    client = app.test_client()
    statuses = [client.post("/account/sign-in", data={}).status_code for _ in range(half)]
    over = client.post("/account/sign-in", data={})

    assert 429 not in statuses
    arabic_too_many_attempts(app, over)


def test_when_redis_stops_answering_limits_are_counted_in_memory(app_factory):
    """A Redis that is down neither breaks sign-in nor lifts the limit: each process counts
    alone until Redis is back."""
    nothing_listens = "redis://127.0.0.1:9/0"
    limited = app_factory(RATELIMIT_ENABLED=True, REDIS_URL=nothing_listens)
    client = limited.test_client()

    statuses = [client.post("/account/sign-in", data={}).status_code for _ in range(SIGN_IN_LIMIT)]

    assert set(statuses) == {422}
    arabic_too_many_attempts(limited, client.post("/account/sign-in", data={}))


# --- every limited route: the attempt after the limit gets 429, in Arabic -------------------


def post_n(client, url: str, forms) -> list[int]:
    return [client.post(url, data=form).status_code for form in forms]


@pytest.mark.parametrize(
    ("url", "limit"),
    [
        ("/account/sign-in", 30),  # 30 per minute
        ("/account/sign-up", 20),  # 20 per hour
        ("/account/forgot-password", 10),  # 10 per hour
    ],
)
def test_a_visitor_is_refused_after_the_limit_of_account_forms(app_factory, url, limit):
    limited = app_factory(RATELIMIT_ENABLED=True)
    client = limited.test_client()

    statuses = post_n(client, url, [{}] * limit)

    assert 429 not in statuses
    arabic_too_many_attempts(limited, client.post(url, data={}))


def test_resending_the_verification_link_is_limited_to_5_an_hour(app, app_factory):
    limited = app_factory(RATELIMIT_ENABLED=True)
    user = factories.UserFactory(email_verified_at=None)
    client = sign_in(limited.test_client(), user)

    statuses = post_n(client, "/account/verify/resend", [{}] * 5)

    assert statuses == [303] * 5
    arabic_too_many_attempts(limited, client.post("/account/verify/resend"))


@pytest.mark.parametrize(
    ("url", "limit"),
    [("/receipts/check", 30), ("/certificates/verify", 30), ("/certificates/SHK-AAAA-BBBB", 30)],
)
def test_public_checks_are_limited_to_30_a_minute(app, app_factory, url, limit):
    limited = app_factory(RATELIMIT_ENABLED=True)
    client = limited.test_client()

    statuses = [client.get(url).status_code for _ in range(limit)]

    assert 429 not in statuses
    arabic_too_many_attempts(limited, client.get(url))


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def test_member_invitations_stop_at_the_configured_limit(app, app_factory):
    """RATELIMIT_MEMBER_INVITATION (20 per hour by default): each invitation sends an e-mail."""
    limited = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_MEMBER_INVITATION="3 per hour")
    owner = factories.UserFactory()
    association = factories.AssociationFactory(owner=owner)
    client = sign_in(limited.test_client(), owner)
    url = f"/associations/{association.id}/members/invite"
    forms = [{"email": f"invitee{n}@example.org", "role": "editor"} for n in range(4)]

    statuses = post_n(client, url, forms[:3])

    assert statuses == [303] * 3
    arabic_too_many_attempts(limited, client.post(url, data=forms[3]))
    assert count(Invitation) == 3


def test_evaluator_invitations_stop_at_the_configured_limit(app, app_factory):
    """RATELIMIT_EVALUATOR_INVITATION (100 per hour by default)."""
    limited = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_EVALUATOR_INVITATION="3 per hour")
    call = factories.closed_call()
    client = sign_in(limited.test_client(), factories.UserFactory(roles=("staff",)))
    with limited.test_request_context():
        url = url_for("review.invite_evaluator", call_id=call.id)
    forms = [{"email": f"expert{n}@example.org", "languages": ["ar"]} for n in range(4)]

    statuses = post_n(client, url, forms[:3])

    assert statuses == [303] * 3
    arabic_too_many_attempts(limited, client.post(url, data=forms[3]))
    assert count(PoolMember) == 3


def test_enrolments_stop_at_the_configured_limit(app, app_factory):
    """RATELIMIT_ENROLMENT (60 per hour by default): each enrolment takes a seat and mails."""
    limited = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_ENROLMENT="2 per hour")
    training = factories.training_session()
    owner = factories.UserFactory()
    association = factories.AssociationFactory(owner=owner)
    client = sign_in(limited.test_client(), owner)
    url = f"/training/sessions/{training.id}/enrol"
    forms = [{"association_id": str(association.id), **participant()} for _ in range(3)]

    assert client.get(url).status_code == 200, "only sending the form is counted"
    statuses = post_n(client, url, forms[:2])

    assert statuses == [303] * 2
    arabic_too_many_attempts(limited, client.post(url, data=forms[2]))
    assert count(Enrolment) == 2


def test_invitation_limits_are_counted_per_account_not_per_address(app, app_factory):
    """Two owners behind one office address each have their own budget."""
    limited = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_MEMBER_INVITATION="1 per hour")
    owners = [factories.UserFactory() for _ in range(2)]
    associations = [factories.AssociationFactory(owner=owner) for owner in owners]
    clients = [sign_in(limited.test_client(), owner) for owner in owners]

    def invite(n: int, email: str) -> int:
        url = f"/associations/{associations[n].id}/members/invite"
        return clients[n].post(url, data={"email": email, "role": "viewer"}).status_code

    assert invite(0, "a@example.org") == 303
    assert invite(0, "b@example.org") == 429
    assert invite(1, "c@example.org") == 303


def test_the_limits_on_invitations_and_enrolment_are_settings_with_documented_defaults(app):
    assert app.config["RATELIMIT_MEMBER_INVITATION"] == "20 per hour"
    assert app.config["RATELIMIT_EVALUATOR_INVITATION"] == "100 per hour"
    assert app.config["RATELIMIT_ENROLMENT"] == "60 per hour"


# --- the client's address behind a reverse proxy --------------------------------------------


def forgot(client, address: str) -> int:
    headers = {"X-Forwarded-For": address}
    return client.post("/account/forgot-password", data={}, headers=headers).status_code


def test_behind_a_trusted_proxy_each_client_address_has_its_own_budget(app_factory):
    limited = app_factory(RATELIMIT_ENABLED=True, TRUSTED_PROXIES=1)
    client = limited.test_client()

    statuses = [forgot(client, "198.51.100.7") for _ in range(10)]

    assert 429 not in statuses
    assert forgot(client, "198.51.100.7") == 429
    assert forgot(client, "203.0.113.9") != 429


def test_without_a_trusted_proxy_a_forged_forwarded_address_changes_nothing(app_factory):
    limited = app_factory(RATELIMIT_ENABLED=True, TRUSTED_PROXIES=0)
    client = limited.test_client()

    statuses = [forgot(client, f"198.51.100.{n}") for n in range(10)]

    assert 429 not in statuses
    assert forgot(client, "203.0.113.9") == 429
