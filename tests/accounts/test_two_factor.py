"""Two-factor sign-in: TOTP enrolment, the sign-in's code step, recovery codes, and staff and
admin kept on enrolment until they have it (OWASP ASVS 4.0.3 V2.8 one-time verifiers, V2.5
recovery, 2.2.1 anti-automation)."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from sqlalchemy import func, select

from portal.accounts import services, two_factor
from portal.accounts.browser_session import PENDING_KEY, SECOND_FACTOR_KEY
from portal.accounts.models import RecoveryCode, SignInThrottle, TwoFactor
from portal.db import utcnow
from portal.extensions import db
from tests.accounts.helpers import (
    events,
    fresh,
    is_signed_in,
    link_in,
    outbox,
    path_of,
    shows,
    translated,
)
from tests.conftest import shown_plural
from tests.factories import TEST_PASSWORD, UserFactory

SIGN_IN = "/account/sign-in"
CODE_STEP = "/account/sign-in/code"
TWO_FACTOR = "/account/two-factor"
DISABLE = "/account/two-factor/disable"
NEW_CODES = "/account/two-factor/recovery-codes"
RECOVERY_CODE = re.compile(r"\b[a-z]{4}-[a-z]{4}-[a-z]{4}\b")

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def make_user(app, cheap_hashing):
    """Return a function making an account with a known password and these roles."""

    def make(*roles, **fields):
        return UserFactory(
            roles=roles or ("applicant",), password_hash=cheap_hashing(TEST_PASSWORD), **fields
        )

    return make


@pytest.fixture
def user(make_user):
    return make_user(email="amina@example.org")


def enrol(user) -> tuple[pyotp.TOTP, list[str]]:
    """Turn two-factor sign-in on for the user without the pages; return the app and the codes.

    No code is marked used, so the app's current code signs in.
    """
    row = two_factor.begin_enrolment(db.session, user)
    row.confirmed_at = utcnow()
    codes = two_factor._replace_recovery_codes(db.session, user, utcnow())
    db.session.commit()
    return pyotp.TOTP(row.secret), codes


def sign_in(client, user, *, second_factor: bool = False):
    """Open a session for the user without the forms; without the second-factor mark unless
    asked (tests/conftest.py's sign_in, by contrast, stands for a session that passed both)."""
    with client.session_transaction() as stored:
        stored["_user_id"] = user.get_id()
        stored["_fresh"] = True
        stored.pop(SECOND_FACTOR_KEY, None)
        if second_factor:
            stored[SECOND_FACTOR_KEY] = True
    return client


def verified(client, user):
    """Open a session for the user as if both sign-in steps were passed."""
    return sign_in(client, user, second_factor=True)


def enrolment_secret(client) -> str:
    """Read the key the enrolment page shows for typing (groups of 4 joined)."""
    page = client.get(TWO_FACTOR).get_data(as_text=True)
    grouped = re.search(r'class="two-factor-secret"><bdi dir="ltr">([A-Z2-7 ]+)</bdi>', page)
    assert grouped, page
    return grouped.group(1).replace(" ", "")


def submit_password(client, user, next_url=None):
    data = {"email": user.email, "password": TEST_PASSWORD}
    if next_url is not None:
        data["next"] = next_url
    return client.post(SIGN_IN, data=data)


def submit_code(client, code, next_url=None):
    data = {"code": code}
    if next_url is not None:
        data["next"] = next_url
    return client.post(CODE_STEP, data=data)


def session_of(client) -> dict:
    with client.session_transaction() as stored:
        return dict(stored)


def throttle(email: str) -> SignInThrottle | None:
    db.session.expire_all()
    return db.session.scalar(select(SignInThrottle).where(SignInThrottle.email == email))


def other_code(totp: pyotp.TOTP) -> str:
    """Return a 6-digit code that none of the accepted steps gives."""
    accepted = {totp.at(time.time() + 30 * offset) for offset in (-1, 0, 1)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in accepted)


# --- enrolment ------------------------------------------------------------------------------


def test_enrolment_page_shows_a_qr_code_and_the_secret_in_groups_of_four(client, user):
    """ASVS 2.8.1: the app is set up from a QR code of the otpauth address, or the typed key."""
    verified(client, user)

    response = client.get(TWO_FACTOR)

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<svg role="img"' in body
    row = db.session.scalar(select(TwoFactor).where(TwoFactor.user_id == user.id))
    assert row.confirmed_at is None
    assert two_factor.grouped_secret(row.secret) in body
    assert re.search(r">[A-Z2-7]{4}( [A-Z2-7]{4}){7}<", body)
    code_input = re.search(r'<input[^>]*name="code"[^>]*>', body).group(0)
    for attribute in ('inputmode="numeric"', 'autocomplete="one-time-code"', 'dir="ltr"'):
        assert attribute in code_input
    # A reload shows the same key: an app that scanned it still works.
    assert enrolment_secret(client) == row.secret


def test_a_valid_code_turns_it_on_and_shows_ten_recovery_codes_once(client, user):
    """ASVS 2.8.1, 2.5.x: enrolment needs a current code; recovery codes are shown once, kept as
    salted hashes, and the change is audited."""
    verified(client, user)
    totp = pyotp.TOTP(enrolment_secret(client))

    response = client.post(TWO_FACTOR, data={"code": totp.now()})

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    codes = RECOVERY_CODE.findall(body)
    assert len(set(codes)) == two_factor.RECOVERY_CODE_COUNT
    row = fresh(db.session.scalar(select(TwoFactor).where(TwoFactor.user_id == user.id)))
    assert row.confirmed_at is not None and row.last_used_step is not None
    stored = db.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
    assert len(stored) == 10 and len({code.salt for code in stored}) == 10
    assert not {code.code_hash for code in stored} & set(codes)
    [event] = events("account.two_factor_enabled")
    assert event.actor_id == user.id
    # The session goes on, marked as having passed the second factor.
    assert session_of(client).get(SECOND_FACTOR_KEY) is True
    again = client.get(TWO_FACTOR).get_data(as_text=True)
    assert row.secret not in again and two_factor.grouped_secret(row.secret) not in again
    assert not RECOVERY_CODE.search(again)


def test_a_wrong_code_is_refused_with_a_message_and_nothing_is_confirmed(client, user):
    """ASVS 2.8.1: a wrong first code leaves two-factor sign-in off, says why, keeps the key."""
    verified(client, user)
    secret = enrolment_secret(client)

    response = client.post(TWO_FACTOR, data={"code": other_code(pyotp.TOTP(secret))})

    assert response.status_code == 422
    assert shows(response, translated("ar", str(two_factor.WRONG_CODE)))
    row = fresh(db.session.scalar(select(TwoFactor).where(TwoFactor.user_id == user.id)))
    assert row.confirmed_at is None and row.secret == secret
    assert db.session.scalar(select(func.count()).select_from(RecoveryCode)) == 0
    assert events("account.two_factor_enabled") == []


def test_enrolling_ends_the_other_sessions(app, client, user):
    """ASVS 3.3.3 spirit: sessions opened without the second factor end when it is turned on."""
    other = verified(app.test_client(), user)
    verified(client, user)
    totp = pyotp.TOTP(enrolment_secret(client))

    client.post(TWO_FACTOR, data={"code": totp.now()})

    assert is_signed_in(client)
    assert not is_signed_in(other)


def test_two_factor_forms_refuse_a_missing_csrf_token(client, user):
    """ASVS 4.2.2: every two-factor form is CSRF-protected."""
    verified(client, user)
    totp = pyotp.TOTP(enrolment_secret(client))

    for url in (TWO_FACTOR, DISABLE, NEW_CODES):
        assert client.post(url, data={"code": totp.now()}, csrf=False).status_code == 400
    assert db.session.scalar(select(TwoFactor.confirmed_at)) is None


# --- the sign-in's code step ----------------------------------------------------------------


def test_sign_in_asks_for_the_code_before_opening_a_session(client, user):
    """ASVS 2.8: a correct password alone opens no session when two-factor sign-in is on."""
    totp, _codes = enrol(user)

    response = submit_password(client, user)

    assert response.status_code == 303
    assert urlsplit(response.location).path == CODE_STEP
    assert "_user_id" not in session_of(client)
    assert not is_signed_in(client)
    assert events("account.signed_in") == []
    page = client.get(CODE_STEP)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    code_input = re.search(r'<input[^>]*name="code"[^>]*>', page.get_data(as_text=True)).group(0)
    assert 'inputmode="numeric"' in code_input and 'autocomplete="one-time-code"' in code_input

    done = submit_code(client, totp.now())

    assert done.status_code == 303 and done.location == "/account"
    assert is_signed_in(client)
    assert session_of(client).get(SECOND_FACTOR_KEY) is True
    assert PENDING_KEY not in session_of(client)
    [event] = events("account.signed_in")
    assert event.details == {"second_factor": "totp"}


def test_a_wrong_code_is_refused_and_counts_toward_the_lockout(client, user):
    """ASVS 2.2.1, 2.8: wrong codes count like wrong passwords; the lock then refuses even the
    right code, and typing the password again does not reset the count."""
    totp, _codes = enrol(user)
    submit_password(client, user)
    wrong = other_code(totp)

    first = [submit_code(client, wrong).status_code for _ in range(3)]
    submit_password(client, user)  # the correct password again: the count goes on
    second = [submit_code(client, wrong).status_code for _ in range(2)]
    locked = submit_code(client, totp.now())

    assert first + second == [401] * 5
    assert locked.status_code == 429
    assert throttle(user.email).locked_until is not None
    assert not is_signed_in(client)
    assert submit_password(client, user).status_code == 429


def test_a_wrong_code_says_so(client, user):
    """The refusal names the problem, in the visitor's language."""
    totp, _codes = enrol(user)
    submit_password(client, user)

    response = submit_code(client, other_code(totp))

    assert response.status_code == 401
    assert shows(response, translated("ar", str(two_factor.WRONG_CODE)))


def test_a_code_used_once_is_refused_within_its_window(app, client, user):
    """ASVS 2.8.4: a code is accepted once; replayed in the same 30 seconds it is refused."""
    totp, _codes = enrol(user)
    submit_password(client, user)
    code = totp.now()
    assert submit_code(client, code).status_code == 303

    replay = app.test_client()
    submit_password(replay, user)
    response = submit_code(replay, code)

    assert response.status_code == 401
    assert shows(response, translated("ar", str(two_factor.USED_CODE)))
    assert not is_signed_in(replay)
    assert throttle(user.email).failures == 1


def test_a_recovery_code_works_once_and_tells_how_many_are_left(app, client, user):
    """ASVS 2.5.x, 2.6.1: a recovery code signs in once, is burned, and the user is told how
    many remain."""
    _totp, codes = enrol(user)
    submit_password(client, user)

    response = client.post(CODE_STEP, data={"recovery_code": codes[3].upper().replace("-", " ")})

    assert response.status_code == 303
    page = client.get(response.location).get_data(as_text=True)
    assert (
        shown_plural(
            "You signed in with a recovery code, which no longer works: %(num)d code is left.",
            "You signed in with a recovery code, which no longer works: %(num)d codes are left.",
            two_factor.RECOVERY_CODE_COUNT - 1,
        )
        in page
    )
    assert is_signed_in(client)
    used = db.session.scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None))).all()
    assert len(used) == 1
    [event] = events("account.signed_in")
    assert event.details == {"second_factor": "recovery_code"}

    again = app.test_client()
    submit_password(again, user)
    refused = again.post(CODE_STEP, data={"recovery_code": codes[3]})

    assert refused.status_code == 401
    assert not is_signed_in(again)


