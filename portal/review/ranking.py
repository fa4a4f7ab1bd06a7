"""Aggregated scores and the ranking of a call: weighted totals, spread, thresholds, consensus.

A submitted review's total is on 100: Σ value / max_score × weight (the weights add up to 100).
Per application: mean, min, max, spread, number of submitted reviews and the mean of each
criterion, all computed by the database in one grouped statement over score ⋈ criterion ⋈
review. A recorded consensus replaces the mean as the final score. The ranking orders by final
score, then by the mean on the heaviest criterion, then by the earlier submission, then by id.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy import Float, Select, case, cast, func, select
from sqlalchemy.orm import Session

from portal.applications.models import Application, Submission
from portal.calls.models import Call, Criterion, Lot
from portal.organisations.models import Association
from portal.pagination import Page, paginate_list
from portal.review.kept import kept_rankings, ranking_key
from portal.review.models import (
    Consensus,
    Review,
    ReviewStatus,
    Score,
    Screening,
    ScreeningDecision,
)


@dataclass(slots=True)
class RankedApplication:
    """One eligible application as the ranking shows it (scores on 100)."""

    application_id: int
    reference: str
    title_ar: str
    title_fr: str
    association_ar: str
    association_fr: str
    lot_id: int | None
    lot_ar: str
    lot_fr: str
    submitted_at: datetime | None
    reviews: int = 0
    mean: float | None = None
    lowest: float | None = None
    highest: float | None = None
    consensus: float | None = None
    criterion_means: dict[int, float] = field(default_factory=dict)
    normalised: float | None = None
    disagreement: bool = False
    # Ids of the criteria whose mean is under their minimum; `below_overall` for the total.
    below_criteria: list[int] = field(default_factory=list)
    below_overall: bool = False
    rank: int | None = None

    @property
    def spread(self) -> float | None:
        """Return how far apart the highest and lowest totals are."""
        if self.lowest is None or self.highest is None:
            return None
        return self.highest - self.lowest

    @property
    def final(self) -> float | None:
        """Return the score the ranking uses: the consensus when recorded, else the mean."""
        return self.consensus if self.consensus is not None else self.mean

    @property
    def reviewed(self) -> bool:
        """Tell whether the application has a score to rank by."""
        return self.final is not None

    @property
    def below_threshold(self) -> bool:
        return self.below_overall or bool(self.below_criteria)

    @property
    def fundable(self) -> bool:
        """Tell whether the application may be proposed for funding."""
        return self.reviewed and not self.below_threshold

    def title_for(self, locale: str) -> str:
        return (self.title_fr if locale == "fr" else self.title_ar) or self.title_ar

    def association_for(self, locale: str) -> str:
        return (
            self.association_fr if locale == "fr" else self.association_ar
        ) or self.association_ar

    def lot_for(self, locale: str) -> str:
        return (self.lot_fr if locale == "fr" else self.lot_ar) or self.lot_ar


# --- statements -----------------------------------------------------------------------------


def review_totals(call_id: int, application_id: int | None = None) -> Select:
    """Return (review id, application id, evaluator id, total on 100) of submitted reviews."""
    # Floats throughout: dividing by an integer column makes SQLAlchemy cast it to NUMERIC,
    # and exact decimal arithmetic over every score row is several times slower.
    weighted = cast(Score.value, Float) * Criterion.weight / cast(Criterion.max_score, Float)
    query = (
        select(
            Review.id.label("review_id"),
            Review.application_id.label("application_id"),
            Review.evaluator_id.label("evaluator_id"),
            func.coalesce(func.sum(weighted), 0.0).label("total"),
        )
        .select_from(Review)
        .join(Score, Score.review_id == Review.id)
        .join(Criterion, Criterion.id == Score.criterion_id)
        .where(Review.call_id == call_id, Review.status == ReviewStatus.SUBMITTED)
        .group_by(Review.id, Review.application_id, Review.evaluator_id)
    )
    if application_id is not None:
        query = query.where(Review.application_id == application_id)
    return query


def _application_statistics(call: Call, application_id: int | None) -> Select:
    """One pass over the scores: per application, the number of submitted reviews, the mean,
    lowest and highest total, and the mean of each criterion (pivoted into columns)."""
    per_review = review_totals(call.id, application_id)
    per_review = per_review.add_columns(
        *(
            func.max(case((Score.criterion_id == criterion.id, Score.value))).label(
                f"c{criterion.id}"
            )
            for criterion in call.criteria
        )
    ).subquery()
    return select(
        per_review.c.application_id,
        func.count(),
        func.avg(per_review.c.total),
        func.min(per_review.c.total),
        func.max(per_review.c.total),
        *(func.avg(cast(per_review.c[f"c{criterion.id}"], Float)) for criterion in call.criteria),
    ).group_by(per_review.c.application_id)


def _final_reference():
    return (
        select(Submission.reference)
        .where(Submission.application_id == Application.id)
        .order_by(Submission.number.desc())
        .limit(1)
        .correlate(Application)
        .scalar_subquery()
    )


def _shown_columns() -> tuple:
    """What the ranking shows of an application besides its scores."""
    return (
        _final_reference(),
        Application.title_ar,
        Application.title_fr,
        Association.name_ar,
        Association.name_fr,
        Lot.title_ar,
        Lot.title_fr,
    )


def _joined_for_shown(query: Select) -> Select:
    return query.join(Association, Association.id == Application.association_id).outerjoin(
        Lot, Lot.id == Application.lot_id
    )


def _eligible_applications(
    call_id: int, lot_id: int | None, application_id: int | None, *, details: bool
):
    """The eligible applications with what orders them; with `details`, also what shows them."""
    query = select(
        Application.id,
        Application.lot_id,
        Application.submitted_at,
        Consensus.score,
        *(_shown_columns() if details else ()),
    ).join(Screening, Screening.application_id == Application.id)
    if details:
        query = _joined_for_shown(query)
    query = query.outerjoin(Consensus, Consensus.application_id == Application.id).where(
        Application.call_id == call_id, Screening.decision == ScreeningDecision.ELIGIBLE
    )
    if lot_id is not None:
        query = query.where(Application.lot_id == lot_id)
    if application_id is not None:
        query = query.where(Application.id == application_id)
    return query


def _shown_details(application_ids: list[int]) -> Select:
    """Each application's id and what the ranking shows of it besides its scores."""
    query = select(Application.id, *_shown_columns())
    return _joined_for_shown(query).where(Application.id.in_(application_ids))


