"""Appeals against published decisions: filed by the applicant within the call's appeal period,
answered by staff (dismissed, or granted with a new decision), the applicant told the answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from portal.applications.models import Application
from portal.audit.services import record_event
from portal.db import database_now
from portal.notifications.services import queue_message
from portal.organisations.services import writers_of
from portal.results.models import (
    Appeal,
    AppealStatus,
    Committee,
    CommitteeStatus,
    Decision,
    Outcome,
)
from portal.results.publishing import CriterionMean, shared_comments
from portal.review.ranking import application_standing
from portal.rules import RuleRefused
from portal.web.links import external_url

MAX_TEXT = 5000
MAX_REASON = 2000  # a granted appeal's answer becomes the correction's reason


class AppealError(RuleRefused):
    """An appeal, or an answer to one, that the rules refuse."""


def appeal_deadline(committee: Committee) -> datetime | None:
    """Return the instant the appeal period of a published committee closes."""
    if committee.status != CommitteeStatus.PUBLISHED or committee.published_at is None:
        return None
    return committee.published_at + timedelta(days=committee.call.appeal_days)


def published_decision(session: Session, application_id: int) -> Decision | None:
    """Return the application's current decision once its results are published, else None."""
    return session.scalar(
        select(Decision)
        .join(Committee, Committee.id == Decision.committee_id)
        .options(
            joinedload(Decision.committee).joinedload(Committee.call), joinedload(Decision.lot)
        )
        .where(
            Decision.application_id == application_id,
            Decision.superseded_at.is_(None),
            Committee.status == CommitteeStatus.PUBLISHED,
        )
    )


def appeals_of_application(session: Session, application_id: int) -> list[Appeal]:
    """Return the application's appeals, oldest first."""
    return list(
        session.scalars(
            select(Appeal).where(Appeal.application_id == application_id).order_by(Appeal.id)
        )
    )


def _clean_text(value: str, field: str, message) -> str:
    text = (value or "").strip()
    if not text:
        raise AppealError(message, field=field)
    if len(text) > MAX_TEXT:
        raise AppealError(_l("Use at most %(n)d characters.", n=MAX_TEXT), field=field)
    return text


def file_appeal(session: Session, decision: Decision, motivation: str, *, actor, closes: str):
    """File the applicant's appeal against a published, current decision.

    `closes` is the closing instant as the user reads it (Morocco's clock), named in the
    refusal when the period is over.
    """
    committee = decision.committee
    deadline = appeal_deadline(committee)
    if deadline is None or not decision.is_current:
        raise AppealError(_l("There is no published decision to appeal against."))
    if database_now(session) > deadline:
        raise AppealError(_l("The appeal period closed on %(date)s.", date=closes))
    text = _clean_text(motivation, "motivation", _l("Explain why you appeal."))
    if session.scalar(select(Appeal.id).where(Appeal.decision_id == decision.id)) is not None:
        raise AppealError(_l("An appeal against this decision is already filed."))
    appeal = Appeal(
        decision_id=decision.id,
        application_id=decision.application_id,
        motivation=text,
        filed_by_id=actor.id,
    )
    try:
        with session.begin_nested():  # two members filing at once: the unique key keeps one
            session.add(appeal)
            session.flush()
    except IntegrityError:
        raise AppealError(_l("An appeal against this decision is already filed.")) from None
    record_event(session, actor, "appeal.filed", appeal, decision_id=decision.id)
    session.flush()
    return appeal


# --- staff ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewDecision:
    """The decision a granted appeal leads to."""

    outcome: str = ""
    amount_awarded: int | None = None
    reserve_rank: int | None = None
    motivation_ar: str = ""
    motivation_fr: str = ""


def appeals_of_call(session: Session, call_id: int) -> list[Appeal]:
    """Return the call's appeals, pending first, with their application and association."""
    return list(
        session.scalars(
            select(Appeal)
            .join(Application, Application.id == Appeal.application_id)
            .options(
                joinedload(Appeal.application).joinedload(Application.association),
                joinedload(Appeal.decision),
            )
            .where(Application.call_id == call_id)
            .order_by(Appeal.status != AppealStatus.PENDING, Appeal.filed_at, Appeal.id)
        )
    )


def load_appeal(session: Session, appeal_id: int) -> Appeal | None:
    """Return the appeal with its decision, application, association and call."""
    return session.scalar(
        select(Appeal)
        .options(
            joinedload(Appeal.decision).joinedload(Decision.lot),
            joinedload(Appeal.application).joinedload(Application.association),
            joinedload(Appeal.application).joinedload(Application.call),
        )
        .where(Appeal.id == appeal_id)
    )


