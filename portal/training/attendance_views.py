"""Attendance and certificates: check-in by code, the roster marked per day, certificates and
their public verification."""

from __future__ import annotations

from datetime import date

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import format_time, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.auth.policy import require
from portal.extensions import db, limiter
from portal.forms import query_text, show_refusal
from portal.htmx import is_htmx
from portal.timeutil import to_local
from portal.training import attendance, bp, certificates
from portal.training.attendance import AttendanceError
from portal.training.attendance_forms import CheckInForm, VerifyForm
from portal.training.certificates import CertificateError
from portal.training.forms import SEX_LABELS
from portal.training.services import EnrolmentError

LABELS = {"sexes": SEX_LABELS}


def _hour(moment) -> str:
    return format_time(to_local(moment), "HH:mm", rebase=False)


# --- check-in at the door (staff) -----------------------------------------------------------


def _refusal_text(enrolment, today) -> str | None:
    # Plain text: a lazy message would reach the page unescaped, participant's name and all.
    refusal = attendance.check_in_refusal(enrolment, today) if enrolment else None
    return str(refusal) if refusal is not None else None


def _check_in_page(form: CheckInForm, code: str | None, status: int = 200):
    """The check-in form, with the participant the code names when there is one."""
    enrolment = attendance.find_by_code(db.session, code) if code else None
    today = attendance.local_today()
    if code and enrolment is None:
        form.code.errors = [_("No participant has this code.")]
        status = 404
    if enrolment is not None:
        # The participant's "Check in" button takes the focus; the field waits for the next one.
        form.code.data = ""
        form.code.render_kw = {
            key: value for key, value in form.code.render_kw.items() if key != "autofocus"
        }
    page = render_template(
        "training/check_in.html",
        form=form,
        enrolment=enrolment,
        refusal=_refusal_text(enrolment, today),
        already=enrolment is not None and attendance.checked_in_today(enrolment, today),
        hour=_hour,
        labels=LABELS,
    )
    return page, status


@bp.route("/staff/training/check-in", methods=["GET", "POST"])
@login_required
def check_in():
    """Find a participant by the code on their pass (typed or scanned) and check them in."""
    require(current_user, "training.manage")
    if request.method == "GET":
        code = query_text(request.args.get("code"), 40).strip() or None
        form = CheckInForm(formdata=None, data={"code": code or ""})
        return _check_in_page(form, code)
    form = CheckInForm()
    if not form.validate_on_submit():
        return _check_in_page(form, None, 422)
    try:
        result = attendance.check_in(db.session, form.code.data, actor=current_user)
    except AttendanceError as error:
        db.session.rollback()
        show_refusal(form, error)
        return _check_in_page(form, None, 422)
    db.session.commit()
    enrolment = result.enrolment
    if result.already:
        flash(
            _(
                "%(name)s was already checked in today at %(time)s.",
                name=enrolment.full_name,
                time=_hour(enrolment.checked_in_at),
            ),
            "info",
        )
    else:
        flash(
            _(
                "%(name)s is checked in at %(time)s and marked present today.",
                name=enrolment.full_name,
                time=_hour(enrolment.checked_in_at),
            ),
            "success",
        )
    return redirect(url_for("training.check_in"), 303)


# --- the roster (staff) ---------------------------------------------------------------------


def _session_or_404(session_id: int):
    training_session = attendance.load_session(db.session, session_id)
    if training_session is None:
        abort(404)
    return training_session


def _roster_page(training_session, *, error=None, status: int = 200):
    sheet = attendance.attendance_sheet(db.session, training_session)
    page = render_template(
        "training/roster.html", sheet=sheet, error=error, hour=_hour, labels=LABELS
    )
    return page, status


@bp.get("/staff/training/sessions/<int:session_id>/roster")
@login_required
def roster(session_id: int):
    """Show the confirmed participants with a checkbox per day, rates and certificates."""
    require(current_user, "training.manage")
    return _roster_page(_session_or_404(session_id))


def _mark_key(value: str) -> tuple[int, date | None] | None:
    """Read "<enrolment id>:<YYYY-MM-DD>" as sent by a checkbox; None when malformed."""
    enrolment_id, _sep, day = value.partition(":")
    if not enrolment_id.isdigit() or len(enrolment_id) > 12:
        return None
    return int(enrolment_id), attendance.parse_day(day)


def _sheet_marks(form) -> dict:
    """The marks a submitted roster changes: each shown cell whose box was (un)ticked.

    Each editable cell sends "<id>:<day>:<0|1>", what the page showed; the ticked boxes send
    "<id>:<day>". Only the differences are saved, so marks made meanwhile (a check-in at the
    door) are not undone by an older page.
    """
    ticked = {_mark_key(value) for value in form.getlist("present")}
    marks = {}
    for value in form.getlist("cell"):
        shown, _sep, was = value.rpartition(":")
        key = _mark_key(shown)
        if key is None or was not in ("0", "1"):
            raise AttendanceError(_("This attendance sheet is not valid: reload the page."))
        if (key in ticked) != (was == "1"):
            marks[key] = key in ticked
    for key in ticked - set(marks):
        if key is None:
            raise AttendanceError(_("This attendance sheet is not valid: reload the page."))
    return marks


def _cell_enrolment_id(form) -> int | None:
    value = form.get("enrolment_id", "")
    return int(value) if value.isdigit() and len(value) <= 12 else None


def _cell_mark(form) -> dict:
    """The one mark an htmx checkbox sends: its enrolment, its day, ticked or not."""
    enrolment_id = _cell_enrolment_id(form)
    if enrolment_id is None:
        raise AttendanceError(
            _("This participant is not enrolled in this session."), field="enrolment_id"
        )
    key = (enrolment_id, attendance.parse_day(form.get("day")))
    ticked = {_mark_key(value) for value in form.getlist("present")}
    return {key: key in ticked}


