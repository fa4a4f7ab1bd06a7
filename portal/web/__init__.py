"""Layout, language, security headers, error pages and the home page."""

from flask import Blueprint

# Its views are imported by portal.register_blueprints, so models import without them.
bp = Blueprint("web", __name__)