# --- computing ------------------------------------------------------------------------------


def heaviest_criterion(call: Call) -> Criterion | None:
    """Return the criterion that breaks ties: the highest weight, then the first in order."""
    if not call.criteria:
        return None
    return min(
        call.criteria, key=lambda criterion: (-criterion.weight, criterion.position, criterion.id)
    )


def z_scores(totals: list[tuple[int, int, float]]) -> dict[int, list[float]]:
    """Return {application id: z-scores of its reviews}, each evaluator measured against their
    own submitted reviews (population standard deviation; an evaluator whose totals are all
    equal gives 0)."""
    by_evaluator: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for application_id, evaluator_id, total in totals:
        by_evaluator[evaluator_id].append((application_id, float(total)))
    by_application: dict[int, list[float]] = defaultdict(list)
    for given in by_evaluator.values():
        mean = sum(total for _id, total in given) / len(given)
        deviation = math.sqrt(sum((total - mean) ** 2 for _id, total in given) / len(given))
        for application_id, total in given:
            z = (total - mean) / deviation if deviation > 1e-9 else 0.0
            by_application[application_id].append(z)
    return by_application


def _thresholds(call: Call):
    """Return a function that sets an item's flags from the call's thresholds."""
    disagreement = call.disagreement_threshold
    overall = call.overall_minimum
    minimums = [
        (criterion.id, criterion.minimum_score)
        for criterion in call.criteria
        if criterion.minimum_score is not None
    ]

    def apply(item: RankedApplication) -> None:
        if item.lowest is not None:
            item.disagreement = item.highest - item.lowest > disagreement
        means = item.criterion_means
        item.below_criteria = [
            criterion_id
            for criterion_id, minimum in minimums
            if criterion_id in means and means[criterion_id] < minimum
        ]
        final = item.final
        item.below_overall = bool(overall) and final is not None and final < overall

    return apply


# Totals computed in a different order may differ in their last bits: equal to this precision
# they are a tie, which the next key breaks.
PRECISION = 6


def _ordering(call: Call, normalised: bool):
    heaviest = heaviest_criterion(call)
    tie_id = heaviest.id if heaviest else None
    never = datetime.max.replace(tzinfo=UTC)

    def key(item: RankedApplication):
        score = item.normalised if normalised else item.final
        tie = item.criterion_means.get(tie_id, 0.0)
        return (
            -round(score or 0.0, PRECISION),
            -round(tie, PRECISION),
            item.submitted_at or never,
            item.application_id,
        )

    return key


def _ranked(row) -> RankedApplication:
    app_id, lot_id, submitted_at, consensus, *shown = row
    item = RankedApplication(
        application_id=app_id,
        reference="",
        title_ar="",
        title_fr="",
        association_ar="",
        association_fr="",
        lot_id=lot_id,
        lot_ar="",
        lot_fr="",
        submitted_at=submitted_at,
        consensus=consensus,
    )
    return _shown(item, shown) if shown else item


def _shown(item: RankedApplication, details) -> RankedApplication:
    reference, title_ar, title_fr, name_ar, name_fr, lot_ar, lot_fr = details
    item.reference = reference or ""
    item.title_ar, item.title_fr = title_ar, title_fr
    item.association_ar, item.association_fr = name_ar, name_fr
    item.lot_ar, item.lot_fr = lot_ar or "", lot_fr or ""
    return item


