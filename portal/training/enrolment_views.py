"""Enrolment pages: associations enrol and cancel participants; staff see a session's enrolments,
reserve seats and cancel a session; a participant opens their pass from the e-mailed link."""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.auth.policy import may, require
from portal.db import utcnow
from portal.extensions import account_or_address, configured_limit, db, limiter
from portal.forms import EmptyForm, choices, show_refusal
from portal.htmx import render_page_or_fragment
from portal.organisations.services import get_association
from portal.qr import qr_svg
from portal.timeutil import from_local, to_local
from portal.training import bp, enrolments, programme, services
from portal.training.forms import (
    LANGUAGE_LABELS,
    SEX_LABELS,
    EnrolmentForm,
    ReservationForm,
    SessionCancellationForm,
)
from portal.training.models import EnrolmentStatus, SeatReservation, SessionStatus
from portal.training.services import EnrolmentError
from portal.web.errors import log_denial
from portal.web.links import safe_next

LABELS = {"languages": LANGUAGE_LABELS, "sexes": SEX_LABELS}


def _locale() -> str:
    return str(get_locale())


def _session_or_404(session_id: int, *, published_only: bool):
    training_session = programme.load_session(db.session, session_id)
    if training_session is None or (
        published_only and training_session.status != SessionStatus.PUBLISHED
    ):
        abort(404)
    return training_session


def _back(default: str):
    """Go back to the list the form names in `next` (a local path only), else to `default`."""
    target = request.form.get("next")
    return redirect(safe_next(target) if target else default, 303)


# --- enrolling (associations) ---------------------------------------------------------------


def _enrolment_form(associations) -> EnrolmentForm:
    form = EnrolmentForm()
    names = [
        (str(association.id), association.text_for("name", _locale()))
        for association in associations
    ]
    # With several associations nothing is preselected: a participant enrolled under the wrong
    # one would count against its cap.
    form.association_id.choices = choices([("", _("Choose the association")), *names])
    if len(associations) == 1 and not form.association_id.data:
        form.association_id.data = str(associations[0].id)
    return form


def _enrolled_message(enrolment, position: int | None) -> str:
    if enrolment.status == EnrolmentStatus.CONFIRMED:
        return _(
            "%(name)s is enrolled: the place is confirmed and the registration code was "
            "e-mailed to %(email)s.",
            name=enrolment.full_name,
            email=enrolment.email,
        )
    return _(
        "The session is full: %(name)s is number %(position)d on the waitlist and was told so "
        "by e-mail.",
        name=enrolment.full_name,
        position=position,
    )


def _enrol_or_refuse(form: EnrolmentForm, training_session, association):
    """Enrol the form's participant and redirect to the association's list; on a refusal, show
    it beside its field and return None."""
    try:
        enrolment = services.enrol(
            db.session,
            training_session.id,
            association,
            form.participant_data(),
            actor=current_user,
        )
        position = services.waitlist_position(db.session, enrolment)
    except EnrolmentError as error:
        db.session.rollback()
        show_refusal(form, error)
        return None
    db.session.commit()
    flash(_enrolled_message(enrolment, position), "success")
    return redirect(url_for("training.association_enrolments", association_id=association.id), 303)


@bp.route("/training/sessions/<int:session_id>/enrol", methods=["GET", "POST"])
@login_required
@limiter.limit(
    configured_limit("RATELIMIT_ENROLMENT"), key_func=account_or_address, methods=["POST"]
)
def enrol(session_id: int):
    """Enrol a participant of one of the user's associations: a seat, or the waitlist."""
    training_session = _session_or_404(session_id, published_only=True)
    associations = enrolments.associations_user_may_enrol_for(db.session, current_user)
    if not associations:
        abort(403)
    form = _enrolment_form(associations)
    if request.method == "POST":
        association = {str(item.id): item for item in associations}.get(form.association_id.data)
        if association is None or not may(current_user, "training.enrol", association):
            form.association_id.errors = [_("Choose one of the associations you manage.")]
        elif done := _enrol_or_refuse(form, training_session, association):
            return done
    page = render_template(
        "training/enrol.html",
        form=form,
        training_session=training_session,
        associations=associations,
        enrolment_open=programme.enrolment_is_open(training_session, utcnow()),
    )
    return page, 422 if request.method == "POST" else 200


@bp.get("/associations/<int:association_id>/training")
@login_required
def association_enrolments(association_id: int):
    """List the association's participants by session, with their status and waitlist place."""
    association = get_association(db.session, association_id)
    if association is None:
        abort(404)
    require(current_user, "association.view", association, hide=True)
    now = utcnow()
    return render_page_or_fragment(
        "training/association_enrolments.html",
        "training/_association_enrolments.html",
        association=association,
        groups=enrolments.association_places(db.session, association, to_local(now).date()),
        may_enrol=may(current_user, "training.enrol", association),
        staff=may(current_user, "training.manage"),
        is_open=lambda training_session: programme.enrolment_is_open(training_session, now),
        action_form=EmptyForm(),
    )


