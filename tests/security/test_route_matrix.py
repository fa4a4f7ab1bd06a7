"""The permission harness: every route of the URL map, each method, with and without htmx, for
each actor, answers as the table below says (CHECKLIST S01, S02, S03; ASVS 4.1.1, 4.1.3, 4.2.1).

A route added to the portal without a row here fails; so does a row whose route is gone.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from html import escape
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Response

from portal.auth.policy import PUBLIC_ENDPOINTS
from portal.extensions import db
from tests.conftest import QueryCounter
from tests.security.conftest import ACTORS, COLLECTION_APP, ROUTES, request_as, routes_of

# Sweeps every route through HTTP: run on PostgreSQL only in CI (see .ci/run).
pytestmark = pytest.mark.sweep

SIGN_IN_PATH = "/account/sign-in"
WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE)\b", re.I)
LOGIN = "302 to sign-in"  # Flask-Login's answer to a visitor: 302 to the sign-in page with ?next=


class Hx(NamedTuple):
    """A route that answers a plain request and an htmx request differently."""

    plain: int | str
    htmx: int | str


V, A, B, S, AD, E, EU, EC = ACTORS  # visitor, owners of A and B, staff, admin, evaluators
EVERYONE_200 = {V: 200, A: 200, B: 200, S: 200, AD: 200}
EVERYONE_422 = {V: 422, A: 422, B: 422, S: 422, AD: 422}  # an empty form is refused
SIGNED_IN = {V: LOGIN, A: 200, B: 200, S: 200, AD: 200}
STAFF_ONLY = {V: LOGIN, A: 403, B: 403, S: 200, AD: 200}
ADMIN_ONLY = {V: LOGIN, A: 403, B: 403, S: 403, AD: 200}
MEMBERS_OF_A = {V: LOGIN, A: Hx(303, 200), B: 404, S: 404, AD: 404}
STAFF_422 = {V: LOGIN, A: 403, B: 403, S: 422, AD: 422}
STAFF_DONE = {V: LOGIN, A: 403, B: 403, S: 303, AD: 303}
READ_A = {V: LOGIN, A: 200, B: 404, S: 200, AD: 200}  # members of A and staff read
EDIT_A_422 = {V: LOGIN, A: 422, B: 404, S: 403, AD: 403}  # members of A edit; empty is refused
EDIT_A_DONE = {V: LOGIN, A: Hx(303, 200), B: 404, S: 403, AD: 403}
NOT_EVALUATORS = {E: 403, EU: 403, EC: 403}  # staff pages: evaluators are not staff
EVALUATORS_200 = {E: 200, EU: 200, EC: 200}
HIDDEN = {B: 404, E: 404, EU: 404, EC: 404}  # A's object does not exist for outsiders

# (endpoint, method) -> {actor: expected answer}. POSTs carry a valid CSRF token and no fields.
# Outside the review pages, evaluators are outsiders to association A: rows in BEFORE_REVIEW give
# them what the owner of B gets (they read applications only through their reviews).
BEFORE_REVIEW = {
    ("web.home", "GET"): EVERYONE_200,
    ("web.health", "GET"): EVERYONE_200,
    ("web.switch_language", "POST"): {V: 303, A: 303, B: 303, S: 303, AD: 303},
    ("strategy.axes", "GET"): EVERYONE_200,
    ("strategy.project", "GET"): EVERYONE_200,
    ("strategy.edit_project_axes", "GET"): STAFF_ONLY,
    ("strategy.edit_project_axes", "POST"): {V: LOGIN, A: 403, B: 403, S: 422, AD: 422},
    # An empty sign-in form is shown again with its errors (200, not 422).
    ("accounts.sign_in", "GET"): EVERYONE_200,
    ("accounts.sign_in", "POST"): EVERYONE_422,
    # A signed-in user has an account already: sent to the home page.
    ("accounts.sign_up", "GET"): {V: 200, A: 302, B: 302, S: 302, AD: 302},
    ("accounts.sign_up", "POST"): {V: 422, A: 302, B: 302, S: 302, AD: 302},
    # The link verifies someone else's address, then offers sign-in (302 without ?next=).
    ("accounts.verify_email", "GET"): {V: 302, A: 302, B: 302, S: 302, AD: 302},
    ("accounts.resend_verification", "POST"): {V: LOGIN, A: 303, B: 303, S: 303, AD: 303},
    ("accounts.sign_out", "POST"): {V: LOGIN, A: 303, B: 303, S: 303, AD: 303},
    # An empty address is shown again with its error (200, not 422).
    ("accounts.forgot_password", "GET"): EVERYONE_200,
    ("accounts.forgot_password", "POST"): EVERYONE_422,
    ("accounts.reset_password", "GET"): EVERYONE_200,
    ("accounts.reset_password", "POST"): {V: 422, A: 422, B: 422, S: 422, AD: 422},
    ("accounts.profile", "GET"): SIGNED_IN,
    ("accounts.change_password", "GET"): SIGNED_IN,
    ("accounts.change_password", "POST"): {V: LOGIN, A: 422, B: 422, S: 422, AD: 422},
    # Two-factor sign-in: nobody of the world has it on, so the enrolment page shows the QR code
    # to everyone signed in, and an empty first code is refused.
    ("accounts.two_factor", "GET"): SIGNED_IN,
    ("accounts.two_factor", "POST"): {V: LOGIN, A: 422, B: 422, S: 422, AD: 422},
    # Nothing to replace: sent back to the enrolment page.
    ("accounts.two_factor_recovery_codes", "POST"): {V: LOGIN, A: 303, B: 303, S: 303, AD: 303},
    # Staff and admin must keep it (403); the others have nothing to turn off (303).
    ("accounts.two_factor_disable", "POST"): {V: LOGIN, A: 303, B: 303, S: 403, AD: 403},
    # The code step of a sign-in: with no password waiting for its code, back to sign-in.
    ("accounts.sign_in_code", "GET"): {V: 302, A: 302, B: 302, S: 302, AD: 302},
    ("accounts.sign_in_code", "POST"): {V: 302, A: 302, B: 302, S: 302, AD: 302},
    ("accounts.admin_users", "GET"): ADMIN_ONLY,
    ("accounts.admin_user_roles", "GET"): ADMIN_ONLY,
    # No role ticked: the admin removes every role of the editor of A, then sees the page again.
    ("accounts.admin_user_roles", "POST"): {V: LOGIN, A: 403, B: 403, S: 403, AD: 303},
    # No reason given: refused beside the field, nothing reset.
    ("accounts.admin_reset_two_factor", "POST"): {V: LOGIN, A: 403, B: 403, S: 403, AD: 422},
    ("organisations.create", "GET"): SIGNED_IN,
    ("organisations.create", "POST"): {V: LOGIN, A: 422, B: 422, S: 422, AD: 422},
    ("organisations.detail", "GET"): {V: LOGIN, A: 200, B: 404, S: 200, AD: 200},
    # Staff see every association but edit none of them.
    ("organisations.edit", "GET"): {V: LOGIN, A: 200, B: 404, S: 404, AD: 404},
    ("organisations.edit", "POST"): {V: LOGIN, A: 422, B: 404, S: 404, AD: 404},
    ("organisations.members", "GET"): {V: LOGIN, A: 200, B: 404, S: 200, AD: 200},
    ("organisations.invite", "POST"): {V: LOGIN, A: 422, B: 404, S: 404, AD: 404},
    # The owner's empty role change is refused by the form; the list comes back (htmx: in place).
    ("organisations.change_role", "POST"): MEMBERS_OF_A,
    ("organisations.remove_member", "POST"): MEMBERS_OF_A,
    ("organisations.revoke_invitation", "POST"): MEMBERS_OF_A,
    # The signed link is the key to the invitation page; only its addressee may accept.
    ("organisations.accept_invitation", "GET"): SIGNED_IN,
    ("organisations.accept_invitation", "POST"): {V: LOGIN, A: 403, B: 403, S: 403, AD: 403},
    ("organisations.staff_list", "GET"): STAFF_ONLY,
    ("organisations.verification", "GET"): STAFF_ONLY,
    ("organisations.verification", "POST"): {V: LOGIN, A: 403, B: 403, S: 422, AD: 422},
    # Calls: anyone reads a published call.
    ("calls.public_list", "GET"): EVERYONE_200,
    ("calls.public_page", "GET"): EVERYONE_200,
    # Building calls: staff only. POSTs with no fields are refused (422).
    ("calls.staff_list", "GET"): STAFF_ONLY,
    ("calls.create", "GET"): STAFF_ONLY,
    ("calls.create", "POST"): STAFF_422,
    ("calls.overview", "GET"): STAFF_ONLY,
    ("calls.edit", "GET"): STAFF_ONLY,
    ("calls.edit", "POST"): STAFF_422,
    ("calls.add_part", "GET"): STAFF_ONLY,
    ("calls.add_part", "POST"): STAFF_422,
    ("calls.edit_part", "GET"): STAFF_ONLY,
    ("calls.edit_part", "POST"): STAFF_422,
    ("calls.extensions", "GET"): STAFF_ONLY,
    ("calls.extensions", "POST"): STAFF_422,
    # The world's call is already published: publishing it again or archiving it is refused.
    ("calls.publish", "POST"): STAFF_422,
    ("calls.archive", "POST"): STAFF_422,
    ("calls.close", "POST"): STAFF_DONE,
    ("calls.new_version", "POST"): STAFF_DONE,
    ("calls.remove_part", "POST"): STAFF_DONE,
    # Applications of association A: its members read and edit; staff read; others get 404.
    ("applications.dashboard", "GET"): SIGNED_IN,
    ("applications.start", "GET"): SIGNED_IN,
    # No association chosen: refused.
    ("applications.start", "POST"): {V: LOGIN, A: 422, B: 422, S: 422, AD: 422},
    ("applications.overview", "GET"): READ_A,
    ("applications.section", "GET"): READ_A,
    # Every summary field sent empty: the language is refused.
    ("applications.section", "POST"): EDIT_A_422,
    # An empty context equals the saved one: nothing to save, 200.
    ("applications.autosave", "POST"): {V: LOGIN, A: 200, B: 404, S: 403, AD: 403},
    ("applications.budget", "GET"): READ_A,
    ("applications.add_budget_line", "POST"): EDIT_A_422,
    ("applications.update_budget_line", "POST"): EDIT_A_422,
    ("applications.remove_budget_line", "POST"): EDIT_A_DONE,
    ("applications.completeness", "GET"): READ_A,
    ("applications.add_plan_row", "POST"): EDIT_A_422,
    ("applications.remove_plan_row", "POST"): EDIT_A_DONE,
    ("applications.documents", "GET"): READ_A,
    # No file sent: refused with a message.
    ("applications.upload", "POST"): EDIT_A_422,
    ("applications.download", "GET"): READ_A,
    # The draft is incomplete: sent to the completeness page.
    ("applications.submit", "POST"): {V: LOGIN, A: 303, B: 404, S: 403, AD: 403},
    # A draft cannot be reopened: a message on the overview.
    ("applications.reopen", "POST"): {V: LOGIN, A: 303, B: 404, S: 403, AD: 403},
    ("applications.withdraw", "POST"): {V: LOGIN, A: 303, B: 404, S: 403, AD: 403},
    ("applications.receipt", "GET"): READ_A,
    ("applications.receipt_pdf", "GET"): READ_A,
    ("applications.staff_list", "GET"): STAFF_ONLY,
    ("applications.staff_export", "GET"): STAFF_ONLY,
    # No reference given: the empty check form.
    ("applications.receipt_check", "GET"): EVERYONE_200,
}
EXPECTED = {
    route: {**row, E: row[B], EU: row[B], EC: row[B]} for route, row in BEFORE_REVIEW.items()
}
EXPECTED |= {
    # --- review: screening (staff) ---
    # Staff only. The world's call is still open: the list and the page say screening starts at
    # the deadline; a decision or a split is refused (422).
    ("review.screening_list", "GET"): {**STAFF_ONLY, E: 403, EU: 403, EC: 403},
    ("review.split_screening", "POST"): {**STAFF_422, E: 403, EU: 403, EC: 403},
    ("review.screening", "GET"): {**STAFF_ONLY, E: 403, EU: 403, EC: 403},
    ("review.screening", "POST"): {**STAFF_422, E: 403, EU: 403, EC: 403},
    # --- review: pool, conflicts and assignments ---
    # Staff build the pool and assign; evaluators are not staff (403). The world's call is still
    # open and its application not screened: automatic or manual assignment is refused (422).
    ("review.pool", "GET"): {**STAFF_ONLY, E: 403, EU: 403, EC: 403},
    ("review.invite_evaluator", "POST"): {**STAFF_422, E: 403, EU: 403, EC: 403},
    # Removing the assigned evaluator from the pool (their unsubmitted review goes with them).
    ("review.remove_evaluator", "POST"): {**STAFF_DONE, E: 403, EU: 403, EC: 403},
    # The signed link opens the page to anyone signed in; only its addressee may accept.
    ("review.accept_evaluator_invitation", "GET"): {**SIGNED_IN, E: 200, EU: 200, EC: 200},
    ("review.accept_evaluator_invitation", "POST"): {
        **dict.fromkeys(ACTORS, 403),
        V: LOGIN,
    },
    # Evaluators' own ties; the world's tie is the assigned evaluator's: others get 404.
    ("review.ties", "GET"): {**STAFF_ONLY, S: 403, AD: 403, E: 200, EU: 200, EC: 200},
    ("review.ties", "POST"): {**STAFF_ONLY, S: 403, AD: 403, E: 422, EU: 422, EC: 422},
    ("review.remove_tie", "POST"): {
        **STAFF_ONLY,
        S: 403,
        AD: 403,
        E: Hx(303, 200),
        EU: 404,
        EC: 404,
    },
    # Pool members see the page (the call is open: no list yet); the unconfirmed form is refused.
    ("review.declare_conflicts", "GET"): {**STAFF_ONLY, S: 403, AD: 403, E: 200, EU: 200, EC: 200},
    ("review.declare_conflicts", "POST"): {
        **STAFF_ONLY,
        S: 403,
        AD: 403,
        E: 422,
        EU: 422,
        EC: 422,
    },
    ("review.assignments", "GET"): {**STAFF_ONLY, E: 403, EU: 403, EC: 403},
    ("review.assign_automatically", "POST"): {**STAFF_422, E: 403, EU: 403, EC: 403},
    ("review.add_assignment", "POST"): {**STAFF_422, E: 403, EU: 403, EC: 403},
    # The world's review is not submitted: staff remove it (htmx: the application's row again).
    ("review.remove_assignment", "POST"): {
        **STAFF_DONE,
        S: Hx(303, 200),
        AD: Hx(303, 200),
        E: 403,
        EU: 403,
        EC: 403,
    },
    # No evaluator chosen: refused.
    ("review.move_assignment", "POST"): {**STAFF_422, E: 403, EU: 403, EC: 403},
    # --- review: scoring (evaluators) ---
    # Evaluators' own pages; staff are not evaluators (403). The review opens only to the assigned
    # evaluator: everyone else gets 404, as if it did not exist.
    ("review.dashboard", "GET"): {**STAFF_ONLY, S: 403, AD: 403, E: 200, EU: 200, EC: 200},
    ("review.score_page", "GET"): {
        V: LOGIN,
        A: 404,
        B: 404,
        S: 404,
        AD: 404,
        EU: 404,
        EC: 404,
        E: 200,
    },
    ("review.review_document", "GET"): {
        V: LOGIN,
        A: 404,
        B: 404,
        S: 404,
        AD: 404,
        EU: 404,
        EC: 404,
        E: 200,
    },
    # An empty score sent from version 0 while version 1 holds a 5: a stale edit, nothing saved.
    ("review.save_score", "POST"): {
        V: LOGIN,
        A: 404,
        B: 404,
        S: 404,
        AD: 404,
        EU: 404,
        EC: 404,
        E: 409,
    },
    # Empty comments equal the saved ones: nothing to save.
    ("review.save_comments", "POST"): {
        V: LOGIN,
        A: 404,
        B: 404,
        S: 404,
        AD: 404,
        EU: 404,
        EC: 404,
        E: Hx(303, 200),
    },
    # One criterion is not scored yet: refused with the list of what is missing.
    ("review.submit_review", "POST"): {
        V: LOGIN,
        A: 404,
        B: 404,
        S: 404,
        AD: 404,
        EU: 404,
        EC: 404,
        E: 422,
    },
    # Staff only; no note given (and the review is not submitted): refused.
    ("review.reopen_review", "POST"): {**STAFF_422, E: 403, EU: 403, EC: 403},
    # --- review: ranking, moderation and settings (staff) ---
    # Staff only; evaluators are refused (403). The world's application is not screened eligible:
    # the ranking is empty, moderation shows it unranked, a consensus is refused (422) like an
    # empty settings form.
    ("review.call_review", "GET"): {**STAFF_ONLY, E: 403, EU: 403, EC: 403},
    ("review.settings", "GET"): {**STAFF_ONLY, E: 403, EU: 403, EC: 403},
    ("review.settings", "POST"): {**STAFF_422, E: 403, EU: 403, EC: 403},
    ("review.ranking", "GET"): {**STAFF_ONLY, E: 403, EU: 403, EC: 403},
    ("review.ranking_export", "GET"): {**STAFF_ONLY, E: 403, EU: 403, EC: 403},
    ("review.moderation", "GET"): {**STAFF_ONLY, E: 403, EU: 403, EC: 403},
    ("review.record_consensus", "POST"): {**STAFF_422, E: 403, EU: 403, EC: 403},
    # --- training: catalogue (public) and building the programme (staff) ---
    # The world's session is published: everyone reads it and the catalogue.
    ("training.catalogue", "GET"): {**EVERYONE_200, E: 200, EU: 200, EC: 200},
    ("training.session_page", "GET"): {**EVERYONE_200, E: 200, EU: 200, EC: 200},
    # Staff only; evaluators are not staff. POSTs with no fields are refused (422).
    ("training.staff_sessions", "GET"): {**STAFF_ONLY, E: 403, EU: 403, EC: 403},
    ("training.edit_programme", "GET"): {**STAFF_ONLY, E: 403, EU: 403, EC: 403},
    ("training.edit_programme", "POST"): {**STAFF_422, E: 403, EU: 403, EC: 403},
    ("training.edit_module", "GET"): {**STAFF_ONLY, E: 403, EU: 403, EC: 403},
    ("training.edit_module", "POST"): {**STAFF_422, E: 403, EU: 403, EC: 403},
    ("training.edit_session", "GET"): {**STAFF_ONLY, E: 403, EU: 403, EC: 403},
    ("training.edit_session", "POST"): {**STAFF_422, E: 403, EU: 403, EC: 403},
    # --- training: enrolment (members of an association) and the seats (staff) ---
    # A's owner and B's owner each enrol their own association; an empty form is refused (422).
    ("training.enrol", "GET"): {**SIGNED_IN, S: 403, AD: 403, E: 403, EU: 403, EC: 403},
    ("training.enrol", "POST"): {**EVERYONE_422, V: LOGIN, S: 403, AD: 403, **NOT_EVALUATORS},
    ("training.association_enrolments", "GET"): {**READ_A, E: 404, EU: 404, EC: 404},
    # The world's enrolment is A's: its members and staff cancel it (303), others never see it.
    ("training.cancel_enrolment", "POST"): {**READ_A, A: 303, S: 303, AD: 303, **HIDDEN},
    ("training.staff_enrolments", "GET"): {**STAFF_ONLY, **NOT_EVALUATORS},
    ("training.reserve_seats", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    ("training.release_reservation", "POST"): {**STAFF_DONE, **NOT_EVALUATORS},
    ("training.cancel_session", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    # The participant's pass is opened by its signed link, without an account.
    ("training.participant_pass", "GET"): {**EVERYONE_200, **EVALUATORS_200},
    # --- training: check-in, attendance, certificates (staff) and their verification ---
    ("training.check_in", "GET"): {**STAFF_ONLY, **NOT_EVALUATORS},
    ("training.check_in", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    ("training.roster", "GET"): {**STAFF_ONLY, **NOT_EVALUATORS},
    ("training.mark_attendance", "POST"): {**STAFF_DONE, **NOT_EVALUATORS},
    ("training.issue_certificates", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    ("training.certificate_pdf", "GET"): {**READ_A, **HIDDEN},
    ("training.certificate_by_link", "GET"): {**EVERYONE_200, **EVALUATORS_200},
    ("training.verify_certificate", "GET"): {**EVERYONE_200, **EVALUATORS_200},
    ("training.verify_certificate_code", "GET"): {**EVERYONE_200, **EVALUATORS_200},
    # --- training: statistics (staff) and the participants' survey (signed link) ---
    ("training.statistics", "GET"): {**STAFF_ONLY, **NOT_EVALUATORS},
    ("training.statistics_export", "GET"): {**STAFF_ONLY, **NOT_EVALUATORS},
    ("training.survey_results", "GET"): {**STAFF_ONLY, **NOT_EVALUATORS},
    ("training.survey", "GET"): {**EVERYONE_200, **EVALUATORS_200},
    ("training.survey", "POST"): {**EVERYONE_422, E: 422, EU: 422, EC: 422},
    # --- results: decisions and the committee (staff) ---
    # The world's call has no committee yet: a sitting is saved (303), the proposal applied
    # (303); submitting, approving, returning and publishing are refused (422), no minutes (404).
    ("results.decisions_page", "GET"): {**STAFF_ONLY, **NOT_EVALUATORS},
    # The world's application is a draft, outside the ranking: htmx, which answers with its
    # card in the ranking, finds none (404).
    ("results.record_decision", "POST"): {
        **STAFF_422,
        S: Hx(422, 404),
        AD: Hx(422, 404),
        **NOT_EVALUATORS,
    },
    ("results.apply_proposal", "POST"): {**STAFF_DONE, **NOT_EVALUATORS},
    ("results.committee", "GET"): {**STAFF_ONLY, **NOT_EVALUATORS},
    ("results.save_sitting", "POST"): {**STAFF_DONE, **NOT_EVALUATORS},
    ("results.upload_minutes", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    ("results.minutes", "GET"): {**STAFF_ONLY, S: 404, AD: 404, **NOT_EVALUATORS},
    ("results.submit_committee", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    ("results.approve_committee", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    ("results.return_committee", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    ("results.withdraw_award", "GET"): {**STAFF_ONLY, **NOT_EVALUATORS},
    ("results.withdraw_award", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    # --- results: publication, appeals (A's published award), public results, open data ---
    ("results.publish_preview", "GET"): {**STAFF_ONLY, **NOT_EVALUATORS},
    ("results.publish", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    ("results.appeal", "GET"): {**READ_A, S: 404, AD: 404, **HIDDEN},
    ("results.appeal", "POST"): {**EDIT_A_422, S: 404, AD: 404, **HIDDEN},
    ("results.appeals", "GET"): {**STAFF_ONLY, **NOT_EVALUATORS},
    ("results.answer_appeal", "GET"): {**STAFF_ONLY, **NOT_EVALUATORS},
    ("results.answer_appeal", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    ("results.public_list", "GET"): {**EVERYONE_200, **EVALUATORS_200},
    ("results.public_call", "GET"): {**EVERYONE_200, **EVALUATORS_200},
    ("results.open_data", "GET"): {**EVERYONE_200, **EVALUATORS_200},
    ("results.open_data_call", "GET"): {**EVERYONE_200, **EVALUATORS_200},
    # --- funded actions (staff edit; A's members read and report) and dashboards ---
    # An empty links form clears the links (303); removing the unpaid tranche or the untouched
    # report is done (303); accepting a report not sent is refused with a message (303).
    ("actions.staff_list", "GET"): {**STAFF_ONLY, **NOT_EVALUATORS},
    ("actions.staff_action", "GET"): {**STAFF_ONLY, **NOT_EVALUATORS},
    ("actions.update_agreement", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    ("actions.update_links", "POST"): {**STAFF_DONE, **NOT_EVALUATORS},
    ("actions.add_tranche", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    ("actions.update_tranche", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    ("actions.remove_tranche", "POST"): {**STAFF_DONE, **NOT_EVALUATORS},
    # An empty milestone form is refused (422); the done button without `done=1` marks the
    # milestone not done (303), and removing it is done (303).
    ("actions.add_milestone", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    ("actions.update_milestone", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    ("actions.set_milestone_done", "POST"): {**STAFF_DONE, **NOT_EVALUATORS},
    ("actions.remove_milestone", "POST"): {**STAFF_DONE, **NOT_EVALUATORS},
    ("actions.schedule_report", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    ("actions.unschedule_report", "POST"): {**STAFF_DONE, **NOT_EVALUATORS},
    ("actions.accept_report", "POST"): {**STAFF_DONE, **NOT_EVALUATORS},
    ("actions.return_report", "POST"): {**STAFF_422, **NOT_EVALUATORS},
    ("actions.association_actions", "GET"): {**READ_A, **HIDDEN},
    ("actions.action_page", "GET"): {**READ_A, **HIDDEN},
    ("actions.report_page", "GET"): {**READ_A, **HIDDEN},
    # Staff read reports but only the association writes them (403).
    ("actions.save_report", "POST"): {**EDIT_A_422, **HIDDEN},
    ("actions.upload_report_file", "POST"): {**EDIT_A_422, **HIDDEN},
    ("actions.report_file", "GET"): {**READ_A, **HIDDEN},
    ("actions.dashboards", "GET"): {**STAFF_ONLY, **NOT_EVALUATORS},
    ("actions.annual_report", "GET"): {**STAFF_ONLY, **NOT_EVALUATORS},
}


ARGUMENTS = {rule.endpoint: rule.arguments for rule in COLLECTION_APP.url_map.iter_rules()}
ROUTE_IDS = [f"{endpoint} {method}" for endpoint, method in ROUTES]
NON_PUBLIC = [route for route in ROUTES if route[0] not in PUBLIC_ENDPOINTS]
OF_ASSOCIATION_A = [
    route
    for route in ROUTES
    if ARGUMENTS[route[0]]
    & {
        "association_id",
        "membership_id",
        "invitation_id",
        "application_id",
        "enrolment_id",
        "certificate_id",
        "action_id",
    }
]


# Inline code a Content-Security-Policy without 'unsafe-inline' would block in the browser.
INLINE_CODE = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>|\son[a-z]+\s*=|\sstyle\s*=", re.I)


def content_policy_problem(response) -> str | None:
    """Name what breaks the CSP rule (CHECKLIST S15; ASVS 14.4.3) in one answer, if anything:
    no policy, a policy allowing inline or eval'd code, or inline code in the page."""
    policy = response.headers.get("Content-Security-Policy", "")
    if not policy:
        return "no CSP"
    if "'unsafe-inline'" in policy or "'unsafe-eval'" in policy:
        return f"unsafe CSP: {policy}"
    if response.mimetype == "text/html":
        found = INLINE_CODE.search(response.get_data(as_text=True))
        if found:
            return f"inline code: {found.group(0)!r}"
    return None


