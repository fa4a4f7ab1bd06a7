"""Two-factor sign-in pages: enrolment with an authenticator app, recovery codes, turning it off,
and the code asked after a correct password.

Also the one rule that keeps a session whose roles require a second factor (staff and admin by
default: TWO_FACTOR_REQUIRED_ROLES) on the enrolment page until it has passed one.
"""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import format_time, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from portal.accounts import bp, browser_session, services, two_factor
from portal.accounts.forms import (
    DisableTwoFactorForm,
    RecoveryCodeForm,
    SignInCodeForm,
    SignInForm,
    TwoFactorCodeForm,
)
from portal.accounts.models import User
from portal.auth.policy import may, require
from portal.extensions import db, limiter
from portal.forms import show_refusal
from portal.htmx import hx_redirect, is_htmx
from portal.qr import qr_svg
from portal.web.links import safe_next

# What a session that still owes its second factor may reach: the enrolment page, signing out,
# the language switch of that page, its static files and the health check.
OPEN_BEFORE_SECOND_FACTOR = frozenset(
    {"accounts.two_factor", "accounts.sign_out", "web.switch_language", "web.health", "static"}
)


@bp.before_app_request
def require_second_factor():
    """Send a session whose roles require a second factor, and that has not passed one, to
    enrolment (or, when the account has one, to the sign-in's code step)."""
    if request.endpoint in OPEN_BEFORE_SECOND_FACTOR or browser_session.second_factor_passed():
        return None
    # Read the session first: a visitor's request loads no user here.
    if session.get("_user_id") is None or not current_user.is_authenticated:
        return None
    user = current_user._get_current_object()
    if not two_factor.required_for(user, browser_session.required_roles()):
        return None
    next_url = request.full_path.rstrip("?") if request.method == "GET" else None
    if services.has_two_factor(db.session, user):
        logout_user()
        browser_session.hold_for_second_step(user)
        target = url_for("accounts.sign_in_code", next=next_url)
    else:
        target = url_for("accounts.two_factor", next=next_url)
    if is_htmx() or request.method != "GET":
        return hx_redirect(target)
    return redirect(target)


def _settings_page(user: User, status: int = 200, **forms):
    """Render the page of a confirmed two-factor sign-in, with its forms."""
    forms.setdefault("code_form", TwoFactorCodeForm())
    may_disable = may(user, "account.disable_two_factor")
    if may_disable:
        forms.setdefault("disable_form", DisableTwoFactorForm())
    return render_template(
        "accounts/two_factor.html",
        enrolled=True,
        codes_left=two_factor.recovery_codes_left(db.session, user),
        may_disable=may_disable,
        **forms,
    ), status


def _enrolment_page(user: User, form: TwoFactorCodeForm, next_url: str | None, status: int = 200):
    """Render the enrolment: the QR code, the secret to type, the form for a first code."""
    row = two_factor.begin_enrolment(db.session, user)
    uri = two_factor.provisioning_uri(user, row)
    return render_template(
        "accounts/two_factor.html",
        enrolled=False,
        required=two_factor.required_for(user, browser_session.required_roles()),
        qr=qr_svg(uri, title=_("QR code to scan with your authenticator app")),
        secret=two_factor.grouped_secret(row.secret),
        form=form,
        next=next_url,
    ), status


def _recovery_codes_page(codes: list[str], next_url: str | None):
    """Show new recovery codes, once: they are not kept in a form that can be shown again."""
    return render_template(
        "accounts/recovery_codes.html",
        codes=codes,
        continue_to=safe_next(next_url, "accounts.profile"),
    )


@bp.route("/account/two-factor", methods=["GET", "POST"], endpoint="two_factor")
@login_required
@limiter.limit("30 per hour", methods=["POST"])
def two_factor_page():
    """Turn two-factor sign-in on with an authenticator app, or show how it stands."""
    user = current_user._get_current_object()
    next_url = request.args.get("next") or request.form.get("next")
    if services.has_two_factor(db.session, user):
        if request.method == "POST":
            flash(str(two_factor.ALREADY_ENROLLED), "error")
            return redirect(url_for("accounts.two_factor"), 303)
        return _settings_page(user)
    # The secret is kept from the first visit, so that a reload shows the QR code already scanned.
    two_factor.begin_enrolment(db.session, user)
    db.session.commit()
    form = TwoFactorCodeForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.confirm_enrolment(db.session, user, form.code.data)
        except services.AccountError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            db.session.commit()
            # Other sessions ended; this one goes on, as having passed the second factor.
            browser_session.start_session(user, second_factor=True)
            flash(_("Two-factor sign-in is on."), "success")
            return _recovery_codes_page(codes, next_url)
    return _enrolment_page(user, form, next_url, 422 if form.errors else 200)


