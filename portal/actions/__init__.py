"""Funded actions linked to the action plan, their payments and progress reports, dashboards."""

from flask import Blueprint

# Its views are imported by portal.register_blueprints, so models import without them.
bp = Blueprint("actions", __name__)
