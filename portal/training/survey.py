"""The satisfaction survey after a session: invitations e-mailed with a signed link, one response
per participant, and the results for staff.

Participants who attended at least one day hear once, between one and 30 days after their
session's last day (on Morocco's calendar). The link carries the enrolment's id, signed with a salt
of its own; it is the participant's only key, so it opens the form without signing in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from portal.accounts import tokens
from portal.audit.services import record_event
from portal.notifications.services import queue_message
from portal.timeutil import to_local
from portal.training.models import (
    SURVEY_QUESTIONS,
    Attendance,
    Enrolment,
    EnrolmentStatus,
    Module,
    SessionStatus,
    SurveyResponse,
    TrainingSession,
)
from portal.training.programme import TrainingError
from portal.training.services import CONTROL_CHARACTERS
from portal.web.links import external_url

PURPOSE = "training-survey"
FIRST_DAY_AFTER, LAST_DAY_AFTER = 1, 30  # days after the session's last day
LINK_MAX_AGE = 60 * 24 * 3600  # seconds: a link works for 60 days after it is sent
RATINGS = range(1, 6)
COMMENT_MAX = 2000


class SurveyAlreadyAnswered(TrainingError):
    """The participant has answered already: a response is never replaced."""


# --- invitations ----------------------------------------------------------------------------


def survey_token(enrolment: Enrolment) -> str:
    """Sign the survey link's token for this enrolment."""
    return tokens.make_token(PURPOSE, enrolment.id)


def _due_invitations(now: datetime) -> Select:
    """Confirmed participants of published sessions that ended 1 to 30 days ago (Morocco's
    calendar), who attended at least one day and were not yet sent the survey."""
    today = to_local(now).date()
    attended = exists().where(Attendance.enrolment_id == Enrolment.id, Attendance.present.is_(True))
    return (
        select(Enrolment)
        .join(TrainingSession, TrainingSession.id == Enrolment.session_id)
        .options(joinedload(Enrolment.session).joinedload(TrainingSession.module))
        .where(
            TrainingSession.status == SessionStatus.PUBLISHED,
            TrainingSession.ends_on <= today - timedelta(days=FIRST_DAY_AFTER),
            TrainingSession.ends_on >= today - timedelta(days=LAST_DAY_AFTER),
            Enrolment.status == EnrolmentStatus.CONFIRMED,
            Enrolment.survey_sent_at.is_(None),
            attended,
        )
        .order_by(Enrolment.id)
    )


