"""Association pages: profile, members and invitations, and the staff verification list."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.accounts import tokens
from portal.auth.policy import may, require
from portal.extensions import account_or_address, configured_limit, db, limiter
from portal.forms import EmptyForm, choices, query_text, show_refusal
from portal.htmx import is_htmx, render_page_or_fragment
from portal.organisations import bp, services
from portal.organisations.forms import (
    MEMBER_ROLE_LABELS,
    STATUS_LABELS,
    AssociationFilterForm,
    AssociationForm,
    InvitationForm,
    MemberRoleForm,
    VerificationForm,
)
from portal.organisations.models import Invitation
from portal.organisations.vocabulary import FIELDS_OF_WORK, LEGAL_FORMS, TARGET_GROUPS
from portal.pagination import paginate
from portal.strategy.services import list_regions
from portal.web.errors import log_denial

STAFF_PAGE_SIZE = 50
LABELS = {
    "member_roles": MEMBER_ROLE_LABELS,
    "statuses": STATUS_LABELS,
    "legal_forms": LEGAL_FORMS,
    "fields_of_work": FIELDS_OF_WORK,
    "target_groups": TARGET_GROUPS,
}


def load_association(association_id: int, action: str):
    """Return the association if the user may do `action` to it; others get 404."""
    association = services.get_association(db.session, association_id)
    if association is None:
        abort(404)
    require(current_user, action, association, hide=True)
    return association


def _profile_form(**kwargs) -> AssociationForm:
    form = AssociationForm(**kwargs)
    form.set_region_choices(list_regions(db.session), str(get_locale()))
    return form


@bp.route("/associations/new", methods=["GET", "POST"])
@login_required
def create():
    """Register an association; it awaits verification by staff."""
    if not may(current_user, "association.create"):
        flash(_("Confirm your e-mail address before registering an association."), "error")
        return redirect(url_for("accounts.profile"))
    form = _profile_form()
    if form.validate_on_submit():
        try:
            association = services.create_association(
                db.session, form.profile_data(), creator=current_user
            )
        except services.AssociationError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            db.session.commit()
            flash(_("The association is registered and awaits verification."), "success")
            return redirect(url_for("organisations.detail", association_id=association.id), 303)
    status = 422 if form.errors else 200
    return render_template("organisations/edit.html", form=form, association=None), status


@bp.get("/associations/<int:association_id>")
@login_required
def detail(association_id: int):
    """Show the association's profile and verification status."""
    association = load_association(association_id, "association.view")
    return render_template(
        "organisations/detail.html",
        association=association,
        labels=LABELS,
        can_edit=may(current_user, "association.edit", association),
        can_manage=may(current_user, "association.manage_members", association),
        can_review=may(current_user, "association.review"),
    )


@bp.route("/associations/<int:association_id>/edit", methods=["GET", "POST"])
@login_required
def edit(association_id: int):
    """Change the association's profile."""
    association = load_association(association_id, "association.edit")
    if request.method == "GET":
        form = _profile_form(data=services.profile_values(association))
    else:
        form = _profile_form()
    if form.validate_on_submit():
        try:
            services.update_association(
                db.session, association, form.profile_data(), actor=current_user
            )
        except services.AssociationError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            db.session.commit()
            flash(_("The profile is saved."), "success")
            return redirect(url_for("organisations.detail", association_id=association.id), 303)
    status = 422 if form.errors else 200
    return render_template("organisations/edit.html", form=form, association=association), status


# --- members --------------------------------------------------------------------------------


def _members_page(association, invite_form=None, status: int = 200):
    members, invitations = services.members_with_details(db.session, association)
    context = {
        "association": association,
        "members": members,
        "invitations": invitations,
        "invite_form": invite_form or InvitationForm(),
        "role_form": MemberRoleForm,
        "action_form": EmptyForm(),
        "labels": LABELS,
        "can_manage": may(current_user, "association.manage_members", association),
    }
    body = render_page_or_fragment(
        "organisations/members.html", "organisations/_members.html", **context
    )
    return body, status


def _after_member_change(association):
    """Answer htmx with the refreshed members region; a plain form goes back to the page."""
    if is_htmx():
        return _members_page(association)
    return redirect(url_for("organisations.members", association_id=association.id), 303)


@bp.get("/associations/<int:association_id>/members")
@login_required
def members(association_id: int):
    """List the members and pending invitations."""
    association = load_association(association_id, "association.view")
    return _members_page(association)


@bp.post("/associations/<int:association_id>/members/invite")
@login_required
@limiter.limit(configured_limit("RATELIMIT_MEMBER_INVITATION"), key_func=account_or_address)
def invite(association_id: int):
    """Invite someone to join by e-mail."""
    association = load_association(association_id, "association.manage_members")
    form = InvitationForm()
    if not form.validate_on_submit():
        return _members_page(association, form, 422)
    try:
        services.invite_member(
            db.session, association, form.email.data, form.role.data, actor=current_user
        )
    except services.AssociationError as error:
        db.session.rollback()
        show_refusal(form, error)
        return _members_page(association, form, 422)
    db.session.commit()
    flash(_("An invitation was sent to %(email)s.", email=form.email.data), "success")
    return _after_member_change(association)