def observed(response) -> int | str:
    """Name the answer as the table does: a status, or LOGIN for the redirect to sign-in."""
    location = urlsplit(response.headers.get("Location", ""))
    if (
        response.status_code == 302
        and location.path == SIGN_IN_PATH
        and "next" in parse_qs(location.query)
    ):
        return LOGIN
    # htmx cannot follow a redirect to a whole page: it is told to load sign-in instead.
    hx_target = urlsplit(response.headers.get("HX-Redirect", ""))
    if response.status_code == 401 and hx_target.path == SIGN_IN_PATH:
        return LOGIN
    return response.status_code


def expected_answer(row: dict, actor: str, htmx: bool) -> int | str:
    """Return the row's answer for this actor, for a plain or an htmx request."""
    answer = row[actor]
    if isinstance(answer, Hx):
        return answer.htmx if htmx else answer.plain
    return answer


@contextmanager
def counting_writes():
    """Count the statements that write to the database while the block runs."""
    writes = QueryCounter()

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        if WRITE.match(statement):
            writes(conn, cursor, statement, parameters, context, executemany)

    sa.event.listen(db.engine, "before_cursor_execute", on_execute)
    try:
        yield writes
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", on_execute)


def _denial_records(caplog, user) -> list[str]:
    who = user.get_id() if user is not None else "-"
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "portal.security" and f"user={who} " in record.getMessage()
    ]