def _lock_pending(session: Session, appeal: Appeal) -> None:
    session.execute(
        select(Appeal.id)
        .where(Appeal.id == appeal.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    session.refresh(appeal)
    if appeal.status != AppealStatus.PENDING:
        raise AppealError(_l("This appeal is already answered."))


def dismiss_appeal(session: Session, appeal: Appeal, answer: str, *, actor) -> Appeal:
    """Dismiss the appeal with the staff's answer; the applicants are told it."""
    text = _clean_text(answer, "answer", _l("Write the answer the applicant will receive."))
    _lock_pending(session, appeal)
    appeal.status = AppealStatus.DISMISSED
    appeal.answer, appeal.answered_by_id = text, actor.id
    appeal.answered_at = database_now(session)
    record_event(session, actor, "appeal.dismissed", appeal, answer=text)
    _tell_applicants(session, appeal, None)
    session.flush()
    return appeal


def grant_appeal(
    session: Session, appeal: Appeal, answer: str, data: NewDecision, *, actor
) -> Appeal:
    """Grant the appeal: a new decision replaces the one appealed against (corrected through
    the decisions' own rules — envelope, limits, funded action — audited there), and the
    applicants are told both."""
    from portal.results.decisions import correct_decision

    text = _clean_text(answer, "answer", _l("Write the answer the applicant will receive."))
    if len(text) > MAX_REASON:
        raise AppealError(_l("Use at most %(n)d characters.", n=MAX_REASON), field="answer")
    if data.outcome not in {outcome.value for outcome in Outcome}:
        raise AppealError(_l("Choose the new decision."), field="outcome")
    _lock_pending(session, appeal)
    if not appeal.decision.is_current:
        raise AppealError(_l("The decision appealed against was already replaced."))
    new = correct_decision(
        session,
        appeal.decision,
        outcome=Outcome(data.outcome),
        amount_awarded=data.amount_awarded,
        reserve_rank=data.reserve_rank,
        motivation_ar=data.motivation_ar,
        motivation_fr=data.motivation_fr,
        reason=text,
        actor=actor,
    )
    now = database_now(session)
    new.notified_at = now
    appeal.status = AppealStatus.GRANTED
    appeal.answer, appeal.answered_by_id, appeal.answered_at = text, actor.id, now
    appeal.new_decision_id = new.id
    record_event(
        session,
        actor,
        "appeal.granted",
        appeal,
        answer=text,
        old_decision_id=appeal.decision_id,
        new_decision_id=new.id,
    )
    _tell_applicants(session, appeal, new)
    session.flush()
    return appeal


def _tell_applicants(session: Session, appeal: Appeal, new: Decision | None) -> None:
    """Mail the answer to each owner and editor, in their own language."""
    application = appeal.application
    link = external_url("applications.overview", application_id=application.id)
    for email, locale in writers_of(session, application.association_id):
        queue_message(
            session,
            email,
            locale,
            "results_appeal_answer",
            appeal=appeal,
            application=application,
            call=application.call,
            new_decision=new,
            link=link,
        )


# --- the applicant's page -------------------------------------------------------------------


@dataclass
class Feedback:
    """What the application page shows once the results are published."""

    decision: Decision
    deadline: datetime
    appeals: list[Appeal]
    criteria: list
    comments: list[str]
    open: bool  # the period is running and the current decision is not appealed yet

    @property
    def current_appeal(self) -> Appeal | None:
        return next((a for a in self.appeals if a.decision_id == self.decision.id), None)


def feedback_for(session: Session, application: Application) -> Feedback | None:
    """Return the published decision on the application with its feedback, or None before
    publication. Scores and shared comments are given when the application was rejected."""
    decision = published_decision(session, application.id)
    if decision is None:
        return None
    criteria, comments = [], []
    if decision.outcome == Outcome.REJECTED:
        call = decision.committee.call
        standing = application_standing(session, call, application.id)
        if standing is not None:
            criteria = [
                CriterionMean(criterion, standing.criterion_means[criterion.id])
                for criterion in call.criteria
                if criterion.id in standing.criterion_means
            ]
        comments = shared_comments(session, call.id, [application.id]).get(application.id, [])
    deadline = appeal_deadline(decision.committee)
    appeals = appeals_of_application(session, application.id)
    appealed = any(appeal.decision_id == decision.id for appeal in appeals)
    return Feedback(
        decision=decision,
        deadline=deadline,
        appeals=appeals,
        criteria=criteria,
        comments=comments,
        open=not appealed and database_now(session) <= deadline,
    )
