"""An administrator resets the two-factor sign-in of someone who lost both their phone and their
recovery codes (OWASP ASVS 4.0.3 2.5.6 secure recovery, 2.8 lost authenticators): another
administrator, a reason kept in the audit trail, the person's sessions ended and an e-mail to
them; staff then set up a new authenticator at their next sign-in."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from portal.accounts.models import RecoveryCode, TwoFactor
from portal.extensions import db
from tests.accounts.helpers import events, fresh, is_signed_in, outbox, shows, translated
from tests.accounts.test_two_factor import TWO_FACTOR, enrol, submit_password, verified
from tests.factories import TEST_PASSWORD, UserFactory

REASON = "ضاع الهاتف ورموز الاسترداد؛ تم التحقق من الهوية بالهاتف"

pytestmark = pytest.mark.usefixtures("cheap_hashing")


@pytest.fixture
def people(app, cheap_hashing):
    """An administrator (reading Arabic) and a staff member (French) with two-factor sign-in on,
    each with a session."""

    def person(role: str, email: str, locale: str):
        user = UserFactory(
            roles=(role,), email=email, password_hash=cheap_hashing(TEST_PASSWORD), locale=locale
        )
        enrol(user)
        return user, verified(app.test_client(), user)

    admin, admin_client = person("admin", "admin@example.org", "ar")
    staff, staff_client = person("staff", "nadia@example.org", "fr")
    return admin, admin_client, staff, staff_client


def reset_url(user) -> str:
    return f"/admin/users/{user.id}/two-factor/reset"


def still_enrolled(user) -> bool:
    db.session.expire_all()
    return db.session.scalar(select(TwoFactor).where(TwoFactor.user_id == user.id)) is not None


def test_admin_resets_the_two_factor_of_someone_who_lost_it(app, people):
    admin, admin_client, staff, staff_client = people
    version = staff.session_version
    page = admin_client.get(f"/admin/users/{staff.id}/roles")
    assert shows(page, translated("ar", "On, with %(count)d recovery codes left.", count=10))

    response = admin_client.post(reset_url(staff), data={"reason": REASON, "confirm": "y"})

    assert response.status_code == 303
    assert urlsplit(response.location).path == f"/admin/users/{staff.id}/roles"
    assert not still_enrolled(staff)
    assert (
        db.session.scalar(
            select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == staff.id)
        )
        == 0
    )
    assert fresh(staff).session_version == version + 1
    [event] = events("account.two_factor_reset")
    assert (event.actor_id, event.details["reason"]) == (admin.id, REASON)
    [mail] = outbox(staff.email)
    assert mail.template == "two_factor_reset" and mail.locale == "fr"
    assert not is_signed_in(staff_client)
    assert is_signed_in(admin_client)


def test_after_a_reset_staff_set_up_a_new_authenticator_at_sign_in(app, people):
    _admin, admin_client, staff, _staff_client = people
    admin_client.post(reset_url(staff), data={"reason": REASON, "confirm": "y"})

    again = app.test_client()
    signed = submit_password(again, staff)
    landing = again.get(signed.location)

    assert urlsplit(landing.location).path == TWO_FACTOR
    assert again.get("/staff/calls").status_code == 302


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"confirm": "y"}, "Give the reason: it is kept in the audit trail."),
        ({"reason": REASON}, "Tick the box to confirm the reset."),
        ({"reason": "x" * 501, "confirm": "y"}, None),
    ],
    ids=["no-reason", "not-confirmed", "reason-too-long"],
)
def test_reset_without_reason_or_confirmation_is_refused_and_changes_nothing(people, data, message):
    _admin, admin_client, staff, staff_client = people

    response = admin_client.post(reset_url(staff), data=data)

    assert response.status_code == 422
    if message:
        assert shows(response, translated("ar", message))
    assert still_enrolled(staff) and is_signed_in(staff_client)
    assert events("account.two_factor_reset") == [] and outbox(staff.email) == []


def test_an_admin_cannot_reset_their_own_two_factor(people):
    admin, admin_client, _staff, _staff_client = people

    response = admin_client.post(reset_url(admin), data={"reason": REASON, "confirm": "y"})

    assert response.status_code == 422
    assert shows(
        response, translated("ar", "Another administrator must reset your own two-factor sign-in.")
    )
    assert still_enrolled(admin) and is_signed_in(admin_client)


def test_an_account_without_two_factor_has_nothing_to_reset(app, people, cheap_hashing):
    _admin, admin_client, _staff, _staff_client = people
    applicant = UserFactory(roles=("applicant",), password_hash=cheap_hashing(TEST_PASSWORD))

    response = admin_client.post(reset_url(applicant), data={"reason": REASON, "confirm": "y"})

    assert response.status_code == 422
    assert shows(
        response, translated("ar", "Two-factor sign-in is not turned on for this account.")
    )
    assert events("account.two_factor_reset") == []


def test_staff_cannot_reset_anyone(app, people, cheap_hashing):
    admin, _admin_client, staff, staff_client = people

    response = staff_client.post(reset_url(admin), data={"reason": REASON, "confirm": "y"})

    assert response.status_code == 403
    assert still_enrolled(admin)