@bp.post("/training/enrolments/<int:enrolment_id>/cancel")
@login_required
def cancel_enrolment(enrolment_id: int):
    """Cancel a place; the first on the waitlist gets the seat and both are told by e-mail."""
    enrolment = enrolments.load_enrolment(db.session, enrolment_id)
    if enrolment is None:
        abort(404)
    require(current_user, "association.view", enrolment.association, hide=True)
    require(current_user, "training.cancel_enrolment", enrolment)
    staff = may(current_user, "training.manage")
    default = (
        url_for("training.staff_enrolments", session_id=enrolment.session_id)
        if staff
        else url_for("training.association_enrolments", association_id=enrolment.association_id)
    )
    name = enrolment.full_name
    try:
        promoted = services.cancel(db.session, enrolment, actor=current_user, by_staff=staff)
    except EnrolmentError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return _back(default)
    db.session.commit()
    flash(
        _("The place of %(name)s is cancelled and they were told by e-mail.", name=name), "success"
    )
    if promoted is not None:
        flash(
            _("The freed seat went to the first person on the waitlist, who was told."), "success"
        )
    return _back(default)


# --- a session's enrolments (staff) ---------------------------------------------------------


def _staff_page(training_session, *, reservation_form=None, cancellation_form=None, status=200):
    now = utcnow()
    roster = enrolments.session_roster(db.session, training_session, now)
    reservation_form = reservation_form or ReservationForm(formdata=None)
    page = render_page_or_fragment(
        "training/staff_enrolments.html",
        "training/_staff_enrolments.html",
        training_session=training_session,
        roster=roster,
        now=now,
        reservation_form=reservation_form,
        cancellation_form=cancellation_form or SessionCancellationForm(formdata=None),
        action_form=EmptyForm(),
        labels=LABELS,
    )
    return page, status


@bp.get("/staff/training/sessions/<int:session_id>/enrolments")
@login_required
def staff_enrolments(session_id: int):
    """Show a session's seats, confirmed places, waitlist, cancelled places and reservations."""
    require(current_user, "training.manage")
    return _staff_page(_session_or_404(session_id, published_only=False))


@bp.post("/staff/training/sessions/<int:session_id>/reservations")
@login_required
def reserve_seats(session_id: int):
    """Hold seats for an association until a date (a second reservation replaces the first)."""
    require(current_user, "training.manage")
    training_session = _session_or_404(session_id, published_only=False)
    form = ReservationForm()
    if form.validate_on_submit():
        try:
            association = services.find_association(db.session, form.registration_number.data)
            services.reserve_seats(
                db.session,
                training_session,
                association,
                form.seats.data,
                from_local(form.until.data),
                form.reason.data or "",
                actor=current_user,
            )
        except EnrolmentError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            db.session.commit()
            flash(
                ngettext(
                    "%(num)d seat is held for %(association)s.",
                    "%(num)d seats are held for %(association)s.",
                    form.seats.data,
                    association=association.text_for("name", _locale()),
                ),
                "success",
            )
            return redirect(url_for("training.staff_enrolments", session_id=session_id), 303)
    return _staff_page(training_session, reservation_form=form, status=422)


@bp.post("/staff/training/reservations/<int:reservation_id>/release")
@login_required
def release_reservation(reservation_id: int):
    """Give the seats a reservation holds back to the general pool."""
    require(current_user, "training.manage")
    reservation = db.get_or_404(SeatReservation, reservation_id)
    session_id = reservation.session_id
    name = reservation.association.text_for("name", _locale())
    try:
        services.release_reservation(db.session, reservation, actor=current_user)
    except EnrolmentError as error:
        db.session.rollback()
        flash(str(error.message), "error")
    else:
        db.session.commit()
        flash(
            _("The seats held for %(association)s are back in the pool.", association=name),
            "success",
        )
    return redirect(url_for("training.staff_enrolments", session_id=session_id), 303)


@bp.post("/staff/training/sessions/<int:session_id>/cancel")
@login_required
def cancel_session(session_id: int):
    """Cancel the whole session: every place cancelled, every participant told the reason."""
    require(current_user, "training.manage")
    training_session = _session_or_404(session_id, published_only=False)
    form = SessionCancellationForm()
    if form.validate_on_submit():
        try:
            places = services.cancel_session(
                db.session, training_session, form.reason.data, actor=current_user
            )
        except EnrolmentError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            db.session.commit()
            flash(
                ngettext(
                    "The session is cancelled; %(num)d participant was told by e-mail.",
                    "The session is cancelled; %(num)d participants were told by e-mail.",
                    len(places),
                ),
                "success",
            )
            return redirect(url_for("training.staff_enrolments", session_id=session_id), 303)
    return _staff_page(training_session, cancellation_form=form, status=422)


# --- the participant's pass (public, through the signed link) -------------------------------


@bp.get("/training/pass/<token>")
def participant_pass(token: str):
    """Show the participant's pass: session, dates, place, registration code and its QR code."""
    enrolment_id = services.enrolment_id_from_pass_token(token)
    enrolment = enrolments.load_enrolment(db.session, enrolment_id) if enrolment_id else None
    qr = None
    if enrolment is None:
        log_denial(404)
    elif enrolment.status == EnrolmentStatus.CONFIRMED:
        qr = qr_svg(
            services.check_in_url(enrolment.registration_code),
            scale=6,
            title=_("QR code of the registration code %(code)s", code=enrolment.registration_code),
        )
    page = render_template(
        "training/pass.html",
        enrolment=enrolment,
        training_session=enrolment.session if enrolment else None,
        qr=qr,
    )
    response = make_response(page, 200 if enrolment else 404)
    # A personal page reached without signing in: kept out of caches and search engines.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
