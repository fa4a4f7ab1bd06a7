"""Calls for projects: staff build and publish them; visitors read them."""

from flask import Blueprint

# Its views are imported by portal.register_blueprints, so models import without them.
bp = Blueprint("calls", __name__)
