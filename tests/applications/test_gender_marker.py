"""The OECD DAC gender equality marker of an application's links section: proposed by the
association with its justification (required for 1 and 2), saved like the section's other
fields (autosave, field versions), refused with a message when its value is not 0, 1 or 2, and
read by staff and evaluators without being able to change it."""

from __future__ import annotations

import pytest
from flask import url_for
from sqlalchemy import func, select

from portal.applications import services
from portal.applications.models import Application
from portal.audit.models import AuditEvent
from tests import factories
from tests.conftest import shown

HTMX = {"HX-Request": "true"}
BAD_MARKER = "Choose a gender equality marker: 0, 1 or 2."
NO_JUSTIFICATION = "Explain why the project has this gender equality marker."


@pytest.fixture
def draft(session, member, call):
    """(client, user, application): a draft of the signed-in association's owner."""
    client, user, association = member
    application = services.start_application(session, call, association, actor=user)
    session.commit()
    return client, user, application


def saved(session, application_id: int) -> tuple:
    """The marker, its justification, the version and the number of audit events."""
    session.expire_all()
    application = session.get(Application, application_id)
    events = session.scalar(select(func.count()).select_from(AuditEvent))
    return (
        application.gender_marker,
        application.gender_justification,
        application.version,
        events,
    )


def section_url(application) -> str:
    return url_for("applications.section", application_id=application.id, section="links")


def autosave_url(application, name: str) -> str:
    return url_for("applications.autosave", application_id=application.id, name=name)


# --- saving ---------------------------------------------------------------------------------


@pytest.mark.parametrize("marker", ["0", "1", "2"])
def test_the_association_proposes_a_marker_with_its_justification(session, draft, marker):
    client, _user, application = draft

    response = client.post(
        section_url(application),
        data={"gender_marker": marker, "gender_justification": "تمكين النساء من حقوقهن"},
    )

    assert response.status_code == 303
    marker_saved, justification, version, _events = saved(session, application.id)
    assert (marker_saved, justification) == (int(marker), "تمكين النساء من حقوقهن")
    assert version == 2
    assert services.field_version(session.get(Application, application.id), "gender_marker") == 2


def test_marker_zero_needs_no_justification(session, draft):
    client, _user, application = draft

    response = client.post(section_url(application), data={"gender_marker": "0"})

    assert response.status_code == 303
    assert saved(session, application.id)[:2] == (0, "")


def test_the_marker_is_autosaved_alone_and_answers_with_its_new_version(session, draft):
    client, _user, application = draft

    response = client.post(
        autosave_url(application, "gender_marker"),
        data={"gender_marker": "2", "version.gender_marker": "0"},
        headers=HTMX,
    )

    assert response.status_code == 200
    assert saved(session, application.id)[0] == 2
    # Without its justification the application is not complete yet.
    application = services.load_application(session, application.id)
    assert "gender_justification" in {item.field for item in services.missing_items(application)}


def test_a_stale_marker_save_is_a_conflict_and_keeps_the_newer_value(session, draft):
    client, _user, application = draft
    client.post(
        autosave_url(application, "gender_marker"),
        data={"gender_marker": "1", "version.gender_marker": "0"},
        headers=HTMX,
    )
    before = saved(session, application.id)

    response = client.post(
        autosave_url(application, "gender_marker"),
        data={"gender_marker": "2", "version.gender_marker": "0"},
        headers=HTMX,
    )

    assert response.status_code == 409
    assert saved(session, application.id) == before


def test_clearing_the_marker_leaves_it_unset(session, draft):
    client, _user, application = draft
    client.post(section_url(application), data={"gender_marker": "0"})

    response = client.post(
        autosave_url(application, "gender_marker"),
        data={"gender_marker": "", "version.gender_marker": "2"},
        headers=HTMX,
    )

    assert response.status_code == 200
    assert saved(session, application.id)[0] is None