def _row_or_fail(endpoint: str, method: str) -> dict:
    row = EXPECTED.get((endpoint, method))
    if row is None:
        pytest.fail(
            f"route {endpoint} {method} has no row in EXPECTED (tests/security/test_route_matrix"
            ".py): add what each actor must get"
        )
    return row


# --- the table itself ------------------------------------------------------------------------


def test_every_route_of_the_url_map_has_a_row(app):
    """A route without a row in the table fails, named (S02)."""
    missing = [
        f"{endpoint} {method}"
        for endpoint, method in routes_of(app)
        if (endpoint, method) not in EXPECTED
    ]
    assert not missing, "routes with no row in EXPECTED: " + ", ".join(missing)


def test_every_row_names_a_route_that_exists(app):
    """A row left behind by a removed or renamed route fails, named."""
    stale = sorted(set(EXPECTED) - set(routes_of(app)))
    assert not stale, "rows in EXPECTED for routes that do not exist: " + ", ".join(
        f"{endpoint} {method}" for endpoint, method in stale
    )


def test_every_row_covers_every_actor():
    """A row that forgets an actor would leave that actor untested."""
    for route, row in EXPECTED.items():
        assert set(row) == set(ACTORS), route


def test_public_endpoints_exist_in_the_url_map(app):
    """The explicit public list names real endpoints only (S01)."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints >= PUBLIC_ENDPOINTS, sorted(PUBLIC_ENDPOINTS - endpoints)


def test_the_table_sends_visitors_to_sign_in_exactly_off_the_public_list():
    """Visitors reach public endpoints; every other row answers them 302-to-sign-in/401/403."""
    for (endpoint, method), row in EXPECTED.items():
        if endpoint in PUBLIC_ENDPOINTS:
            assert row[V] != LOGIN, f"{endpoint} {method} is public but sends visitors to sign-in"
        else:
            assert row[V] in (LOGIN, 401, 403), f"{endpoint} {method} is not in PUBLIC_ENDPOINTS"


# --- requests --------------------------------------------------------------------------------


def test_visitors_are_sent_to_sign_in_from_every_non_public_route(app, world):
    """Anonymous requests, plain or htmx, to anything off the public list are refused
    (S01; ASVS 4.1.1)."""
    let_through = []
    for endpoint, method in NON_PUBLIC:
        for htmx in (False, True):
            response = request_as(app, world, V, endpoint, method, htmx)
            if observed(response) not in (LOGIN, 401, 403):
                let_through.append(f"{endpoint} {method} htmx={htmx}: {response.status_code}")
    assert NON_PUBLIC, "no route to check"
    assert not let_through, "visitors not sent to sign-in: " + "; ".join(let_through)


@pytest.mark.parametrize(("endpoint", "method"), ROUTES, ids=ROUTE_IDS)
def test_route_answers_every_actor_as_the_table_says(app, make_world, caplog, endpoint, method):
    """Each actor, with and without HX-Request, gets the row's status; denials are logged (S02);
    every answer carries a CSP without unsafe-inline and holds no inline code (S15)."""
    row = _row_or_fail(endpoint, method)
    caplog.set_level(logging.INFO, logger="portal.security")
    want, got = {}, {}
    world = make_world()
    for actor in ACTORS:
        for htmx in (False, True):
            case = f"{actor}{' +htmx' if htmx else ''}"
            caplog.clear()
            with counting_writes() as writes:
                response = request_as(app, world, actor, endpoint, method, htmx)
            want[case] = expected_answer(row, actor, htmx)
            got[case] = observed(response)
            problem = content_policy_problem(response)
            if problem:
                got[case] = f"{got[case]} ({problem})"
            if response.status_code in (403, 404) and not _denial_records(
                caplog, world.users[actor]
            ):
                got[case] = f"{response.status_code} (denial not logged)"
            if writes.count:
                world = make_world()  # the request changed it: start the next afresh
    assert got == want, f"{endpoint} {method}"


@pytest.mark.parametrize(
    ("endpoint", "method"), OF_ASSOCIATION_A, ids=[" ".join(r) for r in OF_ASSOCIATION_A]
)
def test_another_association_sees_nothing_of_a_and_is_logged(app, world, caplog, endpoint, method):
    """The owner of B asking for a URL carrying A's ids, plain or htmx, gets the row's denial with
    none of A's data, and the denial is logged with user and route (S03, S21; ASVS 4.2.1)."""
    caplog.set_level(logging.INFO, logger="portal.security")
    member_b = world.users[B]
    for htmx in (False, True):
        caplog.clear()
        response = request_as(app, world, B, endpoint, method, htmx)
        assert response.status_code == expected_answer(EXPECTED[(endpoint, method)], B, htmx)
        assert response.status_code in (403, 404)
        body = response.get_data(as_text=True)
        for secret in world.secrets_of_a():
            assert secret not in body and escape(secret) not in body, (secret, htmx)
        records = _denial_records(caplog, member_b)
        assert any(f"endpoint={endpoint} " in record for record in records), records


