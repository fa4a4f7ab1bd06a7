"""A world to aim requests at: two associations, their owners, staff, an admin, real tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from html.parser import HTMLParser
from io import BytesIO

import factory
import pytest
from flask.testing import FlaskClient
from flask_babel import force_locale, gettext
from sqlalchemy import select

from portal import create_app
from portal.accounts import services as account_services
from portal.accounts.models import Role, User, UserRole
from portal.actions.models import (
    FundedAction,
    Milestone,
    ProgressReport,
    ReportAttachment,
    Tranche,
)
from portal.applications.models import Application, Attachment, BudgetLine, Submission
from portal.applications.receipts import seal_receipt
from portal.applications.services import start_application
from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.organisations import services as organisation_services
from portal.organisations.models import (
    Association,
    AssociationStatus,
    Invitation,
    MemberRole,
    Membership,
)
from portal.results.models import Appeal
from portal.review.models import (
    ConflictDeclaration,
    DeclaredTie,
    PoolMember,
    PoolStatus,
    Review,
    Score,
    Screening,
)
from portal.storage import file_store
from portal.training import certificates
from portal.training import services as training_services
from portal.training.models import Certificate, Enrolment, SeatReservation, TrainingSession
from portal.training.survey import send_survey_invitations
from tests import factories
from tests.conftest import CsrfClient, sign_in

# The evaluators: assigned to A's application; in the pool but not assigned; conflicted with it.
ACTORS = (
    "visitor",
    "member_a",
    "member_b",
    "staff",
    "admin",
    "evaluator",
    "evaluator_unassigned",
    "evaluator_conflicted",
)
PLAN_PROJECT = 21


@dataclass
class World:
    association_a: Association
    association_b: Association
    users: dict[str, User | None]
    editor_a: User
    membership: Membership
    invitation: Invitation
    application: Application
    review: Review
    pool_member: PoolMember
    tie: DeclaredTie
    tokens: dict[str, str] = field(default_factory=dict)
    training_session: TrainingSession | None = None
    enrolment: Enrolment | None = None
    reservation: SeatReservation | None = None
    certificate: Certificate | None = None
    funding: Funding | None = None

    def secrets_of_a(self) -> list[str]:
        """Values of association A that nobody outside it may see on a denial."""
        a = self.association_a
        return [
            a.name_ar,
            a.name_fr,
            a.registration_number,
            a.email,
            self.editor_a.full_name,
            self.editor_a.email,
        ]


def _token_in_outbox(recipient: str, path: str) -> str:
    """Return the token of the last link to `path` mailed to `recipient`."""
    body = db.session.scalars(
        select(OutboxMessage.body_text)
        .where(OutboxMessage.recipient == recipient)
        .order_by(OutboxMessage.id.desc())
    ).first()
    match = re.search(re.escape(path) + r"([\w.\-]+)", body or "")
    assert match, f"no link to {path} in the mail to {recipient}"
    return match.group(1)


def _user(*roles: str, **fields) -> User:
    user = factories.UserFactory.build(**fields)
    user.role_rows = [UserRole(role=Role(role)) for role in roles]
    db.session.add(user)
    return user


def _association(owner: User, **fields) -> Association:
    values = factory.build(dict, FACTORY_CLASS=factories.AssociationFactory, **fields)
    values.pop("owner")
    association = Association(**values)
    association.memberships.append(Membership(user=owner, role=MemberRole.OWNER))
    db.session.add(association)
    return association


def build_world() -> World:
    """Create the world through the portal's own services, so every token is a real one.

    Built with one commit (the factories commit each row, which is slow on SQLite).
    """
    # Forget earlier worlds: SQLite reuses the id of a row a request deleted.
    db.session.expunge_all()
    owner_a, owner_b = _user("applicant"), _user("applicant")
    association_a = _association(owner_a, status=AssociationStatus.PENDING)
    association_b = _association(owner_b)
    editor_a = _user("applicant")
    membership = Membership(association=association_a, user=editor_a, role=MemberRole.EDITOR)
    unverified = _user("applicant", email_verified_at=None)
    session = db.session
    session.add(membership)
    session.flush()
    invitation = organisation_services.invite_member(
        session, association_a, "invitee@example.org", "editor", actor=owner_a
    )
    account_services.send_verification(session, unverified)
    account_services.request_password_reset(session, editor_a.email)
    staff, admin = _user("staff"), _user("admin")
    session.commit()
    application = _application_of(association_a, owner_a)
    review, pool_member, tie, evaluators = _review_of(application, association_b)
    _invite_evaluator(application.call, staff)
    training_session = factories.training_session()
    enrolment = factories.training_enrolment(training_session, association_a)
    certificate = factories.training_certificate(enrolment)
    reservation = factories.seat_reservation(training_session, association_b)
    survey_token = _survey_token(association_b, owner_b)
    funding = _funding_of(association_a, owner_a, association_b, owner_b)
    return World(
        association_a=association_a,
        association_b=association_b,
        users={
            "visitor": None,
            "member_a": owner_a,
            "member_b": owner_b,
            "staff": staff,
            "admin": admin,
            **evaluators,
        },
        editor_a=editor_a,
        membership=membership,
        invitation=invitation,
        application=application,
        review=review,
        pool_member=pool_member,
        tie=tie,
        tokens={
            "organisations.accept_invitation": _token_in_outbox(
                "invitee@example.org", "/invitations/"
            ),
            "accounts.verify_email": _token_in_outbox(unverified.email, "/account/verify/"),
            "accounts.reset_password": _token_in_outbox(editor_a.email, "/account/reset/"),
            "review.accept_evaluator_invitation": _token_in_outbox(
                EVALUATOR_INVITEE, "/reviews/invitations/"
            ),
            "training.participant_pass": training_services.pass_token(enrolment.id),
            "training.certificate_by_link": certificates.download_token(certificate.id),
            "training.survey": survey_token,
        },
        training_session=training_session,
        enrolment=enrolment,
        reservation=reservation,
        certificate=certificate,
        funding=funding,
    )


@dataclass
class Funding:
    """A's funded action (published in a call of its own), with a tranche, a milestone, a report
    due and a file sent with it; and an appeal of B against B's own award."""

    action: FundedAction
    tranche: Tranche
    report: ProgressReport
    report_file: ReportAttachment
    appeal: Appeal
    milestone: Milestone


