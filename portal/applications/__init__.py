"""Applications to calls: drafting, autosave, budget, attachments, submission and receipts."""

from flask import Blueprint

# Its views are imported by portal.register_blueprints, so models import without them.
bp = Blueprint("applications", __name__)
