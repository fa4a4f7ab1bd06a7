"""Flask extensions, created unbound and initialised in create_app."""

from collections.abc import Callable

from flask import current_app
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from portal.db import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def configured_limit(setting: str) -> Callable[[], str]:
    """Return the rate limit kept in this setting (e.g. "20 per hour"), read at each request."""
    return lambda: current_app.config[setting]


def account_or_address() -> str:
    """Key a rate limit by the signed-in account, or by the client's address for a visitor.

    Colleagues behind one office address do not share a budget; one account cannot escape its
    own by changing address.
    """
    if current_user.is_authenticated:
        return f"account:{current_user.get_id()}"
    return get_remote_address()
