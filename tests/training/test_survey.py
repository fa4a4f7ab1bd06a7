"""The satisfaction survey: who is sent it and when (Morocco's calendar), once; the public form
behind a signed link (one answer per participant, bad ratings refused, forged links not found);
the results for staff and the programme-wide means on the statistics page."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import url_for
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from portal.accounts import tokens
from portal.audit.models import AuditEvent
from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.timeutil import to_local
from portal.training import survey
from portal.training.models import SessionStatus, SurveyResponse
from portal.training.programme import TrainingError
from tests import factories
from tests.conftest import shown
from tests.training.conftest import verified_association

LAST_DAY = date(2030, 10, 15)  # Morocco is on UTC+1 then (no Ramadan)
# 00:30 on 16 October in Casablanca: the first moment the session ended "a day ago".
NEXT_LOCAL_DAY = datetime(2030, 10, 15, 23, 30, tzinfo=UTC)
GOOD = {"content": "5", "trainers": "4", "organisation": "3", "usefulness": "5", "comment": ""}


def ended_session(last_day: date = LAST_DAY, **values):
    return factories.training_session(
        starts_on=last_day - timedelta(days=1), ends_on=last_day, **values
    )


def participant(training, status: str = "confirmed", attended: bool | None = True, **values):
    """Enrol someone; mark them present (True), absent (False) or not at all (None) on day 1."""
    association, owner = verified_association()
    enrolment = factories.training_enrolment(
        training, association, status, created_by_id=owner.id, **values
    )
    if attended is not None:
        factories.training_attendance(enrolment, training.starts_on, present=attended)
    return enrolment


def send(now: datetime = NEXT_LOCAL_DAY) -> int:
    queued = survey.send_survey_invitations(db.session, now)
    db.session.commit()
    return queued


def surveys_queued() -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.template == "training_survey")
            .order_by(OutboxMessage.id)
        )
    )


def responses() -> int:
    return db.session.scalar(select(func.count()).select_from(SurveyResponse))


@pytest.fixture
def invited(app):
    """A participant who attended a session that ended, sent the survey: (enrolment, token)."""
    training = ended_session()
    enrolment = participant(training)
    send()
    return enrolment, survey.survey_token(enrolment)


# --- sending --------------------------------------------------------------------------------


def test_a_participant_who_attended_is_sent_the_survey_once_the_day_after_the_last_day(app):
    enrolment = participant(ended_session())

    first = send()
    second = send(NEXT_LOCAL_DAY + timedelta(days=3))

    assert (first, second) == (1, 0)
    (message,) = surveys_queued()
    assert message.recipient == enrolment.email
    # The signed token carries its time of signing: read the mailed one back.
    token = re.search(r"https://shiraka\.test/training/survey/([\w.\-]+)", message.body_text)
    assert survey.enrolment_for_token(db.session, token.group(1)).id == enrolment.id
    db.session.refresh(enrolment)
    assert enrolment.survey_sent_at == NEXT_LOCAL_DAY
    sent = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "training.survey_sent")
    ).all()
    assert [event.object_id for event in sent] == [enrolment.id]


def test_no_survey_on_the_last_day_itself_on_moroccos_clock(app):
    participant(ended_session())
    # 23:30 in Casablanca on the last day, though already the next day in some zones.
    late_on_the_last_day = datetime(2030, 10, 15, 22, 30, tzinfo=UTC)

    assert send(late_on_the_last_day) == 0
    assert surveys_queued() == []


def test_the_survey_is_sent_up_to_30_days_after_the_last_day_and_not_later(app):
    today = LAST_DAY + timedelta(days=1)  # in Casablanca, at NEXT_LOCAL_DAY
    participant(ended_session(today - timedelta(days=30)))
    too_old = participant(ended_session(today - timedelta(days=31)))

    assert send() == 1
    db.session.refresh(too_old)
    assert too_old.survey_sent_at is None


@pytest.mark.parametrize(
    ("status", "attended"),
    [("confirmed", None), ("confirmed", False), ("waitlisted", None), ("cancelled", True)],
    ids=["attendance-not-marked", "absent", "waitlisted", "cancelled"],
)
def test_no_survey_for_someone_who_did_not_attend_as_a_participant(app, status, attended):
    participant(ended_session(), status, attended)

    assert send() == 0


def test_no_survey_for_a_session_that_is_not_published(app):
    participant(ended_session(status=SessionStatus.CANCELLED))
    participant(ended_session(status=SessionStatus.DRAFT))

    assert send() == 0


def test_the_survey_email_is_in_the_participants_language(app):
    training = ended_session()
    participant(training, locale="fr")

    send()

    (message,) = surveys_queued()
    with force_locale("fr"):
        subject = gettext(
            "How was the training session? %(module)s", module=training.module.title_fr
        )
    assert message.locale == "fr"
    assert message.subject == subject


def test_the_send_reminders_command_sends_the_surveys_due_today(app):
    yesterday = to_local(utcnow()).date() - timedelta(days=1)
    enrolment = participant(ended_session(yesterday))

    result = app.test_cli_runner().invoke(args=["send-reminders"])

    assert result.exit_code == 0, result.output
    assert "reminders queued: 1" in result.output
    assert [message.recipient for message in surveys_queued()] == [enrolment.email]


# --- answering ------------------------------------------------------------------------------


def test_the_link_opens_the_form_without_signing_in(client, invited):
    enrolment, token = invited

    response = client.get(url_for("training.survey", token=token))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert shown("Satisfaction survey") in page
    assert enrolment.session.module.title_ar in page
    assert page.count('type="radio"') == 20
    assert shown("1 – Very poor") in page and shown("5 – Very good") in page
    assert enrolment.full_name not in page and enrolment.email not in page


def test_an_answer_is_recorded_then_the_link_thanks_instead_of_asking_again(client, invited):
    enrolment, token = invited
    url = url_for("training.survey", token=token)

    response = client.post(url, data={**GOOD, "comment": "  دورة مفيدة جدا  "})

    assert response.status_code == 303 and response.headers["Location"].endswith(url)
    stored = db.session.scalar(select(SurveyResponse))
    assert stored.enrolment_id == enrolment.id
    assert (stored.content, stored.trainers, stored.organisation, stored.usefulness) == (5, 4, 3, 5)
    assert stored.comment == "دورة مفيدة جدا"
    answered = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "training.survey_answered")
    ).all()
    assert len(answered) == 1
    page = client.get(url).get_data(as_text=True)
    assert shown("Thank you: your answers are recorded.") in page
    assert shown("You have already answered this survey: thank you.") in page
    assert 'type="radio"' not in page


def test_a_second_answer_is_refused_and_the_first_kept(client, invited):
    _enrolment, token = invited
    url = url_for("training.survey", token=token)
    client.post(url, data=GOOD)

    response = client.post(url, data={**GOOD, "content": "1", "comment": "changed my mind"})

    assert response.status_code == 409
    assert shown("You have already answered this survey: thank you.") in response.get_data(
        as_text=True
    )
    stored = db.session.scalar(select(SurveyResponse))
    db.session.refresh(stored)
    assert (responses(), stored.content, stored.comment) == (1, 5, "")


def test_a_second_answer_racing_the_first_is_refused_by_the_unique_guard(invited, monkeypatch):
    enrolment, _token = invited
    survey.record_survey_response(db.session, enrolment, GOOD)
    db.session.commit()
    # The parallel request checked before the first one was committed: it saw no response.
    monkeypatch.setattr(survey, "response_of", lambda session, enrolment: None)

    with pytest.raises(survey.SurveyAlreadyAnswered):
        survey.record_survey_response(db.session, enrolment, {**GOOD, "content": "1"})
    db.session.rollback()

    assert responses() == 1
    assert db.session.scalar(select(SurveyResponse.content)) == 5


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"content": None}, "content", "Choose a rating from 1 to 5."),
        ({"trainers": "6"}, "trainers", "Choose a rating from 1 to 5."),
        ({"organisation": "0"}, "organisation", "Choose a rating from 1 to 5."),
        ({"usefulness": "-1"}, "usefulness", "Choose a rating from 1 to 5."),
        ({"content": "4.5"}, "content", "Choose a rating from 1 to 5."),
        ({"trainers": "five"}, "trainers", "Choose a rating from 1 to 5."),
    ],
    ids=["missing", "six", "zero", "negative", "decimal", "word"],
)
def test_a_missing_or_out_of_range_rating_is_refused_beside_its_question(
    client, invited, changes, field, message
):
    _enrolment, token = invited
    data = {key: value for key, value in {**GOOD, **changes}.items() if value is not None}

    response = client.post(url_for("training.survey", token=token), data=data)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<p class="error" id="{field}-error">{shown(message)}</p>' in page
    assert responses() == 0


def test_a_comment_over_2000_characters_is_refused(client, invited):
    _enrolment, token = invited

    response = client.post(
        url_for("training.survey", token=token), data={**GOOD, "comment": "ا" * 2001}
    )

    assert response.status_code == 422
    assert shown("At most %(n)d characters.", n=2000) in response.get_data(as_text=True)
    assert responses() == 0


def test_a_comment_of_exactly_2000_characters_is_kept(client, invited):
    _enrolment, token = invited

    response = client.post(
        url_for("training.survey", token=token), data={**GOOD, "comment": "ا" * 2000}
    )

    assert response.status_code == 303
    assert len(db.session.scalar(select(SurveyResponse.comment))) == 2000


def test_control_characters_in_the_comment_are_refused(client, invited):
    _enrolment, token = invited

    response = client.post(
        url_for("training.survey", token=token), data={**GOOD, "comment": "bien\x00"}
    )

    assert response.status_code == 422
    assert shown("Control characters are not allowed.") in response.get_data(as_text=True)
    assert responses() == 0


def test_the_service_refuses_bad_ratings_too(invited):
    enrolment, _token = invited

    for bad in (6, 0, True, None, "3 stars"):
        with pytest.raises(TrainingError) as refused:
            survey.record_survey_response(db.session, enrolment, {**GOOD, "usefulness": bad})
        assert refused.value.field == "usefulness"
    assert responses() == 0


@pytest.mark.parametrize("question", ["content", "trainers", "organisation", "usefulness"])
def test_the_database_refuses_a_rating_out_of_range(invited, question):
    enrolment, _token = invited
    values = {"content": 3, "trainers": 3, "organisation": 3, "usefulness": 3, question: 6}

    with pytest.raises(sa.exc.IntegrityError):
        db.session.add(SurveyResponse(enrolment_id=enrolment.id, **values))
        db.session.flush()
    db.session.rollback()


def test_the_answer_needs_the_csrf_token(client, invited):
    _enrolment, token = invited

    response = client.post(url_for("training.survey", token=token), data=GOOD, csrf=False)

    assert response.status_code == 400
    assert responses() == 0


def _forged_tokens(enrolment, token) -> dict[str, str]:
    never_sent = participant(ended_session(LAST_DAY + timedelta(days=1)))
    return {
        "altered": token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        "garbage": "not-a-token",
        "other-purpose": tokens.make_token("verify-email", enrolment.id),
        "unknown-enrolment": tokens.make_token(survey.PURPOSE, 999999),
        "never-sent": survey.survey_token(never_sent),
    }


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_forged_or_unknown_link_is_not_found(client, invited, method):
    enrolment, token = invited

    for name, forged in _forged_tokens(enrolment, token).items():
        response = client.open(url_for("training.survey", token=forged), method=method, data=GOOD)
        assert response.status_code == 404, name
    assert responses() == 0


def test_an_expired_link_says_so_and_records_nothing(client, invited, monkeypatch):
    _enrolment, token = invited
    monkeypatch.setattr(survey, "LINK_MAX_AGE", -1)

    response = client.post(url_for("training.survey", token=token), data=GOOD)

    assert response.status_code == 410
    assert shown("This survey link has expired: the survey is closed.") in response.get_data(
        as_text=True
    )
    assert responses() == 0


# --- results for staff ----------------------------------------------------------------------


def _answered(training, ratings: tuple[int, int, int, int], comment: str = ""):
    enrolment = participant(training)
    enrolment.survey_sent_at = utcnow()
    db.session.commit()
    answers = dict(zip(("content", "trainers", "organisation", "usefulness"), ratings, strict=True))
    survey.record_survey_response(db.session, enrolment, {**answers, "comment": comment})
    db.session.commit()
    return enrolment


def test_staff_see_the_response_rate_the_means_and_the_comments_without_names(login_as):
    training = ended_session()
    first = _answered(training, (5, 4, 3, 2), "<script>alert(1)</script> مفيدة")
    _answered(training, (4, 4, 2, 1))
    silent = participant(training)
    silent.survey_sent_at = utcnow()
    db.session.commit()
    client, _user = login_as("staff")

    response = client.get(url_for("training.survey_results", session_id=training.id))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert (
        shown(
            "%(responses)s responses from %(invited)s participants who received the survey "
            "(%(rate)s).",
            responses=2,
            invited=3,
            rate="67%",
        )
        in page
    )
    assert '<svg class="chart-bars" role="img"' in page
    assert '<bdi dir="ltr">4.5</bdi>' in page and '<bdi dir="ltr">1.5</bdi>' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; مفيدة" in page
    assert "<script>alert" not in page
    assert first.full_name not in page and first.email not in page


def test_a_session_without_answers_says_so(login_as, training):
    client, _user = login_as("staff")

    page = client.get(url_for("training.survey_results", session_id=training.id)).get_data(
        as_text=True
    )

    assert shown("No answer yet.") in page
    assert shown("No comment yet.") in page


@pytest.mark.parametrize("roles", [("applicant",), ("evaluator",)])
def test_only_staff_see_the_survey_results(login_as, training, roles):
    client, _user = login_as(*roles)

    response = client.get(url_for("training.survey_results", session_id=training.id))

    assert response.status_code == 403


def test_the_results_of_an_unknown_session_are_not_found(login_as):
    client, _user = login_as("staff")

    assert client.get(url_for("training.survey_results", session_id=999999)).status_code == 404


def test_the_results_page_runs_the_same_queries_for_few_and_many_answers(login_as, count_queries):
    training = ended_session()
    client, _user = login_as("staff")
    url = url_for("training.survey_results", session_id=training.id)
    _answered(training, (5, 5, 5, 5), "bien")

    def queries() -> int:
        client.get(url)
        with count_queries() as counter:
            assert client.get(url).status_code == 200
        return counter.count

    with_one = queries()
    for number in range(12):
        _answered(training, (1 + number % 5, 3, 4, 2), f"commentaire {number}")
    with_many = queries()

    assert with_one == with_many, (with_one, with_many)
    assert with_many <= 10, with_many


def test_the_statistics_page_shows_the_means_of_the_filtered_sessions(login_as):
    in_2030 = ended_session()
    in_2031 = ended_session(date(2031, 5, 20))
    _answered(in_2030, (4, 4, 4, 4))
    _answered(in_2031, (2, 2, 2, 2))
    client, _user = login_as("staff")

    everything = client.get(url_for("training.statistics")).get_data(as_text=True)
    only_2030 = client.get(url_for("training.statistics", year="2030")).get_data(as_text=True)

    assert 'id="chart-survey"' in everything
    assert '<bdi dir="ltr">3.0</bdi>' in everything
    assert '<bdi dir="ltr">4.0</bdi>' in only_2030 and '<bdi dir="ltr">3.0</bdi>' not in only_2030
    assert url_for("training.survey_results", session_id=in_2030.id) in only_2030


# --- demo -----------------------------------------------------------------------------------


def test_seed_demo_answers_the_survey_of_the_past_session_once(app):
    from portal.training.demo_survey import ANSWERS

    runner = app.test_cli_runner()

    first = runner.invoke(args=["seed-demo"])
    second = runner.invoke(args=["seed-demo"])
    reminders = runner.invoke(args=["send-reminders"])

    assert (first.exit_code, second.exit_code, reminders.exit_code) == (0, 0, 0), first.output
    assert f"Demo satisfaction survey: {len(ANSWERS)} answers." in first.output
    assert "satisfaction survey" not in second.output
    assert responses() == len(ANSWERS)
    assert surveys_queued() == []  # the demo's participants were sent it already
