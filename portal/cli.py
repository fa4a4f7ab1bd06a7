"""The portal's `flask` commands: reference and demo data, accounts, the mail worker, backups."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import select

from portal import backup
from portal.accounts import passwords
from portal.accounts.models import Role, User, UserRole
from portal.calls.demo import ensure_demo_call
from portal.db import utcnow
from portal.extensions import db
from portal.notifications.services import deliver_pending, smtp_from_config
from portal.organisations.models import Association, AssociationStatus, MemberRole, Membership
from portal.results.demo import ensure_results_demo
from portal.review.demo import ensure_review_demo
from portal.storage import file_store
from portal.strategy import services as strategy
from portal.training.demo import demo_verification_code, ensure_training_demo
from portal.training.demo_survey import ensure_survey_demo

# Printed at start by `make run`; demo accounts exist only where seed-demo was run.
DEMO_PASSWORD = "shiraka-demo-2026"  # noqa: S105
DEMO_USERS = (
    ("admin@demo.shiraka.ma", "مديرة المنصة", (Role.ADMIN, Role.STAFF), "ar"),
    ("staff@demo.shiraka.ma", "Karim Bennani", (Role.STAFF,), "fr"),
    ("evaluator@demo.shiraka.ma", "سعاد العلوي", (Role.EVALUATOR,), "ar"),
    ("applicant@demo.shiraka.ma", "يوسف الإدريسي", (Role.APPLICANT,), "ar"),
    ("pending@demo.shiraka.ma", "Nadia Amrani", (Role.APPLICANT,), "fr"),
)
DEMO_ASSOCIATIONS = (
    {
        "owner": "applicant@demo.shiraka.ma",
        "status": AssociationStatus.VERIFIED,
        "name_ar": "جمعية الأمل لحقوق الإنسان",
        "name_fr": "Association Al Amal pour les droits de l'Homme",
        "acronym": "AADH",
        "legal_form": "association",
        "registration_number": "RB-2011-0457",
        "founded_on": date(2011, 3, 14),
        "region": "rabat-sale-kenitra",
        "city": "Rabat",
        "address": "12, rue Oued Sebou, Agdal",
        "email": "contact@alamal.example.ma",
        "phone": "+212 537 00 00 00",
        "website": "https://alamal.example.ma",
        "fields_of_work": ["womens-rights", "un-mechanisms"],
        "target_groups": ["women", "youth"],
        "description_ar": "جمعية تعمل على النهوض بحقوق النساء والشباب "
        "وتتبع توصيات آليات الأمم المتحدة.",
        "description_fr": "Association qui promeut les droits des femmes et des jeunes et suit les "
        "recommandations des mécanismes des Nations unies.",
    },
    {
        "owner": "pending@demo.shiraka.ma",
        "status": AssociationStatus.PENDING,
        "name_ar": "جمعية تيفاوين للطفولة",
        "name_fr": "Association Tifawin pour l'enfance",
        "acronym": "ATE",
        "legal_form": "association",
        "registration_number": "SM-2019-0112",
        "founded_on": date(2019, 9, 2),
        "region": "souss-massa",
        "city": "Agadir",
        "address": "",
        "email": "tifawin@example.ma",
        "phone": "",
        "website": "",
        "fields_of_work": ["childrens-rights"],
        "target_groups": ["children", "rural-communities"],
        "description_ar": "",
        "description_fr": "",
    },
)


def install_commands(app: Flask) -> None:
    """Add the commands to the app's CLI."""
    for command in (
        seed_reference,
        seed_demo,
        create_user,
        send_mail,
        send_reminders,
        prune_figure_changes,
        backup_commands,
    ):
        app.cli.add_command(command)


@click.command("seed-reference")
def seed_reference() -> None:
    """Load regions, axes, plan projects, SDGs and UN mechanisms (safe to run again)."""
    counts = strategy.load_reference_data(db.session)
    db.session.commit()
    click.echo("Reference data: " + ", ".join(f"{n} {name}" for name, n in counts.items()))


def ensure_user(email: str, full_name: str, roles, locale: str, password: str) -> User:
    """Return the account with this address, creating it (verified) if missing."""
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(
            email=email,
            full_name=full_name,
            locale=locale,
            password_hash=passwords.hash_password(password),
            email_verified_at=utcnow(),
        )
        db.session.add(user)
    for role in roles:
        if not user.has_role(role):
            user.role_rows.append(UserRole(role=role))
    return user


def _ensure_association(data: dict, owner: User) -> None:
    values = dict(data)
    exists = db.session.scalar(
        select(Association.id).where(
            Association.registration_number == values["registration_number"]
        )
    )
    if exists:
        return
    values.pop("owner")
    region = db.session.scalar(
        select(strategy.Region).where(strategy.Region.code == values.pop("region"))
    )
    association = Association(**values, region=region, status_changed_at=utcnow())
    association.memberships.append(Membership(user=owner, role=MemberRole.OWNER))
    db.session.add(association)