@pytest.mark.parametrize(("seconds", "signed_in"), [(4 * 60 + 50, True), (5 * 60 + 1, False)])
def test_the_pending_sign_in_expires_after_5_minutes(client, user, seconds, signed_in):
    """ASVS 2.8, 3.3: the password waits 5 minutes for its code; after that, sign in again."""
    totp, _codes = enrol(user)
    submit_password(client, user)
    with client.session_transaction() as stored:
        pending = dict(stored[PENDING_KEY])
        pending["since"] -= seconds
        stored[PENDING_KEY] = pending

    response = submit_code(client, totp.now())

    assert is_signed_in(client) is signed_in
    if not signed_in:
        assert urlsplit(response.location).path == SIGN_IN
        assert PENDING_KEY not in session_of(client)
        follow = client.get(response.location)
        assert shows(
            follow, translated("ar", "The code was not given within 5 minutes. Sign in again.")
        )


def test_the_code_page_without_a_password_sends_to_sign_in(client):
    """The code step cannot be reached without the password step."""
    for response in (client.get(CODE_STEP), submit_code(client, "123456")):
        assert response.status_code == 302
        assert urlsplit(response.location).path == SIGN_IN


@pytest.mark.parametrize(
    ("next_url", "lands_on"),
    [
        ("/staff/calls?page=2", "/staff/calls?page=2"),
        ("https://evil.example/x", "/account"),
        ("//evil.example", "/account"),
    ],
)
def test_next_survives_the_second_step_and_stays_local(client, make_user, next_url, lands_on):
    """ASVS 5.1.5 (S18): `next=` is carried through the code step, and only a local path is
    followed."""
    staff = make_user("staff")
    totp, _codes = enrol(staff)

    first = submit_password(client, staff, next_url=next_url)
    carried = parse_qs(urlsplit(first.location).query)["next"][0]
    done = submit_code(client, totp.now(), next_url=carried)

    assert done.status_code == 303
    assert done.location == lands_on