def _row_response(training_session, enrolment_id: int | None, *, error=None, status: int = 200):
    """The participant's row, with the day totals (and a refusal) swapped out of band."""
    sheet = attendance.attendance_sheet(db.session, training_session)
    page = render_template(
        "training/_roster_row.html",
        sheet=sheet,
        line=sheet.line_for(enrolment_id) if enrolment_id is not None else None,
        error=error,
        out_of_band=True,
        hour=_hour,
        labels=LABELS,
    )
    return page, status


def _saved_message(changed: int) -> None:
    if changed:
        flash(
            ngettext(
                "Attendance is saved: %(num)d mark changed.",
                "Attendance is saved: %(num)d marks changed.",
                changed,
            ),
            "success",
        )
    else:
        flash(_("Nothing changed in the attendance."), "info")


@bp.post("/staff/training/sessions/<int:session_id>/attendance")
@login_required
def mark_attendance(session_id: int):
    """Save one day of one participant (an htmx checkbox) or the whole roster (no JavaScript)."""
    require(current_user, "training.manage")
    training_session = _session_or_404(session_id)
    single = "enrolment_id" in request.form
    try:
        marks = _cell_mark(request.form) if single else _sheet_marks(request.form)
        changed = attendance.mark_attendance(
            db.session, training_session, marks, actor=current_user
        )
    except AttendanceError as error:
        db.session.rollback()
        if single and is_htmx():
            return _row_response(
                training_session,
                _cell_enrolment_id(request.form),
                error=str(error.message),
                status=422,
            )
        return _roster_page(training_session, error=str(error.message), status=422)
    db.session.commit()
    if single and is_htmx():
        return _row_response(training_session, _cell_enrolment_id(request.form))
    _saved_message(changed)
    return redirect(url_for("training.roster", session_id=session_id), 303)


# --- certificates ---------------------------------------------------------------------------


def _not_eligible_message(report, threshold: int) -> str:
    people = ", ".join(
        _("%(name)s (%(rate)s%%)", name=enrolment.full_name, rate=rate)
        for enrolment, rate in report.not_eligible
    )
    return _(
        "Below the %(threshold)s%% attendance a certificate needs, no certificate for: %(people)s.",
        threshold=threshold,
        people=people,
    )


@bp.post("/staff/training/sessions/<int:session_id>/certificates")
@login_required
def issue_certificates(session_id: int):
    """Issue the certificates the session's attendance earns, and e-mail each new holder."""
    require(current_user, "training.manage")
    training_session = _session_or_404(session_id)
    threshold = training_session.module.programme.attendance_threshold_percent
    try:
        report = certificates.issue_certificates(db.session, training_session, actor=current_user)
    except (CertificateError, EnrolmentError) as error:
        db.session.rollback()
        return _roster_page(training_session, error=str(error.message), status=422)
    db.session.commit()
    flash(
        ngettext(
            "%(num)d certificate is issued and its holder was e-mailed a link to download it.",
            "%(num)d certificates are issued and their holders were e-mailed a link to "
            "download them.",
            len(report.issued),
        ),
        "success",
    )
    if report.already_held:
        flash(
            ngettext(
                "%(num)d participant already held a certificate.",
                "%(num)d participants already held a certificate.",
                report.already_held,
            ),
            "info",
        )
    if report.not_eligible:
        flash(_not_eligible_message(report, threshold), "warning")
    return redirect(url_for("training.roster", session_id=session_id), 303)


def _pdf_response(certificate):
    response = make_response(certificates.render_certificate_pdf(certificate))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{certificates.file_name(certificate)}"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/training/certificates/<int:certificate_id>.pdf")
@login_required
def certificate_pdf(certificate_id: int):
    """Download a certificate: staff, or a member of the participant's association."""
    certificate = certificates.load_certificate(db.session, certificate_id)
    if certificate is None:
        abort(404)
    require(current_user, "training.view_certificate", certificate, hide=True)
    return _pdf_response(certificate)


@bp.get("/training/certificates/download/<token>")
def certificate_by_link(token: str):
    """Download a certificate through the signed link mailed to its holder."""
    certificate_id = certificates.certificate_id_from_token(token)
    certificate = (
        certificates.load_certificate(db.session, certificate_id) if certificate_id else None
    )
    if certificate is None:
        abort(404)
    return _pdf_response(certificate)


# --- public verification --------------------------------------------------------------------

VERIFICATION_LIMIT = limiter.shared_limit("30 per minute", scope="certificate-verification")


def _verification_page(form: VerifyForm, code: str | None):
    certificate = certificates.find_by_code(db.session, code) if code else None
    status = 404 if code and certificate is None else 200
    page = render_template(
        "training/verify.html",
        form=form,
        checked=bool(code),
        facts=certificates.facts(certificate) if certificate else None,
    )
    response = make_response(page, status)
    # The answer depends on the stored row at this moment: never serve it from a cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/certificates/verify")
@VERIFICATION_LIMIT
def verify_certificate():
    """Confirm a certificate from the code printed on it, or say that no certificate has it."""
    form = VerifyForm(formdata=request.args if "code" in request.args else None)
    code = form.code.data.strip() if form.code.data and form.validate() else None
    return _verification_page(form, code)


@bp.get("/certificates/<code>")
@VERIFICATION_LIMIT
def verify_certificate_code(code: str):
    """Confirm the certificate whose QR code led here."""
    form = VerifyForm(formdata=None, data={"code": code})
    return _verification_page(form, code)