def _compute(
    session: Session,
    call: Call,
    *,
    lot_id: int | None = None,
    application_id: int | None = None,
    normalised: bool = False,
    details: bool = True,
) -> list[RankedApplication]:
    # Core rows, not ORM results: the ORM's per-row work would be most of the time here.
    connection = session.connection()
    eligible = _eligible_applications(call.id, lot_id, application_id, details=details)
    items = {row[0]: _ranked(row) for row in connection.execute(eligible)}
    criteria = [criterion.id for criterion in call.criteria]
    for app_id, count, mean, lowest, highest, *means in connection.execute(
        _application_statistics(call, application_id)
    ):
        item = items.get(app_id)
        if item is None:
            continue
        item.reviews, item.mean = count, float(mean)
        item.lowest, item.highest = float(lowest), float(highest)
        item.criterion_means = {
            criterion_id: float(value)
            for criterion_id, value in zip(criteria, means, strict=True)
            if value is not None
        }
    if normalised:
        per_review = review_totals(call.id).subquery()
        totals = connection.execute(
            select(per_review.c.application_id, per_review.c.evaluator_id, per_review.c.total)
        ).all()
        for app_id, zs in z_scores(totals).items():
            if app_id in items:
                items[app_id].normalised = sum(zs) / len(zs)
    apply_thresholds = _thresholds(call)
    for item in items.values():
        apply_thresholds(item)
    reviewed = sorted(
        (item for item in items.values() if item.reviewed), key=_ordering(call, normalised)
    )
    waiting = sorted(
        (item for item in items.values() if not item.reviewed),
        key=lambda item: (item.submitted_at is None, item.submitted_at, item.application_id),
    )
    for rank, item in enumerate(reviewed, start=1):
        item.rank = rank
    return reviewed + waiting


def rank_call(
    session: Session, call: Call, *, lot_id: int | None = None, normalised: bool = False
) -> list[RankedApplication]:
    """Rank the call's eligible applications (of one lot if given), those not reviewed last.

    The standard ranking orders by the final score (consensus, else the mean of the raw
    weighted totals); `normalised=True` orders by the mean of each review's z-score across its
    evaluator's own reviews instead. Two statements whatever the size of the call (three when
    normalised); `call.criteria` must be loaded.
    """
    return _compute(session, call, lot_id=lot_id, normalised=normalised)


def ranking_page(
    session: Session,
    call: Call,
    number: int,
    size: int,
    *,
    lot_id: int | None = None,
    normalised: bool = False,
) -> Page:
    """Return page `number` of the ranking `rank_call` gives, from the order kept while the
    call's scores are unchanged (portal.review.kept), with what each row shows read afresh."""
    ordered = kept_rankings.get_or_compute(
        ranking_key(call, lot_id, normalised),
        lambda: _compute(session, call, lot_id=lot_id, normalised=normalised, details=False),
    )
    page = paginate_list(ordered, number, size)
    if not page.items:
        return page
    ids = [item.application_id for item in page.items]
    shown = {row[0]: row[1:] for row in session.connection().execute(_shown_details(ids))}
    # Copies: the kept items are shared by every request of this worker.
    items = [
        _shown(replace(item), shown[item.application_id]) if item.application_id in shown else item
        for item in page.items
    ]
    return replace(page, items=items)


def application_standing(
    session: Session, call: Call, application_id: int
) -> RankedApplication | None:
    """Return one application's statistics and flags as the ranking computes them, without a
    rank (None when the application is not screened eligible)."""
    found = _compute(session, call, application_id=application_id)
    if not found:
        return None
    found[0].rank = None
    return found[0]


# --- export ---------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "rank",
    "reference",
    "title_ar",
    "title_fr",
    "association_ar",
    "association_fr",
    "lot_ar",
    "lot_fr",
    "reviews",
    "mean",
    "min",
    "max",
    "spread",
    "consensus",
    "final_score",
    "normalised_score",
    "disagreement",
    "below_threshold",
    "fundable",
)


def _rounded(value: float | None, places: int = 2):
    return "" if value is None else round(value, places)


def export_rows(ranking: list[RankedApplication], call: Call) -> Iterator[list]:
    """Yield one row per ranked application, in ranking order."""
    codes = {criterion.id: f"C{criterion.position}" for criterion in call.criteria}
    for item in ranking:
        below = [codes[criterion_id] for criterion_id in item.below_criteria]
        if item.below_overall:
            below.append("overall")
        yield [
            item.rank or "",
            item.reference or "",
            item.title_ar,
            item.title_fr,
            item.association_ar,
            item.association_fr,
            item.lot_ar,
            item.lot_fr,
            item.reviews,
            _rounded(item.mean),
            _rounded(item.lowest),
            _rounded(item.highest),
            _rounded(item.spread),
            _rounded(item.consensus),
            _rounded(item.final),
            _rounded(item.normalised, 3),
            "yes" if item.disagreement else "no",
            " ".join(below),
            "yes" if item.fundable else "no",
        ]
