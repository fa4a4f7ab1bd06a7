"""Administration of users and their roles."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, or_, select

from portal.accounts import bp, services, two_factor
from portal.accounts.forms import ROLE_LABELS, RolesForm, TwoFactorResetForm, UserSearchForm
from portal.accounts.models import Role, User
from portal.auth.policy import require
from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.pagination import paginate

PAGE_SIZE = 50


@bp.get("/admin/users")
@login_required
def admin_users():
    """List accounts with their roles, searchable by name or e-mail."""
    require(current_user, "account.manage_users")
    search = UserSearchForm(request.args)
    query = select(User).order_by(User.created_at.desc(), User.id.desc())
    term = (search.q.data or "").strip()
    if term and search.validate():
        pattern = f"%{term.lower()}%"
        query = query.where(or_(func.lower(User.full_name).like(pattern), User.email.like(pattern)))
    page = paginate(db.session, query, request.args.get("page", 1, type=int), PAGE_SIZE)
    return render_page_or_fragment(
        "admin/users.html",
        "admin/_user_rows.html",
        page=page,
        search=search,
        role_labels=ROLE_LABELS,
    )


@bp.route("/admin/users/<int:user_id>/roles", methods=["GET", "POST"])
@login_required
def admin_user_roles(user_id: int):
    """Grant or remove roles of one account (returns its row for htmx)."""
    require(current_user, "account.manage_users")
    user = db.get_or_404(User, user_id)
    form = RolesForm(roles=[role.value for role in user.roles])
    if form.validate_on_submit():
        wanted = {Role(value) for value in form.roles.data}
        try:
            for role in Role:
                if role in wanted:
                    services.grant_role(db.session, user, role, actor=current_user)
                else:
                    services.remove_role(db.session, user, role, actor=current_user)
        except services.AccountError as error:
            db.session.rollback()
            flash(str(error.message), "error")
        else:
            db.session.commit()
            flash(_("Roles of %(name)s saved.", name=user.full_name), "success")
        return redirect(url_for("accounts.admin_user_roles", user_id=user.id), 303)
    return _user_page(user, form, TwoFactorResetForm(formdata=None))


def _user_page(
    user: User,
    form: RolesForm,
    reset_form: TwoFactorResetForm,
    status: int = 200,
    reset_error: str | None = None,
):
    authenticator = two_factor.two_factor_of(db.session, user)
    return render_template(
        "admin/user_roles.html",
        user=user,
        form=form,
        role_labels=ROLE_LABELS,
        authenticator=authenticator,
        codes_left=two_factor.recovery_codes_left(db.session, user) if authenticator else 0,
        reset_form=reset_form,
        reset_error=reset_error,
    ), status


@bp.post("/admin/users/<int:user_id>/two-factor/reset")
@login_required
def admin_reset_two_factor(user_id: int):
    """Turn off the two-factor sign-in of someone who lost their phone and recovery codes."""
    require(current_user, "account.manage_users")
    user = db.get_or_404(User, user_id)
    reset_form = TwoFactorResetForm()
    refusal = None
    if reset_form.validate_on_submit():
        try:
            two_factor.reset_by_admin(
                db.session, user, actor=current_user, reason=reset_form.reason.data
            )
        except services.AccountError as error:
            db.session.rollback()
            refusal = error.message
        else:
            db.session.commit()
            flash(_("Two-factor sign-in of %(name)s is reset.", name=user.full_name), "success")
            return redirect(url_for("accounts.admin_user_roles", user_id=user.id), 303)
    roles = RolesForm(formdata=None, roles=[role.value for role in user.roles])
    return _user_page(user, roles, reset_form, status=422, reset_error=refusal)