def _funding_of(association_a, owner_a, association_b, owner_b) -> Funding:
    action = factories.funded_action(association_a)
    tranche = Tranche(action_id=action.id, position=1, planned_on=date.today(), amount=1_000)
    report = ProgressReport(action_id=action.id, due_on=date.today() + timedelta(days=30))
    milestone = Milestone(
        action_id=action.id, position=1, title="ورشة الإطلاق", due_on=date.today() + timedelta(30)
    )
    db.session.add_all([tranche, report, milestone])
    db.session.flush()
    stored = file_store().save(BytesIO(b"%PDF-1.4\n%%EOF\n"))
    report_file = ReportAttachment(
        report_id=report.id,
        storage_key=stored.key,
        original_name="rapport.pdf",
        content_type="application/pdf",
        size=stored.size,
        sha256=stored.sha256,
        uploaded_by_id=owner_a.id,
    )
    db.session.add(report_file)
    db.session.commit()
    appealed = factories.funded_action(association_b)
    appeal = Appeal(
        decision_id=appealed.decision_id,
        application_id=appealed.application_id,
        motivation="نطلب إعادة النظر",
        filed_by_id=owner_b.id,
    )
    db.session.add(appeal)
    db.session.commit()
    return Funding(action, tranche, report, report_file, appeal, milestone)


def _survey_token(association: Association, owner: User) -> str:
    """Attend the last day of a session that ended yesterday and return the survey link's token."""
    today = date.today()
    ended = factories.training_session(
        starts_on=today - timedelta(days=3), ends_on=today - timedelta(days=2)
    )
    enrolment = factories.training_enrolment(
        ended, association, created_by_id=owner.id, email="survey-taker@example.org"
    )
    factories.training_attendance(enrolment, ended.starts_on)
    send_survey_invitations(db.session, utcnow())
    db.session.commit()
    return _token_in_outbox("survey-taker@example.org", "/training/survey/")