def test_association_routes_answer_404_to_another_associations_owner():
    """An id of another association reads as 'not found' on every association-owned route (S03)."""
    for endpoint, method in OF_ASSOCIATION_A:
        if endpoint.startswith("organisations.") and endpoint != "organisations.verification":
            assert expected_answer(EXPECTED[(endpoint, method)], B, False) == 404, endpoint


@pytest.mark.parametrize(
    ("policy", "body", "problem"),
    [
        ("", "<p>hi</p>", "no CSP"),
        ("default-src 'self'; script-src 'self' 'unsafe-inline'", "<p>hi</p>", "unsafe CSP"),
        ("script-src 'self'", "<script>alert(1)</script>", "inline code"),
        ("script-src 'self'", '<button onclick="go()">go</button>', "inline code"),
        ("script-src 'self'", '<p style="color:red">hi</p>', "inline code"),
        ("script-src 'self'", '<script src="/static/js/portal.js" defer></script>', None),
    ],
)
def test_the_policy_check_names_each_problem(policy, body, problem):
    """The CSP check run over every route above is not blind: each problem is named."""
    response = Response(body, mimetype="text/html")
    if policy:
        response.headers["Content-Security-Policy"] = policy
    found = content_policy_problem(response)
    assert (found or "").startswith(problem or "") and (found is None) == (problem is None)
