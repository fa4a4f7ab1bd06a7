"""Account pages: sign-up, verification, sign-in and out, password reset and change.

The two-factor pages are in two_factor_views, imported at the end of this module.
"""

from __future__ import annotations

from flask import (
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_time
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from portal.accounts import bp, browser_session, services, tokens
from portal.accounts.forms import (
    ROLE_LABELS,
    ChangePasswordForm,
    ForgotPasswordForm,
    ResetPasswordForm,
    SignInForm,
    SignUpForm,
)
from portal.accounts.models import Role, User
from portal.extensions import db, limiter, login_manager
from portal.forms import EmptyForm, show_refusal
from portal.htmx import is_htmx
from portal.web.i18n import select_locale
from portal.web.links import safe_next

# The address just confirmed from its link, written into the sign-in form that follows.
SIGN_IN_ADDRESS_KEY = "sign_in_address"

login_manager.login_view = "accounts.sign_in"
login_manager.login_message = None


@login_manager.unauthorized_handler
def ask_to_sign_in():
    """Send a visitor to sign-in; htmx gets a 401 that makes it load the whole sign-in page."""
    target = url_for("accounts.sign_in", next=request.full_path.rstrip("?"))
    if is_htmx():
        page = safe_next(request.headers.get("HX-Current-URL", "").partition(request.host)[2])
        response = make_response("", 401)
        response.headers["HX-Redirect"] = url_for("accounts.sign_in", next=page)
        return response
    return redirect(target)


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Return the user of a session whose version is still current."""
    user_id, _sep, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_version != int(version):
        return None
    return user


def _start_session(user: User, *, second_factor: bool = False) -> None:
    """Begin a fresh session for the user: nothing from the visitor's session survives."""
    browser_session.start_session(user, second_factor=second_factor)


def _ask_for_second_step(user: User, next_url: str | None):
    """Keep the correct password pending and ask for the code from the authenticator app."""
    browser_session.hold_for_second_step(user)
    target = url_for("accounts.sign_in_code", next=safe_next(next_url, "accounts.profile"))
    return redirect(target, 303)


@bp.route("/account/sign-up", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])
def sign_up():
    """Create an account; a verification link is sent by e-mail.

    The answer never says whether the address already has an account: its owner is told by
    e-mail instead, and nobody is signed in until the address is confirmed.
    """
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            services.register_user(
                db.session,
                email=form.email.data,
                password=form.password.data,
                full_name=form.full_name.data,
                locale=select_locale(),
            )
        except services.AccountError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            db.session.commit()
            return render_template("accounts/sign_up_sent.html", email=form.email.data)
    return render_template("accounts/sign_up.html", form=form), 422 if form.errors else 200


@bp.get("/account/verify/<token>")
def verify_email(token: str):
    """Confirm the e-mail address from the link we sent."""
    try:
        user = services.verify_email(db.session, token, current_app.config["EMAIL_TOKEN_MAX_AGE"])
    except tokens.TokenExpired:
        return _link_problem(_("This link has expired. Sign in and ask for a new one."))
    except tokens.TokenInvalid:
        return _link_problem(_("This link is not valid or was already used."))
    db.session.commit()
    flash(_("Your e-mail address is confirmed."), "success")
    if current_user.is_authenticated and current_user.id == user.id:
        return redirect(url_for("accounts.profile"))
    if not current_user.is_authenticated:
        session[SIGN_IN_ADDRESS_KEY] = user.email
    return redirect(url_for("accounts.sign_in"))


def _link_problem(message: str):
    return render_template("accounts/link_problem.html", message=message), 400


@bp.post("/account/verify/resend")
@login_required
@limiter.limit("5 per hour")
def resend_verification():
    """Send the verification link again."""
    form = EmptyForm()
    if form.validate_on_submit() and not current_user.is_verified:
        services.send_verification(db.session, current_user)
        db.session.commit()
        flash(_("A new link was sent to %(email)s.", email=current_user.email), "success")
    return redirect(url_for("accounts.profile"), 303)