def _application_of(association: Association, owner: User) -> Application:
    """Give association A a draft with a budget line, an uploaded file and one submission."""
    call = factories.published_call()
    document = call.documents[0]
    stored = file_store().save(BytesIO(b"%PDF-1.4\n%%EOF\n"))
    application = Application(
        call=call,
        association=association,
        created_by_id=owner.id,
        title_ar="طلب الجمعية أ",
        activity_plan=[{"title": "ورشة", "start": 1, "end": 2}],
    )
    application.budget_lines.append(
        BudgetLine(category="activities", description="ورشات", quantity=2, unit_cost=1000)
    )
    application.attachments.append(
        Attachment(
            document=document,
            storage_key=stored.key,
            original_name="statuts.pdf",
            content_type="application/pdf",
            size=stored.size,
            sha256=stored.sha256,
            uploaded_by_id=owner.id,
        )
    )
    submission = Submission(
        application=application,
        number=1,
        reference="pending",
        submitted_at=utcnow(),
        submitted_by_id=owner.id,
        application_version=1,
        content={"title_ar": application.title_ar},
        content_sha256="",
        attachment_hashes=[
            {"document": document.code, "name": "statuts.pdf", "sha256": stored.sha256}
        ],
        signature="",
    )
    db.session.add(application)
    db.session.flush()
    seal_receipt(submission)
    db.session.commit()
    return application


def _review_of(application: Application, association_b: Association):
    """Put three evaluators in the call's pool: one assigned to A's application with a score
    saved, one not assigned, one who declared a conflict with it; the first declared a tie with B.
    """
    call = application.call
    evaluators = {
        name: _user("evaluator")
        for name in ("evaluator", "evaluator_unassigned", "evaluator_conflicted")
    }
    db.session.flush()
    members = {
        name: PoolMember(
            call_id=call.id,
            email=user.email,
            user_id=user.id,
            status=PoolStatus.ACTIVE,
            languages=["ar", "fr"],
            invited_by_id=user.id,
            accepted_at=utcnow(),
            conflicts_declared_at=utcnow(),
        )
        for name, user in evaluators.items()
    }
    review = Review(
        call_id=call.id, application_id=application.id, evaluator_id=evaluators["evaluator"].id
    )
    review.scores.append(Score(criterion_id=call.criteria[0].id, value=5))
    tie = DeclaredTie(user_id=evaluators["evaluator"].id, association=association_b, reason="عضو")
    conflict = ConflictDeclaration(
        call_id=call.id,
        application_id=application.id,
        evaluator_id=evaluators["evaluator_conflicted"].id,
        reason="أعرف المنسقة",
    )
    screening = Screening(application_id=application.id, call_id=call.id)
    db.session.add_all([*members.values(), review, tie, conflict, screening])
    db.session.commit()
    return review, members["evaluator"], tie, evaluators


EVALUATOR_INVITEE = "evaluator-invitee@example.org"


def _invite_evaluator(call, staff: User) -> None:
    """Leave a pending invitation to the call's pool, whose link nobody of the world may use."""
    from portal.review.pool import invite_evaluator

    invite_evaluator(db.session, call, EVALUATOR_INVITEE, ["ar"], [], actor=staff)
    db.session.commit()


def _funding_values(funding: Funding, endpoint: str) -> dict:
    """Fill the results' and funded actions' arguments: A's action, its report and tranche;
    A's funded application where an appeal is filed; the action's call where results are
    public."""
    action = funding.action
    values = {
        "action_id": action.id,
        "decision_id": action.decision_id,
        "report_id": funding.report.id,
        "tranche_id": funding.tranche.id,
        "milestone_id": funding.milestone.id,
        "appeal_id": funding.appeal.id,
        "year": 2025,
    }
    if endpoint == "actions.report_file":
        values["attachment_id"] = funding.report_file.id
    if endpoint == "actions.annual_report":
        values["fmt"] = "xlsx"
    if endpoint == "results.appeal":
        values["application_id"] = action.application_id
    if endpoint in ("results.public_call", "results.open_data_call"):
        values["code"] = action.call.code
    return values


