"""Action-plan reference data: strategic axes, plan projects, SDGs, UN mechanisms, regions."""

from flask import Blueprint

# Its views are imported by portal.register_blueprints, so models import without them.
bp = Blueprint("strategy", __name__)
