"""Decisions on a call's applications, their publication, appeals, public results, open data."""

from flask import Blueprint

# Its views are imported by portal.register_blueprints, so models import without them.
bp = Blueprint("results", __name__)
