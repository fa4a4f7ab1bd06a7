"""Accounts: sign-up, e-mail verification, sign-in, password reset, roles and locale."""

from flask import Blueprint

bp = Blueprint("accounts", __name__)

from portal.accounts import admin_views, views  # noqa: E402, F401