@click.command("seed-demo")
def seed_demo() -> None:
    """Create the demo accounts and associations (safe to run again) and print the accounts."""
    strategy.load_reference_data(db.session)
    users = {
        email: ensure_user(email, name, roles, locale, DEMO_PASSWORD)
        for email, name, roles, locale in DEMO_USERS
    }
    db.session.flush()
    for data in DEMO_ASSOCIATIONS:
        _ensure_association(data, users[data["owner"]])
    strategy.propose_demo_project_axes(db.session)
    demo_call = ensure_demo_call(db.session)
    staff = users["staff@demo.shiraka.ma"]
    review_call = ensure_review_demo(db.session, staff.password_hash, staff)
    programme = ensure_training_demo(db.session, staff, users["applicant@demo.shiraka.ma"])
    survey_answers = ensure_survey_demo(db.session)
    funded = ensure_results_demo(db.session, staff, users["admin@demo.shiraka.ma"])
    db.session.commit()
    for call in (demo_call, review_call):
        if call is not None:
            click.echo(f"Demo call {call.code} created ({call.status.value}).")
    if programme is not None:
        click.echo(f"Demo training programme created ({len(programme.modules)} modules).")
    if survey_answers:
        click.echo(f"Demo satisfaction survey: {survey_answers} answers.")
    if funded is not None:
        click.echo(f"Demo results 2025 published: {funded} funded actions.")
    click.echo(f"Demo accounts (password for all: {DEMO_PASSWORD}):")
    for email, _name, roles, _locale in DEMO_USERS:
        click.echo(f"  {email:<30} {', '.join(role.value for role in roles)}")
    click.echo(
        "Staff and admin set up an authenticator app at their first sign-in"
        " (scan the QR code, or type the key shown under it)."
    )
    code = demo_verification_code(db.session)
    if code is not None:
        click.echo(
            f"Certificate verification code for the demo: {code} (open /certificates/{code})"
        )


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--name", "full_name", required=True)
@click.option("--role", "roles", multiple=True, type=click.Choice([role.value for role in Role]))
@click.option("--locale", type=click.Choice(["ar", "fr"]), default="ar")
@click.password_option()
def create_user(email: str, full_name: str, roles, locale: str, password: str) -> None:
    """Create a verified account with these roles, or add the roles to an existing one."""
    problem = passwords.password_problem(password)
    if problem:
        raise click.BadParameter(str(problem), param_hint="password")
    user = ensure_user(
        email.strip().lower(),
        full_name,
        [Role(r) for r in roles] or [Role.APPLICANT],
        locale,
        password,
    )
    db.session.commit()
    click.echo(f"{user.email}: {', '.join(sorted(role.value for role in user.roles))}")


@click.command("send-mail")
@click.option("--loop", is_flag=True, help="Keep running, sending new messages as they come.")
@click.option("--interval", default=10, show_default=True, help="Seconds between rounds.")
def send_mail(loop: bool, interval: int) -> None:
    """Deliver the e-mails waiting in the outbox over SMTP, with retries."""
    config = current_app.config
    while True:
        sent, failed = deliver_pending(
            db.session,
            smtp_from_config(config),
            config["MAIL_DEFAULT_SENDER"],
            config["MAIL_MAX_ATTEMPTS"],
        )
        click.echo(f"sent {sent}, failed {failed}")
        if not loop:
            return
        time.sleep(interval)


@click.command("send-reminders")
def send_reminders() -> None:
    """Queue deadline reminders for unsubmitted drafts, the training satisfaction surveys and
    the progress reports due within a week (run it hourly; each goes out once)."""
    from portal.actions.reports import send_report_reminders
    from portal.applications.reminders import send_deadline_reminders
    from portal.review.reminders import send_review_reminders
    from portal.training.survey import send_survey_invitations

    queued = send_deadline_reminders(db.session, utcnow())
    queued += send_review_reminders(db.session, utcnow())
    queued += send_survey_invitations(db.session, utcnow())
    queued += send_report_reminders(db.session, utcnow())
    db.session.commit()
    click.echo(f"reminders queued: {queued}")


@click.command("prune-figure-changes")
def prune_figure_changes() -> None:
    """Forget the recorded changes to kept figures but the latest of each (run it daily)."""
    from portal.kept import prune_changes

    pruned = prune_changes(db.session)
    db.session.commit()
    click.echo(f"figure changes pruned: {pruned}")


@click.group("backup")
def backup_commands() -> None:
    """Back up the database and the uploaded files into one archive, check one, restore one."""


@backup_commands.command("create")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def backup_create(directory: Path) -> None:
    """Write shiraka-<UTC time>-<schema revision>.tar.gz into DIRECTORY (created if missing)."""
    try:
        summary = backup.create_backup(db.engine, file_store(), directory)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(summary.describe())


@backup_commands.command("verify")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def backup_verify(archive: Path) -> None:
    """Check every table dump and file of ARCHIVE against its manifest; change nothing."""
    try:
        summary = backup.verify_archive(archive)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"intact: {summary.describe()}")


@backup_commands.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace every row of a database that is not empty.")
def backup_restore(archive: Path, force: bool) -> None:
    """Restore ARCHIVE into the database (migrated, and empty unless --force) and the upload
    store, in one transaction; stop the app servers and the mail worker first."""
    db.session.remove()
    try:
        summary = backup.restore_backup(
            db.engine, file_store(), archive, head=backup.schema_head(), force=force
        )
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"restored: {summary.describe()}")
