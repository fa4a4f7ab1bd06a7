"""The evaluator's dashboard and scoring pages, and staff reopening a review."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_time, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from portal.applications.sections import CATEGORY_LABELS, FIELD_LABELS
from portal.applications.services import budget_summary, current_attachments
from portal.auth.policy import require
from portal.calls.models import NARRATIVE_FIELDS
from portal.db import utcnow
from portal.extensions import db
from portal.forms import EmptyForm
from portal.htmx import is_htmx
from portal.review import bp, scoring
from portal.review.models import Review, ReviewStatus
from portal.timeutil import to_local

STATE_LABELS = {
    ReviewStatus.ASSIGNED: _l("Not started"),
    ReviewStatus.DRAFT: _l("Draft"),
    ReviewStatus.SUBMITTED: _l("Submitted"),
    ReviewStatus.REMOVED: _l("Removed"),
}


def _locale() -> str:
    return str(get_locale())


def _saved_time(score) -> str:
    return format_time(to_local(score.saved_at), "HH:mm", rebase=False)


def _review_or_404(review_id: int, loader=scoring.load_review) -> Review:
    """Return the review if the signed-in evaluator may score it; anyone else gets 404."""
    review = loader(db.session, review_id)
    if review is None:
        abort(404)
    require(current_user, "review.score", review, hide=True)
    return review


def _criterion_or_404(review: Review, criterion_id: int):
    criterion = next((c for c in review.application.call.criteria if c.id == criterion_id), None)
    if criterion is None:
        abort(404)
    return criterion


# --- dashboard ------------------------------------------------------------------------------


@bp.get("/reviews")
@login_required
def dashboard():
    """List the evaluator's calls and assignments with their state, progress and deadline."""
    require(current_user, "review.evaluate")
    calls = scoring.evaluator_dashboard(db.session, current_user.id)
    reviews = [review for entry in calls for review in entry.reviews]
    return render_template(
        "review/dashboard.html",
        calls=calls,
        titles=scoring.redacted_titles(db.session, reviews, _locale()),
        state_labels=STATE_LABELS,
    )


# --- the scoring page -----------------------------------------------------------------------


def _page_context(review: Review, *, typed=None, errors=None, stale=None) -> dict:
    application = review.application
    call = application.call
    redact = scoring.Redactor(application, call.blind_review)
    return {
        "review": review,
        "application": application,
        "call": call,
        "blind": call.blind_review,
        "redact": redact,
        "title": redact(application.title_for(_locale())),
        "narrative_fields": NARRATIVE_FIELDS,
        "field_labels": FIELD_LABELS,
        "category_labels": CATEGORY_LABELS,
        "summary": budget_summary(application),
        "team_roles": scoring.team_roles(application.team),
        "documents": [] if call.blind_review else list(current_attachments(application).values()),
        "scores": scoring.scores_by_criterion(review),
        "total": scoring.weighted_total(review, call.criteria),
        "locked": review.status == ReviewStatus.SUBMITTED,
        "state_labels": STATE_LABELS,
        "saved_time": _saved_time,
        "typed": typed or {},
        "errors": errors or {},
        "stale": stale or {},
        "form": EmptyForm(),
    }


@bp.get("/reviews/<int:review_id>")
@login_required
def score_page(review_id: int):
    """Show the application read-only beside the rubric (blind calls hide who applied)."""
    review = _review_or_404(review_id)
    return render_template("review/score.html", **_page_context(review))


@bp.get("/reviews/<int:review_id>/documents/<int:attachment_id>")
@login_required
def review_document(review_id: int, attachment_id: int):
    """Send one of the application's current documents to its evaluator (never in a blind call)."""
    from flask import send_file

    from portal.storage import file_store

    review = _review_or_404(review_id)
    if review.application.call.blind_review:
        abort(404)
    attachment = current_attachments(review.application)
    attachment = next((a for a in attachment.values() if a.id == attachment_id), None)
    if attachment is None:
        abort(404)
    response = send_file(
        file_store().open(attachment.storage_key),
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=attachment.original_name,
        max_age=0,
    )
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _full_page(review_id: int, status: int, **context):
    """Render the whole page again (without JavaScript) with what the evaluator typed."""
    db.session.expire_all()
    review = _review_or_404(review_id)
    return render_template("review/score.html", **_page_context(review, **context)), status


