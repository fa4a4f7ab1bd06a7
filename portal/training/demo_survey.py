"""Demo answers to the satisfaction survey of the demo's past session: every participant was
sent the survey the day after it ended, and most of them answered."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.timeutil import from_local
from portal.training.demo import PAST_SESSION, TITLE_AR
from portal.training.models import (
    Enrolment,
    EnrolmentStatus,
    Module,
    Programme,
    SurveyResponse,
    TrainingSession,
)

# (content, trainers, organisation, usefulness, comment), one per participant who answered.
ANSWERS = (
    (5, 5, 4, 5, "دورة مفيدة جدا، خاصة الجزء العملي حول كتابة التقارير الموازية."),
    (4, 5, 3, 5, "Formation très utile ; les journées étaient un peu longues."),
    (5, 4, 4, 4, ""),
    (4, 4, 2, 4, "القاعة كانت صغيرة بالنسبة لعدد المشاركين."),
    (5, 5, 5, 5, "Merci aux formateurs ; une suite sur le suivi des recommandations serait utile."),
    (3, 4, 4, 3, ""),
    (4, 5, 4, 5, "نقترح تنظيم دورة ثانية في الجهة."),
    (5, 4, 3, 4, ""),
    (4, 4, 4, 5, ""),
)


def _past_session(session: Session) -> TrainingSession | None:
    return session.scalar(
        select(TrainingSession)
        .join(Module, Module.id == TrainingSession.module_id)
        .join(Programme, Programme.id == Module.programme_id)
        .where(Programme.title_ar == TITLE_AR, TrainingSession.venue == PAST_SESSION["venue"])
    )


def ensure_survey_demo(session: Session) -> int:
    """Mark the past session's participants as sent the survey and record demo answers, unless
    it was done; return how many answers were added."""
    training = _past_session(session)
    if training is None:
        return 0
    enrolments = list(
        session.scalars(
            select(Enrolment)
            .where(
                Enrolment.session_id == training.id,
                Enrolment.status == EnrolmentStatus.CONFIRMED,
            )
            .order_by(Enrolment.id)
        )
    )
    if any(enrolment.survey_sent_at is not None for enrolment in enrolments):
        return 0
    sent_at = from_local(datetime.combine(training.ends_on + timedelta(days=1), time(10, 0)))
    for enrolment in enrolments:
        enrolment.survey_sent_at = sent_at
    for number, (enrolment, answer) in enumerate(zip(enrolments, ANSWERS, strict=False)):
        content, trainers, organisation, usefulness, comment = answer
        session.add(
            SurveyResponse(
                enrolment_id=enrolment.id,
                content=content,
                trainers=trainers,
                organisation=organisation,
                usefulness=usefulness,
                comment=comment,
                submitted_at=sent_at + timedelta(hours=5 + 7 * number),
            )
        )
    session.flush()
    return min(len(enrolments), len(ANSWERS))
