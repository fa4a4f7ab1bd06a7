"""Publishing a call's results: the letters each applicant will receive (previewed by staff,
then queued), the funded actions opened, all in one transaction.

The letters are planned once (`plan_letters`) and rendered by the outbox's own
`queue_message`, for the preview as for the sending, so staff read what will be sent.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from portal.applications.models import Application
from portal.audit.services import record_event
from portal.calls.models import Call
from portal.db import database_now
from portal.notifications.models import OutboxMessage
from portal.notifications.services import queue_message
from portal.organisations.services import writers_by_association
from portal.results.models import Committee, CommitteeStatus, Decision, Outcome
from portal.review import ranking
from portal.review.models import Review, ReviewStatus
from portal.rules import RuleRefused
from portal.web.links import external_url

LOCALES = ("ar", "fr")
TEMPLATES = {
    Outcome.FUNDED: "results_funded",
    Outcome.RESERVE: "results_reserve",
    Outcome.REJECTED: "results_rejected",
}


class PublishingError(RuleRefused):
    """A publication that the rules refuse."""


@dataclass(frozen=True)
class CriterionMean:
    """The mean an application's reviews gave one criterion (never who gave it)."""

    criterion: object
    mean: float


@dataclass
class Letter:
    """What one application's applicants are told: the template, its context, the recipients."""

    decision: Decision
    template: str
    context: dict
    recipients: list[tuple[str, str]] = field(default_factory=list)  # (e-mail, locale)

    @property
    def locales(self) -> list[str]:
        """Return the languages the letter goes out in, in a fixed order."""
        used = {locale for _email, locale in self.recipients}
        return [locale for locale in LOCALES if locale in used]


# --- what each applicant is told ------------------------------------------------------------


def committee_of(session: Session, call: Call) -> Committee | None:
    """Return the call's committee, or None before decisions are recorded."""
    return session.scalar(select(Committee).where(Committee.call_id == call.id))


def current_decisions(session: Session, call: Call) -> list[Decision]:
    """Return the call's current decisions with their application, association and lot."""
    return list(
        session.scalars(
            select(Decision)
            .options(
                joinedload(Decision.application).joinedload(Application.association),
                joinedload(Decision.lot),
            )
            .where(Decision.call_id == call.id, Decision.superseded_at.is_(None))
            .order_by(Decision.application_id)
        )
    )


def shared_comments(session: Session, call_id: int, application_ids: list[int]) -> dict:
    """Return {application id: [comment]}: only what evaluators marked shareable, unsigned."""
    if not application_ids:
        return {}
    rows = session.execute(
        select(Review.application_id, Review.shared_comment)
        .where(
            Review.call_id == call_id,
            Review.application_id.in_(application_ids),
            Review.status == ReviewStatus.SUBMITTED,
            Review.shared_comment != "",
        )
        .order_by(Review.application_id, Review.id)
    )
    found: dict[int, list[str]] = defaultdict(list)
    for application_id, comment in rows:
        found[application_id].append(comment)
    return found


def score_summaries(session: Session, call: Call) -> dict[int, list[CriterionMean]]:
    """Return {application id: the mean of each criterion} as the ranking computes them."""
    summaries = {}
    for item in ranking.rank_call(session, call):
        summaries[item.application_id] = [
            CriterionMean(criterion, item.criterion_means[criterion.id])
            for criterion in call.criteria
            if criterion.id in item.criterion_means
        ]
    return summaries


def feedback_context(decision: Decision, summaries: dict, comments: dict) -> dict:
    """Return what a letter or the application page says about one decision."""
    application = decision.application
    context = {
        "decision": decision,
        "application": application,
        "call": decision.call,
        "lot": decision.lot,
        "link": external_url("applications.overview", application_id=application.id),
        "criteria": [],
        "comments": [],
    }
    if decision.outcome == Outcome.REJECTED:
        context["criteria"] = summaries.get(application.id, [])
        context["comments"] = comments.get(application.id, [])
    return context


def plan_letters(session: Session, call: Call) -> list[Letter]:
    """Return one letter per current decision of the call, with its recipients.

    A fixed number of queries: decisions, recipients, the ranking's two, the shared comments.
    """
    decisions = current_decisions(session, call)
    rejected = [d.application_id for d in decisions if d.outcome == Outcome.REJECTED]
    summaries = score_summaries(session, call) if rejected else {}
    comments = shared_comments(session, call.id, rejected)
    recipients = writers_by_association(
        session, sorted({d.application.association_id for d in decisions})
    )
    return [
        Letter(
            decision=decision,
            template=TEMPLATES[decision.outcome],
            context=feedback_context(decision, summaries, comments),
            recipients=recipients.get(decision.application.association_id, []),
        )
        for decision in decisions
    ]


class _Drafts:
    """Stands in for a session so that `queue_message` renders a letter without storing it."""

    def __init__(self):
        self.messages: list[OutboxMessage] = []
        self.info: dict = {}

    def add(self, message: OutboxMessage) -> None:
        self.messages.append(message)


def render_letter(letter: Letter, locale: str) -> OutboxMessage:
    """Render a letter in one language exactly as the outbox will store it, storing nothing."""
    drafts = _Drafts()
    recipient = letter.recipients[0][0] if letter.recipients else ""
    return queue_message(drafts, recipient, locale, letter.template, **letter.context)


def call_for_publishing(session: Session, call_id: int) -> Call | None:
    """Return the call with its criteria and lots loaded (the letters read them)."""
    return session.scalar(
        select(Call)
        .options(selectinload(Call.criteria), selectinload(Call.lots))
        .where(Call.id == call_id)
    )


# --- publishing -----------------------------------------------------------------------------


def ensure_approved(committee: Committee | None) -> Committee:
    """Refuse unless the committee's decisions are approved (or already published)."""
    if committee is None or committee.status not in (
        CommitteeStatus.APPROVED,
        CommitteeStatus.PUBLISHED,
    ):
        raise PublishingError(
            _l("The results cannot be published before a second staff member approves them.")
        )
    return committee


def publish_results(session: Session, call: Call, *, actor) -> int | None:
    """Publish the call's results: mark the committee published, queue each applicant's letter
    in their language, open the funded actions, all in the caller's transaction.

    Returns the number of letters queued, or None when the results were already published
    (nothing is sent twice). The committee is locked first (as every write to decisions does),
    so of two staff publishing at once the second waits, then finds the results published.
    """
    from portal.results.decisions import lock_committee

    found = committee_of(session, call)
    committee = lock_committee(session, found.id) if found is not None else None
    ensure_approved(committee)
    if committee.status == CommitteeStatus.PUBLISHED:
        return None
    letters = plan_letters(session, call)
    if not letters:
        raise PublishingError(_l("There is no decision to publish."))
    now = database_now(session)
    committee.status = CommitteeStatus.PUBLISHED
    committee.published_at = now
    committee.published_by_id = actor.id
    queued = 0
    for letter in letters:
        for email, locale in letter.recipients:
            queue_message(session, email, locale, letter.template, **letter.context)
            queued += 1
        letter.decision.notified_at = now
    from portal.actions.services import open_action

    opened = [
        open_action(session, letter.decision).id
        for letter in letters
        if letter.decision.outcome == Outcome.FUNDED
    ]
    counts = defaultdict(int)
    for letter in letters:
        counts[letter.decision.outcome.value] += 1
    record_event(
        session,
        actor,
        "results.published",
        committee,
        call_id=call.id,
        decisions=dict(counts),
        letters=queued,
        actions=opened,
    )
    session.flush()
    return queued