@bp.post("/account/two-factor/recovery-codes", endpoint="two_factor_recovery_codes")
@login_required
@limiter.limit("10 per hour")
def new_recovery_codes():
    """Replace the recovery codes, after a current code from the app."""
    user = current_user._get_current_object()
    if not services.has_two_factor(db.session, user):
        flash(str(two_factor.NOT_ENROLLED), "error")
        return redirect(url_for("accounts.two_factor"), 303)
    form = TwoFactorCodeForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.regenerate_recovery_codes(db.session, user, form.code.data)
        except services.AccountError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            db.session.commit()
            flash(_("New recovery codes are made; the old ones no longer work."), "success")
            return _recovery_codes_page(codes, url_for("accounts.two_factor"))
    return _settings_page(user, 422, code_form=form)


@bp.post("/account/two-factor/disable", endpoint="two_factor_disable")
@login_required
@limiter.limit("10 per hour")
def disable_two_factor():
    """Turn two-factor sign-in off, where the user's roles do not require it."""
    user = current_user._get_current_object()
    require(user, "account.disable_two_factor")
    if not services.has_two_factor(db.session, user):
        flash(str(two_factor.NOT_ENROLLED), "error")
        return redirect(url_for("accounts.two_factor"), 303)
    form = DisableTwoFactorForm()
    if form.validate_on_submit():
        try:
            two_factor.disable(db.session, user, form.current_password.data, form.code.data)
        except services.AccountError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            db.session.commit()
            flash(_("Two-factor sign-in is off."), "success")
            return redirect(url_for("accounts.profile"), 303)
    return _settings_page(user, 422, disable_form=form)


@bp.route("/account/sign-in/code", methods=["GET", "POST"], endpoint="sign_in_code")
@limiter.limit("30 per minute", methods=["POST"])
def sign_in_code():
    """Finish a sign-in with a code from the authenticator app or a recovery code."""
    next_url = request.args.get("next") or request.form.get("next")
    had_pending = browser_session.has_pending()
    user = browser_session.pending_user()
    if user is None:
        if had_pending:
            flash(_("The code was not given within 5 minutes. Sign in again."), "error")
        return redirect(url_for("accounts.sign_in", next=next_url))
    code_form, recovery_form = SignInCodeForm(), RecoveryCodeForm()
    by_recovery_code = "recovery_code" in request.form
    form = recovery_form if by_recovery_code else code_form
    status = 200
    if form.validate_on_submit():
        try:
            step = two_factor.pass_second_step(
                db.session,
                user,
                browser_session.lockout_policy(),
                code="" if by_recovery_code else form.code.data,
                recovery_code=form.recovery_code.data if by_recovery_code else "",
            )
        except services.AccountLocked as locked:
            db.session.commit()
            return _locked_out(locked, next_url)
        except two_factor.CodeRefused as refused:
            db.session.commit()  # the failure counts toward the lockout
            show_refusal(form, refused)
            status = 401
        except services.AccountError:
            db.session.rollback()
            browser_session.end_pending()
            return redirect(url_for("accounts.sign_in", next=next_url), 303)
        else:
            db.session.commit()
            browser_session.start_session(user, second_factor=True)
            if step.by_recovery_code:
                _tell_recovery_codes_left(step.recovery_codes_left)
            return redirect(safe_next(next_url, "accounts.profile"), 303)
    elif form.errors:
        status = 422
    response = make_response(
        render_template(
            "accounts/sign_in_code.html",
            code_form=code_form,
            recovery_form=recovery_form,
            by_recovery_code=by_recovery_code,
            next=next_url,
        ),
        status,
    )
    # Not signed in yet, so not covered by the rule for signed-in pages; never cached all the same.
    response.headers["Cache-Control"] = "no-store"
    return response


def _locked_out(locked: services.AccountLocked, next_url: str | None):
    browser_session.end_pending()
    flash(
        _(
            "Too many failed attempts. Try again after %(time)s, or reset your password.",
            time=format_time(locked.until, "short"),
        ),
        "error",
    )
    return render_template(
        "accounts/sign_in.html", form=SignInForm(formdata=None), next=next_url
    ), 429


def _tell_recovery_codes_left(left: int) -> None:
    if left == 0:
        flash(
            _("You used your last recovery code. Make new ones now, from your account page."),
            "warning",
        )
        return
    flash(
        ngettext(
            "You signed in with a recovery code, which no longer works: %(num)d code is left.",
            "You signed in with a recovery code, which no longer works: %(num)d codes are left.",
            left,
        ),
        "warning",
    )