def send_survey_invitations(session: Session, now: datetime) -> int:
    """Queue the survey e-mail to each participant due one; return how many were queued.

    Each enrolment is claimed by a conditional UPDATE in the transaction that queues its e-mail,
    so a second run, even a parallel one, sends nobody the survey twice. The caller commits.
    """
    queued = 0
    for enrolment in session.scalars(_due_invitations(now)).all():
        claimed = session.execute(
            update(Enrolment)
            .where(Enrolment.id == enrolment.id, Enrolment.survey_sent_at.is_(None))
            .values(survey_sent_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            continue
        training = enrolment.session
        queue_message(
            session,
            enrolment.email,
            enrolment.locale,
            "training_survey",
            enrolment=enrolment,
            training_session=training,
            module=training.module,
            link=external_url("training.survey", token=survey_token(enrolment)),
        )
        record_event(session, None, "training.survey_sent", enrolment)
        queued += 1
    session.flush()
    return queued


# --- answering ------------------------------------------------------------------------------


def enrolment_for_token(session: Session, token: str) -> Enrolment:
    """Return the enrolment a survey link is for, with its session and module.

    Raise tokens.TokenInvalid for a forged link or one whose enrolment was never sent the survey,
    tokens.TokenExpired for a genuine link that is too old.
    """
    enrolment_id, _state = tokens.read_token(PURPOSE, token, LINK_MAX_AGE)
    enrolment = session.scalar(
        select(Enrolment)
        .options(
            joinedload(Enrolment.session)
            .joinedload(TrainingSession.module)
            .joinedload(Module.programme),
            joinedload(Enrolment.session).joinedload(TrainingSession.region),
        )
        .where(Enrolment.id == enrolment_id, Enrolment.survey_sent_at.is_not(None))
    )
    if enrolment is None:
        raise tokens.TokenInvalid
    return enrolment


def response_of(session: Session, enrolment: Enrolment) -> SurveyResponse | None:
    """Return the enrolment's survey response, if it answered."""
    return session.scalar(select(SurveyResponse).where(SurveyResponse.enrolment_id == enrolment.id))


def _rating(answers: dict, question: str) -> int:
    value = answers.get(question)
    try:
        rating = int(value)
    except (TypeError, ValueError):
        rating = None
    if rating not in RATINGS or isinstance(value, bool):
        raise TrainingError(_l("Choose a rating from 1 to 5."), field=question)
    return rating


def record_survey_response(session: Session, enrolment: Enrolment, answers: dict):
    """Record the participant's ratings (1 to 5) and comment, once per enrolment.

    Refuse a missing or out-of-range rating and a comment over 2,000 characters; refuse a second
    response, even one sent in parallel (the unique enrolment_id is the guard).
    """
    ratings = {question: _rating(answers, question) for question in SURVEY_QUESTIONS}
    comment = (answers.get("comment") or "").strip()
    if CONTROL_CHARACTERS.search(comment):
        raise TrainingError(_l("Control characters are not allowed."), field="comment")
    if len(comment) > COMMENT_MAX:
        raise TrainingError(
            _l("At most %(n)d characters.", n=COMMENT_MAX),
            field="comment",
        )
    if response_of(session, enrolment) is not None:
        raise SurveyAlreadyAnswered(_l("You have already answered this survey: thank you."))
    response = SurveyResponse(enrolment_id=enrolment.id, comment=comment, **ratings)
    try:
        with session.begin_nested():
            session.add(response)
    except IntegrityError:
        raise SurveyAlreadyAnswered(
            _l("You have already answered this survey: thank you.")
        ) from None
    record_event(
        session, None, "training.survey_answered", response, session_id=enrolment.session_id
    )
    session.flush()
    return response


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveySummary:
    """Answers to the survey over some sessions: how many, and the mean of each question."""

    invited: int
    responses: int
    means: dict[str, float | None]

    @property
    def response_rate(self) -> float | None:
        return self.responses / self.invited if self.invited else None


def survey_summary(session: Session, session_ids: Select) -> SurveySummary:
    """Count invitations and responses and average each question over the sessions that
    `session_ids` selects, in one query."""
    invited = (
        select(func.count(Enrolment.id))
        .where(Enrolment.session_id.in_(session_ids), Enrolment.survey_sent_at.is_not(None))
        .scalar_subquery()
    )
    columns = [func.avg(getattr(SurveyResponse, question)) for question in SURVEY_QUESTIONS]
    row = session.execute(
        select(invited, func.count(SurveyResponse.id), *columns)
        .select_from(SurveyResponse)
        .join(Enrolment, Enrolment.id == SurveyResponse.enrolment_id)
        .where(Enrolment.session_id.in_(session_ids))
    ).one()
    invited_count, responses, *averages = row
    return SurveySummary(
        invited=int(invited_count or 0),
        responses=int(responses or 0),
        means={
            question: (float(mean) if mean is not None else None)
            for question, mean in zip(SURVEY_QUESTIONS, averages, strict=True)
        },
    )


def session_comments(session: Session, training_session_id: int) -> list[SurveyResponse]:
    """Return the session's responses that carry a comment, newest first (names left out)."""
    return list(
        session.scalars(
            select(SurveyResponse)
            .join(Enrolment, Enrolment.id == SurveyResponse.enrolment_id)
            .where(Enrolment.session_id == training_session_id, SurveyResponse.comment != "")
            .order_by(SurveyResponse.submitted_at.desc(), SurveyResponse.id.desc())
        )
    )