# --- bad inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["3", "-1", "1.5", "x", "٢", "²", "01", "1 ", "None"])
def test_a_marker_other_than_0_1_or_2_is_refused_by_autosave_and_nothing_is_written(
    session, draft, value
):
    client, _user, application = draft
    before = saved(session, application.id)

    response = client.post(
        autosave_url(application, "gender_marker"),
        data={"gender_marker": value, "version.gender_marker": "0"},
        headers=HTMX,
    )

    if value == "1 ":  # surrounding spaces are trimmed, as in every other field
        assert response.status_code == 200
        return
    assert response.status_code == 422
    assert shown(BAD_MARKER) in response.get_data(as_text=True)
    assert saved(session, application.id) == before


def test_a_bad_marker_in_the_section_form_is_refused_beside_the_field(session, draft):
    client, _user, application = draft
    before = saved(session, application.id)

    response = client.post(
        section_url(application),
        data={"gender_marker": "7", "gender_justification": "نص", "un_recommendations": "x"},
    )

    assert response.status_code == 422
    assert shown(BAD_MARKER) in response.get_data(as_text=True)
    assert saved(session, application.id) == before  # all or nothing: nothing else saved
    assert session.get(Application, application.id).un_recommendations == ""


@pytest.mark.parametrize("marker", ["1", "2"])
@pytest.mark.parametrize("justification", ["", "   \n  "])
def test_markers_1_and_2_without_justification_are_refused(session, draft, marker, justification):
    client, _user, application = draft
    before = saved(session, application.id)

    response = client.post(
        section_url(application),
        data={"gender_marker": marker, "gender_justification": justification},
    )

    assert response.status_code == 422
    assert shown(NO_JUSTIFICATION) in response.get_data(as_text=True)
    assert saved(session, application.id) == before


def test_a_justification_longer_than_3000_characters_is_refused(session, draft):
    client, _user, application = draft
    before = saved(session, application.id)

    response = client.post(
        section_url(application),
        data={"gender_marker": "2", "gender_justification": "أ" * 3001},
    )

    assert response.status_code == 422
    assert shown("Use at most %(n)d characters.", n=3000) in response.get_data(as_text=True)
    assert saved(session, application.id) == before


def test_a_marker_cannot_change_after_submission(session, complete_application):
    client, _user, application = complete_application
    client.post(url_for("applications.submit", application_id=application.id))
    before = saved(session, application.id)

    response = client.post(
        autosave_url(application, "gender_marker"),
        data={"gender_marker": "2", "version.gender_marker": "0"},
        headers=HTMX,
    )

    assert response.status_code == 422
    assert saved(session, application.id) == before


def test_the_submitted_content_keeps_the_marker(session, complete_application):
    client, _user, application = complete_application
    client.post(
        section_url(application),
        data={
            "axes": ["axis-1"],
            "gender_marker": "1",
            "gender_justification": "نصف المستفيدين نساء",
        },
    )

    client.post(url_for("applications.submit", application_id=application.id))

    session.expire_all()
    submission = session.get(Application, application.id).submissions[-1]
    assert submission.content["gender_marker"] == 1
    assert submission.content["gender_justification"] == "نصف المستفيدين نساء"


# --- reading --------------------------------------------------------------------------------


def test_staff_read_the_marker_without_a_way_to_change_it(session, login_as, call):
    application = factories.submitted_application(
        call, gender_marker=2, gender_justification="مشروع للمساواة"
    )
    client, _staff = login_as("staff")

    page = client.get(section_url(application)).get_data(as_text=True)

    assert "مشروع للمساواة" in page
    assert 'name="gender_marker" disabled' in page
    assert 'value="2" selected' in page


def test_an_evaluator_reads_the_marker_and_its_justification(session, login_as):
    call = factories.closed_call()
    application = factories.submitted_application(
        call, gender_marker=1, gender_justification="ورشات للنساء القرويات"
    )
    evaluator = factories.evaluator(call)
    review = factories.assign(application, evaluator)
    client, _user = login_as(user=evaluator)

    response = client.get(url_for("review.score_page", review_id=review.id))

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "ورشات للنساء القرويات" in page
    assert shown("1 – Significant objective") in page
    assert 'name="gender_marker"' not in page