def test_a_password_reset_still_asks_for_the_code(client, user):
    """ASVS 2.5.x: the reset link proves the inbox, not the second factor."""
    totp, _codes = enrol(user)
    services.request_password_reset(db.session, user.email)
    db.session.commit()
    reset = path_of(link_in(outbox(user.email)[-1]))

    response = client.post(
        reset, data={"password": "a brand new passphrase", "confirm": "a brand new passphrase"}
    )

    assert urlsplit(response.location).path == CODE_STEP
    assert not is_signed_in(client)
    assert submit_code(client, totp.now()).status_code == 303
    assert is_signed_in(client)


def test_the_code_step_is_rate_limited_like_sign_in(app_factory, make_user):
    """ASVS 2.2.1: at most 30 codes a minute from one address, like the password step."""
    limited = app_factory(RATELIMIT_ENABLED=True)
    client = limited.test_client()
    statuses = [client.post(CODE_STEP, data={}).status_code for _ in range(30)]

    assert 429 not in statuses
    assert client.post(CODE_STEP, data={}).status_code == 429


# --- required for staff and admin -----------------------------------------------------------


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_and_admin_without_it_are_confined_to_enrolment(client, make_user, role):
    """ASVS 2.8 (required second factor): after the password, staff and admin reach only the
    enrolment page and sign-out until two-factor sign-in is on."""
    member = make_user(role)

    signed = submit_password(client, member)
    assert signed.status_code == 303
    landing = client.get(signed.location)
    assert urlsplit(landing.location).path == TWO_FACTOR

    for url in ("/staff/calls", "/applications", "/", "/account/password"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert urlsplit(response.location).path == TWO_FACTOR
        assert parse_qs(urlsplit(response.location).query)["next"] == [url]
    posted = client.post("/associations/new", data={})
    assert posted.status_code == 303 and urlsplit(posted.location).path == TWO_FACTOR
    htmx = client.get("/staff/calls", headers={"HX-Request": "true"})
    assert htmx.status_code == 204 and urlsplit(htmx.headers["HX-Redirect"]).path == TWO_FACTOR
    page = client.get(TWO_FACTOR)
    assert page.status_code == 200
    assert shows(
        page,
        translated(
            "ar",
            "Your role requires two-factor sign-in. Set it up now: the other pages of the "
            "portal open once it is on.",
        ),
    )

    totp = pyotp.TOTP(enrolment_secret(client))
    enrolled = client.post(TWO_FACTOR, data={"code": totp.now(), "next": "/staff/calls"})
    assert enrolled.status_code == 200
    assert 'href="/staff/calls"' in enrolled.get_data(as_text=True)
    assert client.get("/staff/calls").status_code == 200
    assert client.get("/applications").status_code == 200


def test_a_confined_session_may_sign_out(client, make_user):
    staff = make_user("staff")
    submit_password(client, staff)

    response = client.post("/account/sign-out")

    assert response.status_code == 303
    assert "_user_id" not in session_of(client)


def test_a_staff_session_without_the_mark_but_with_two_factor_is_asked_for_the_code(
    client, make_user
):
    """A session that never passed the code (opened before the rule) is sent to the code step."""
    staff = make_user("staff")
    totp, _codes = enrol(staff)
    sign_in(client, staff)  # no second-factor mark

    response = client.get("/staff/calls")

    assert urlsplit(response.location).path == CODE_STEP
    assert not is_signed_in(client)
    done = submit_code(client, totp.now(), next_url="/staff/calls")
    assert done.location == "/staff/calls"
    assert client.get("/staff/calls").status_code == 200


def test_applicants_and_evaluators_are_not_required_to_enrol(client, make_user):
    """Two-factor sign-in is offered, not required, outside staff and admin."""
    evaluator = make_user("evaluator", "applicant")

    signed = submit_password(client, evaluator)

    assert client.get(signed.location).status_code == 200
    assert client.get("/applications").status_code == 200


def test_the_required_roles_are_a_setting(app_factory, make_user):
    """TWO_FACTOR_REQUIRED_ROLES chooses who must enrol (staff and admin by default)."""
    relaxed = app_factory(TWO_FACTOR_REQUIRED_ROLES=())
    staff = make_user("staff")
    client = sign_in(relaxed.test_client(), staff)
    assert client.get("/staff/calls").status_code == 200

    strict = app_factory(TWO_FACTOR_REQUIRED_ROLES=("applicant",))
    applicant = make_user("applicant")
    other = sign_in(strict.test_client(), applicant)
    assert urlsplit(other.get("/applications").location).path == TWO_FACTOR


# --- turning it off and new recovery codes --------------------------------------------------


def test_an_applicant_may_turn_it_off_with_password_and_code(client, user):
    """ASVS 2.8, 3.7.1: turning the second factor off needs the password and a current code."""
    totp, _codes = enrol(user)
    verified(client, user)

    wrong_password = client.post(
        DISABLE, data={"current_password": "not the password at all", "code": totp.now()}
    )
    assert wrong_password.status_code == 422
    assert shows(wrong_password, translated("ar", "The current password is not correct."))
    wrong_code = client.post(
        DISABLE, data={"current_password": TEST_PASSWORD, "code": other_code(totp)}
    )
    assert wrong_code.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(TwoFactor)) == 1

    response = client.post(DISABLE, data={"current_password": TEST_PASSWORD, "code": totp.now()})

    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(TwoFactor)) == 0
    assert db.session.scalar(select(func.count()).select_from(RecoveryCode)) == 0
    [event] = events("account.two_factor_disabled")
    assert event.actor_id == user.id
    client.post("/account/sign-out")
    assert submit_password(client, user).location == "/account"


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_and_admin_cannot_turn_it_off(client, make_user, role):
    """Where a role requires it, the second factor cannot be turned off (403)."""
    member = make_user(role)
    totp, _codes = enrol(member)
    verified(client, member)

    response = client.post(DISABLE, data={"current_password": TEST_PASSWORD, "code": totp.now()})

    assert response.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(TwoFactor)) == 1
    assert "two-factor/disable" not in client.get(TWO_FACTOR).get_data(as_text=True)


