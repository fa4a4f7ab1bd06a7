"""Review of submitted applications: screening, evaluators, conflicts, scoring and ranking."""

from flask import Blueprint

# Its views are imported by portal.register_blueprints, so models import without them.
bp = Blueprint("review", __name__)