@bp.post("/reviews/<int:review_id>/criteria/<int:criterion_id>")
@login_required
def save_score(review_id: int, criterion_id: int):
    """Save one criterion's score and comment (htmx: its save status; else back to the page)."""
    review = _review_or_404(review_id, scoring.load_review_for_saving)
    criterion = _criterion_or_404(review, criterion_id)
    typed = {"value": request.form.get("value", ""), "comment": request.form.get("comment", "")}
    version = request.form.get("version", 0, type=int)
    context = {"review": review, "criterion": criterion}
    try:
        score = scoring.save_score(
            db.session,
            review,
            criterion,
            typed["value"],
            typed["comment"],
            version,
            actor=current_user,
        )
    except scoring.StaleEdit as stale:
        db.session.rollback()
        if is_htmx():
            return _criterion_status(status=409, conflict=stale, version=stale.version, **context)
        return _full_page(review_id, 409, typed={criterion.id: typed}, stale={criterion.id: stale})
    except scoring.ScoringError as error:
        db.session.rollback()
        if is_htmx():
            return _criterion_status(status=422, error=error.message, version=version, **context)
        return _full_page(
            review_id, 422, typed={criterion.id: typed}, errors={criterion.id: error.message}
        )
    # Rendered before the commit, which expires every object; a failed commit still raises.
    answer = _criterion_status(saved=_saved_time(score), version=score.version, **context)
    db.session.commit()
    if is_htmx():
        return answer
    flash(_("The score is saved."), "success")
    anchor = f"criterion-{criterion.id}"
    return redirect(url_for("review.score_page", review_id=review.id, _anchor=anchor), 303)


def _criterion_status(*, status: int = 200, **context):
    return render_template("review/_criterion_status.html", **context), status


@bp.post("/reviews/<int:review_id>/comments")
@login_required
def save_comments(review_id: int):
    """Save the overall comment and the comment that may be shared with the applicant."""
    review = _review_or_404(review_id, scoring.load_review_for_saving)
    typed = {
        "overall_comment": request.form.get("overall_comment", ""),
        "shared_comment": request.form.get("shared_comment", ""),
    }
    version = request.form.get("version", 0, type=int)
    context = {"review": review}
    try:
        scoring.save_comments(
            db.session,
            review,
            typed["overall_comment"],
            typed["shared_comment"],
            version,
            actor=current_user,
        )
    except scoring.StaleEdit as stale:
        db.session.rollback()
        if is_htmx():
            return _comments_status(status=409, conflict=stale, version=stale.version, **context)
        return _full_page(review_id, 409, typed={"comments": typed}, stale={"comments": stale})
    except scoring.ScoringError as error:
        db.session.rollback()
        if is_htmx():
            return _comments_status(status=422, error=error.message, version=version, **context)
        return _full_page(
            review_id, 422, typed={"comments": typed}, errors={"comments": error.message}
        )
    answer = _comments_status(
        saved=format_time(to_local(utcnow()), "HH:mm", rebase=False),
        version=review.comments_version,
        **context,
    )
    db.session.commit()
    if is_htmx():
        return answer
    flash(_("The comments are saved."), "success")
    return redirect(url_for("review.score_page", review_id=review.id, _anchor="comments"), 303)


def _comments_status(*, status: int = 200, **context):
    return render_template("review/_review_comments_status.html", **context), status


@bp.post("/reviews/<int:review_id>/submit")
@login_required
def submit_review(review_id: int):
    """Submit the review once every criterion is scored; it is locked afterwards."""
    review = _review_or_404(review_id, scoring.load_review_for_saving)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        submitted = scoring.submit_review(db.session, review, actor=current_user, locale=_locale())
    except scoring.ScoringError as error:
        db.session.rollback()
        return _full_page(review_id, 422, errors={"submit": error.message})
    db.session.commit()
    if submitted:
        flash(_("Your review is submitted. Thank you."), "success")
    else:
        flash(_("This review was already submitted."), "success")
    return redirect(url_for("review.score_page", review_id=review_id), 303)


# --- staff ----------------------------------------------------------------------------------


@bp.post("/staff/reviews/<int:review_id>/reopen")
@login_required
def reopen_review(review_id: int):
    """Reopen a submitted review with a note of what to revisit; its evaluator is told."""
    require(current_user, "review.manage")
    review = db.session.get(Review, review_id)
    if review is None:
        abort(404)
    back = url_for("review.moderation", application_id=review.application_id)
    try:
        scoring.reopen_review(db.session, review, request.form.get("note"), actor=current_user)
    except scoring.ScoringError as error:
        db.session.rollback()
        return render_template(
            "review/score_reopen_refused.html", message=error.message, back=back
        ), 422
    db.session.commit()
    flash(_("The review is reopened; the evaluator was told what to revisit."), "success")
    return redirect(back, 303)
