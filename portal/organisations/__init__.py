"""Associations: profiles, members and invitations, staff verification."""

from flask import Blueprint

# Its views are imported by portal.register_blueprints, so models import without them.
bp = Blueprint("organisations", __name__)
