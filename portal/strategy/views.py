"""Public pages of the action plan, and the staff page that links projects to axes."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.auth.policy import require
from portal.extensions import db
from portal.strategy import bp, services
from portal.strategy.forms import ProjectAxesForm


@bp.get("/plan")
def axes():
    """Show the strategic axes with the projects that serve each."""
    return render_template(
        "strategy/axes.html",
        axes=services.list_axes(db.session),
        unlinked=services.projects_without_axis(db.session),
    )


@bp.get("/plan/projects/<int:number>")
def project(number: int):
    """Show one project of the action plan."""
    plan_project = services.get_project(db.session, number) or abort(404)
    return render_template("strategy/project.html", project=plan_project, form=None)


@bp.route("/plan/projects/<int:number>/axes", methods=["GET", "POST"])
@login_required
def edit_project_axes(number: int):
    """Let staff choose which axes a plan project serves."""
    require(current_user, "strategy.edit_links")
    plan_project = services.get_project(db.session, number) or abort(404)
    # Current axes fill the form on GET only: a POST with no box ticked must not keep them.
    current = [axis.code for axis in plan_project.axes] if request.method == "GET" else None
    form = ProjectAxesForm(axes=current)
    form.set_axis_choices(services.list_axes(db.session), str(get_locale()))
    if form.validate_on_submit():
        try:
            services.set_project_axes(db.session, plan_project, form.axes.data, actor=current_user)
        except services.StrategyError:
            db.session.rollback()
            form.axes.errors = [_("Choose at least one axis.")]
        else:
            db.session.commit()
            flash(_("The project's axes are saved."), "success")
            return redirect(url_for("strategy.project", number=number), 303)
    status = 422 if form.errors else 200
    return render_template("strategy/project.html", project=plan_project, form=form), status