def test_new_recovery_codes_need_a_current_code_and_replace_the_old_ones(client, user):
    """ASVS 2.5.x: new recovery codes after a current code; the old ones stop working."""
    totp, old_codes = enrol(user)
    verified(client, user)

    refused = client.post(NEW_CODES, data={"code": other_code(totp)})
    assert refused.status_code == 422
    response = client.post(NEW_CODES, data={"code": totp.now()})

    assert response.status_code == 200
    new_codes = RECOVERY_CODE.findall(response.get_data(as_text=True))
    assert len(set(new_codes)) == 10 and not set(new_codes) & set(old_codes)
    assert len(events("account.recovery_codes_replaced")) == 1
    with pytest.raises(two_factor.CodeRefused):
        two_factor._burn_recovery_code(db.session, fresh(user), old_codes[0], utcnow())


def test_the_profile_links_to_two_factor_sign_in(client, user):
    verified(client, user)

    assert f'href="{TWO_FACTOR}"' in client.get("/account").get_data(as_text=True)


def test_recovery_codes_are_random_and_well_formed():
    codes = {two_factor.new_recovery_code() for _ in range(200)}

    assert len(codes) == 200
    assert all(RECOVERY_CODE.fullmatch(code) for code in codes)
    assert not any(set(code) & set("ilo") for code in codes)


def test_a_code_from_the_next_or_previous_step_is_accepted_but_not_further(user):
    """RFC 6238 §5.2: one step of clock difference either side is allowed, no more."""
    enrol(user)
    row = two_factor.two_factor_of(db.session, user)
    totp = pyotp.TOTP(row.secret)
    now = utcnow()

    with pytest.raises(two_factor.CodeRefused):
        two_factor._use_code(db.session, row, totp.at(now - timedelta(seconds=90)), now)
    two_factor._use_code(db.session, row, totp.at(now - timedelta(seconds=30)), now)
    two_factor._use_code(db.session, row, totp.at(now + timedelta(seconds=30)), now)
    with pytest.raises(two_factor.CodeRefused):
        # Older than the last accepted step: refused even though inside the window.
        two_factor._use_code(db.session, row, totp.at(now), now)
