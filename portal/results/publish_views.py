"""Publishing a call's results: the letters previewed in both languages, then sent at once."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from portal.auth.policy import require
from portal.extensions import db
from portal.forms import EmptyForm
from portal.results import bp
from portal.results import publishing as services
from portal.results.models import CommitteeStatus


def _call_or_404(call_id: int):
    require(current_user, "results.decide")
    call = services.call_for_publishing(db.session, call_id)
    if call is None:
        abort(404)
    return call


def _preview_page(call, status: int = 200):
    committee = services.committee_of(db.session, call)
    ready = committee is not None and committee.status in (
        CommitteeStatus.APPROVED,
        CommitteeStatus.PUBLISHED,
    )
    letters = services.plan_letters(db.session, call) if ready else []
    rendered = [
        (letter, {locale: services.render_letter(letter, locale) for locale in services.LOCALES})
        for letter in letters
    ]
    return render_template(
        "results/publish_preview.html",
        call=call,
        committee=committee,
        ready=ready,
        letters=rendered,
        recipients=sum(len(letter.recipients) for letter in letters),
        form=EmptyForm(),
    ), status


@bp.get("/staff/calls/<int:call_id>/results/publish")
@login_required
def publish_preview(call_id: int):
    """Show every letter publishing will send, per application, in Arabic and in French."""
    return _preview_page(_call_or_404(call_id))


@bp.post("/staff/calls/<int:call_id>/results/publish")
@login_required
def publish(call_id: int):
    """Publish the call's results: every applicant's letter queued, all or nothing."""
    call = _call_or_404(call_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        queued = services.publish_results(db.session, call, actor=current_user)
    except services.PublishingError as refusal:
        db.session.rollback()
        flash(str(refusal.message), "error")
        return _preview_page(call, 422)
    db.session.commit()
    if queued is None:
        flash(_("These results were already published; no letter was sent again."), "info")
    else:
        flash(
            ngettext(
                "The results are published; %(num)d letter is queued.",
                "The results are published; %(num)d letters are queued.",
                queued,
            ),
            "success",
        )
    return redirect(url_for("results.publish_preview", call_id=call.id), 303)
