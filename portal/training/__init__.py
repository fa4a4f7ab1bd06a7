"""The capacity-building programme: sessions, enrolment and waitlist, attendance, certificates."""

from flask import Blueprint

# Its views are imported by portal.register_blueprints, so models import without them.
bp = Blueprint("training", __name__)
