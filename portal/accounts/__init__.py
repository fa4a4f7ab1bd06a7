"""Accounts: sign-up, e-mail verification, sign-in, password reset, roles and locale."""

from flask import Blueprint

# Its views are imported by portal.register_blueprints, so models import without them.
bp = Blueprint("accounts", __name__)