@bp.route("/account/sign-in", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def sign_in():
    """Open a session with e-mail and password."""
    form = SignInForm()
    next_url = request.args.get("next") or request.form.get("next")
    if form.validate_on_submit():
        try:
            user = services.authenticate(
                db.session, form.email.data, form.password.data, browser_session.lockout_policy()
            )
        except services.AccountLocked as locked:
            db.session.commit()
            flash(
                _(
                    "Too many failed attempts. Try again after %(time)s, or reset your password.",
                    time=format_time(locked.until, "short"),
                ),
                "error",
            )
            return render_template("accounts/sign_in.html", form=form, next=next_url), 429
        db.session.commit()
        if user is None:
            flash(_("E-mail address or password is not correct."), "error")
            return render_template("accounts/sign_in.html", form=form, next=next_url), 401
        if services.has_two_factor(db.session, user):
            return _ask_for_second_step(user, next_url)
        _start_session(user)
        return redirect(safe_next(next_url, "accounts.profile"), 303)
    if request.method == "GET":
        form.email.data = session.pop(SIGN_IN_ADDRESS_KEY, None)
    status = 422 if form.errors else 200
    return render_template("accounts/sign_in.html", form=form, next=next_url), status


@bp.post("/account/sign-out")
@login_required
def sign_out():
    """End this session and every other session of the account."""
    if EmptyForm().validate_on_submit():
        services.sign_out(db.session, current_user._get_current_object())
        db.session.commit()
        logout_user()
        session.clear()
        flash(_("You are signed out."), "success")
    return redirect(url_for("web.home"), 303)


@bp.route("/account/forgot-password", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
def forgot_password():
    """Send a reset link; the answer never says whether the address has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.request_password_reset(db.session, form.email.data)
        db.session.commit()
        return render_template("accounts/reset_sent.html", email=form.email.data)
    status = 422 if form.errors else 200
    return render_template("accounts/forgot_password.html", form=form), status


@bp.route("/account/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Choose a new password from a reset link."""
    max_age = current_app.config["RESET_TOKEN_MAX_AGE"]
    try:
        services.user_for_reset(db.session, token, max_age)
    except tokens.TokenExpired:
        return _link_problem(_("This link has expired. Ask for a new one."))
    except tokens.TokenInvalid:
        return _link_problem(_("This link is not valid or was already used."))
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            user = services.reset_password(db.session, token, form.password.data, max_age)
        except services.AccountError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            db.session.commit()
            if services.has_two_factor(db.session, user):
                # The link proves the inbox, not the second factor: the code is still asked.
                response = _ask_for_second_step(user, None)
            else:
                _start_session(user)
                response = redirect(url_for("accounts.profile"), 303)
            flash(_("Your password is changed."), "success")
            return response
    return render_template("accounts/reset_password.html", form=form), 422 if form.errors else 200


@bp.get("/account")
@login_required
def profile():
    """Show the account: address, verification, roles and associations."""
    from portal.organisations.forms import MEMBER_ROLE_LABELS, STATUS_LABELS
    from portal.organisations.services import associations_of

    return render_template(
        "accounts/profile.html",
        associations=associations_of(db.session, current_user),
        role_names=[str(ROLE_LABELS[role]) for role in Role if role in current_user.roles],
        member_role_labels=MEMBER_ROLE_LABELS,
        status_labels=STATUS_LABELS,
    )


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change the password; every other session of the account ends."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                db.session,
                current_user._get_current_object(),
                form.current_password.data,
                form.password.data,
            )
        except services.AccountError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            db.session.commit()
            _start_session(
                current_user._get_current_object(),
                second_factor=browser_session.second_factor_passed(),
            )
            flash(_("Your password is changed. Other sessions are signed out."), "success")
            return redirect(url_for("accounts.profile"), 303)
    return render_template("accounts/change_password.html", form=form), 422 if form.errors else 200