@bp.post("/associations/<int:association_id>/members/<int:membership_id>/role")
@login_required
def change_role(association_id: int, membership_id: int):
    """Give a member another role."""
    association = load_association(association_id, "association.manage_members")
    membership = _membership_or_404(association, membership_id)
    form = MemberRoleForm()
    if form.validate_on_submit():
        try:
            services.change_member_role(db.session, membership, form.role.data, actor=current_user)
        except services.AssociationError as error:
            db.session.rollback()
            flash(str(error.message), "error")
        else:
            db.session.commit()
            flash(_("The role of %(name)s is saved.", name=membership.user.full_name), "success")
    return _after_member_change(association)


@bp.post("/associations/<int:association_id>/members/<int:membership_id>/remove")
@login_required
def remove_member(association_id: int, membership_id: int):
    """Remove a member from the association."""
    association = load_association(association_id, "association.manage_members")
    membership = _membership_or_404(association, membership_id)
    if EmptyForm().validate_on_submit():
        name = membership.user.full_name
        try:
            services.remove_member(db.session, membership, actor=current_user)
        except services.AssociationError as error:
            db.session.rollback()
            flash(str(error.message), "error")
        else:
            db.session.commit()
            flash(_("%(name)s is no longer a member.", name=name), "success")
    return _after_member_change(association)


@bp.post("/associations/<int:association_id>/invitations/<int:invitation_id>/revoke")
@login_required
def revoke_invitation(association_id: int, invitation_id: int):
    """Cancel a pending invitation."""
    association = load_association(association_id, "association.manage_members")
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.association_id != association.id:
        abort(404)
    if EmptyForm().validate_on_submit():
        services.revoke_invitation(db.session, invitation, actor=current_user)
        db.session.commit()
        flash(_("The invitation to %(email)s is cancelled.", email=invitation.email), "success")
    return _after_member_change(association)


def _membership_or_404(association, membership_id: int):
    try:
        return services.get_membership(db.session, association, membership_id)
    except LookupError:
        abort(404)


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@login_required
def accept_invitation(token: str):
    """Join an association from the link received by e-mail."""
    max_age = current_app.config["INVITATION_MAX_AGE"]
    try:
        invitation = services.invitation_for(db.session, token, max_age)
    except tokens.TokenExpired:
        return _invitation_problem(_("This invitation has expired. Ask for a new one."))
    except tokens.TokenInvalid:
        return _invitation_problem(_("This invitation is not valid or was already used."))
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            membership = services.accept_invitation(db.session, token, max_age, user=current_user)
        except services.AssociationError as error:
            db.session.rollback()
            log_denial(403)
            return _invitation_problem(str(error.message), 403)
        db.session.commit()
        flash(
            _(
                "You joined %(name)s.",
                name=invitation.association.text_for("name", str(get_locale())),
            ),
            "success",
        )
        return redirect(
            url_for("organisations.detail", association_id=membership.association_id), 303
        )
    return render_template(
        "organisations/invitation.html", invitation=invitation, form=form, labels=LABELS
    )


def _invitation_problem(message: str, status: int = 400):
    return render_template("accounts/link_problem.html", message=message), status


# --- staff ----------------------------------------------------------------------------------


@bp.get("/staff/associations")
@login_required
def staff_list():
    """List associations for staff, filtered by region and status, searchable."""
    require(current_user, "association.review")
    # The htmx fragment holds only the rows: it needs neither the region choices nor the counts.
    regions = [] if is_htmx() else list_regions(db.session)
    filters_form = AssociationFilterForm(request.args)
    locale = str(get_locale())
    filters_form.region.choices = choices(
        [("", _("All regions"))]
        + [(region.code, region.text_for("name", locale)) for region in regions]
    )
    filters = services.AssociationFilters(
        text=query_text(filters_form.q.data, 100),
        region_code=query_text(filters_form.region.data, 60),
        status=query_text(filters_form.status.data, 20),
    )
    page = paginate(
        db.session,
        services.staff_query(filters),
        request.args.get("page", 1, type=int),
        STAFF_PAGE_SIZE,
    )
    return render_page_or_fragment(
        "organisations/staff_list.html",
        "organisations/_staff_rows.html",
        page=page,
        filters_form=filters_form,
        counts=None if is_htmx() else services.status_counts(db.session),
        labels=LABELS,
    )


@bp.route("/staff/associations/<int:association_id>/verification", methods=["GET", "POST"])
@login_required
def verification(association_id: int):
    """Let staff verify an association or reject it with a reason."""
    require(current_user, "association.review")
    association = services.load_for_staff(db.session, association_id) or abort(404)
    form = VerificationForm()
    if form.validate_on_submit():
        try:
            services.decide_verification(
                db.session, association, form.decision.data, form.reason.data, actor=current_user
            )
        except services.AssociationError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            db.session.commit()
            flash(_("The decision is saved and the association is told."), "success")
            return redirect(url_for("organisations.staff_list"), 303)
    status = 422 if form.errors else 200
    return render_template(
        "organisations/verification.html", association=association, form=form, labels=LABELS
    ), status