def url_values(world: World, endpoint: str, arguments) -> dict:
    """Fill a route's URL arguments from the world (A's objects, plan project 21, real tokens)."""
    known = {
        "association_id": world.association_a.id,
        "membership_id": world.membership.id,
        "invitation_id": world.invitation.id,
        "user_id": world.editor_a.id,
        "number": PLAN_PROJECT,
        "locale": "fr",
        "call_id": world.application.call_id,
        "application_id": world.application.id,
        "line_id": world.application.budget_lines[0].id,
        "attachment_id": world.application.attachments[0].id,
        "document_id": world.application.attachments[0].document_id,
        "submission_number": 1,
        "section": "summary",
        "name": "context",
        "lang": "ar",
        "fmt": "csv",
        "kind": "lots",
        "part_id": world.application.call.lots[0].id,
        "review_id": world.review.id,
        "member_id": world.pool_member.id,
        "criterion_id": world.application.call.criteria[0].id,
        "tie_id": world.tie.id,
        "session_id": world.training_session.id,
        "module_id": world.training_session.module_id,
        "programme_id": world.training_session.module.programme_id,
        "enrolment_id": world.enrolment.id,
        "reservation_id": world.reservation.id,
        "certificate_id": world.certificate.id,
        "code": world.certificate.code,
    }
    if endpoint.startswith("applications."):
        known.update(kind="activity", index=0)  # the activity plan's first row
    known.update(_funding_values(world.funding, endpoint))
    values = {}
    for name in sorted(arguments):
        if name == "token" and endpoint in world.tokens:
            values[name] = world.tokens[endpoint]
        elif name in known:
            values[name] = known[name]
        else:
            pytest.fail(
                f"{endpoint} takes <{name}>: teach url_values() in tests/security/conftest.py "
                "how to fill it"
            )
    return values


class IsolatedClient(CsrfClient):
    """Sends each request in an app context of its own, as a server does.

    The `app` fixture keeps an app context pushed; a request reuses it, so `g` (where Flask-Login
    keeps the current user) and the database session would carry over from one request, and one
    user, to the next.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


def client_as(app, user) -> FlaskClient:
    """Return a fresh client, signed in as `user` unless it is None."""
    client = IsolatedClient(app, app.response_class, use_cookies=True)
    return sign_in(client, user) if user is not None else client


def collection_app():
    """An app built only to read the URL map while tests are collected (it opens no database)."""
    return create_app(
        {
            "TESTING": True,
            "PORTAL_ENV": "testing",
            "SECRET_KEY": "collection-only",
            "DATABASE_URL": "sqlite://",
            "MAIL_COPY_DIR": None,
            "RATELIMIT_ENABLED": False,
        }
    )


def routes_of(app) -> list[tuple[str, str]]:
    """Every (endpoint, method) of the URL map but static files, HEAD and OPTIONS."""
    return sorted(
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


def url_of(app, world, endpoint: str, method: str) -> str:
    rule = next(rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint)
    values = url_values(world, endpoint, rule.arguments)
    return app.url_map.bind("localhost").build(endpoint, values, method=method)


def request_as(app, world, actor: str, endpoint: str, method: str, htmx: bool):
    """Send the request; POSTs carry a valid CSRF token (the client adds it) and no fields."""
    client = client_as(app, world.users[actor])
    headers = {"HX-Request": "true"} if htmx else {}
    url = url_of(app, world, endpoint, method)
    # buffered: a streamed export is read to its end here, inside the request's own context.
    return client.open(
        url, method=method, headers=headers, data={} if method == "POST" else None, buffered=True
    )


COLLECTION_APP = collection_app()
ROUTES = routes_of(COLLECTION_APP)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None], str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs), ""))

    def handle_data(self, data):
        if self.tags and self.tags[-1][0] in {"script", "style", "textarea"}:
            tag, attrs, text = self.tags[-1]
            self.tags[-1] = (tag, attrs, text + data)


def tags_of(html: str) -> list[tuple[str, dict[str, str | None], str]]:
    """Return (tag, attributes, text of a script, style or textarea) for every start tag."""
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


@pytest.fixture
def draft(login_as, session):
    """(client, application): an empty draft of the signed-in owner's association."""
    client, user = login_as("applicant")
    association = factories.AssociationFactory(owner=user)
    application = start_application(session, factories.published_call(), association, actor=user)
    session.commit()
    return client, application


@pytest.fixture
def make_world(app):
    """Return a function that builds a fresh world (call it again after a request changed one)."""
    return build_world


@pytest.fixture
def world(make_world):
    return make_world()


def translated(locale: str, text: str, **variables) -> str:
    """Return `text` as the catalogue of `locale` renders it (needs an app context)."""
    with force_locale(locale):
        return gettext(text, **variables)
