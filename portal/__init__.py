"""Shiraka: the portal through which a public human-rights body works with civil society."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import config as settings
from portal import extensions as ext

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    """Build the portal: settings, extensions, blueprints, error pages, commands."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("INSTANCE_PATH", str(ROOT / "instance")),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    load_settings(app, config)
    trust_proxies(app)
    register_extensions(app)
    register_blueprints(app)
    register_request_hooks(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def load_settings(app: Flask, overrides: dict | None) -> None:
    """Apply defaults, then instance/config.py, then the environment, then overrides."""
    instance_path = Path(app.instance_path)
    app.config.from_mapping(settings.default_settings(instance_path))
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_mapping(settings.settings_from_environment())
    app.config.from_mapping(overrides or {})
    settings.finalise(app.config, instance_path)


def trust_proxies(app: Flask) -> None:
    """Take the client's address and scheme from the TRUSTED_PROXIES reverse proxies in front.

    Without it every request seems to come from the proxy, and the rate limits, keyed by the
    client's address, would count all visitors together. The Host header is not taken from the
    proxy: links in e-mails use PUBLIC_BASE_URL.
    """
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)


def register_extensions(app: Flask) -> None:
    """Bind the unbound extensions to this app."""
    from portal.web.i18n import select_locale, select_timezone

    # `ext.db`, not `db`: a name `db` here would hide the portal.db module from migrations.
    ext.db.init_app(app)
    ext.migrate.init_app(app, ext.db, directory=str(ROOT / "migrations"), render_as_batch=True)
    ext.csrf.init_app(app)
    ext.babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    ext.limiter.init_app(app)
    ext.login_manager.init_app(app)


def register_blueprints(app: Flask) -> None:
    """Mount every domain's blueprint (importing its views registers their routes)."""
    import portal.accounts.admin_views
    import portal.accounts.session_limits
    import portal.accounts.two_factor_views
    import portal.accounts.views
    import portal.actions.kept_figures  # the flush listener that renews the figures' token
    import portal.actions.views
    import portal.applications.kept_totals  # the flush listener that renews the totals' token
    import portal.applications.models
    import portal.applications.receipt_views
    import portal.applications.views
    import portal.calls.views
    import portal.organisations.views
    import portal.results.kept_results  # the flush listener that renews the results' token
    import portal.results.views
    import portal.review.kept  # the flush listener that renews ranking tokens
    import portal.review.models
    import portal.review.pool_views
    import portal.review.ranking_views
    import portal.review.scoring_views
    import portal.review.screening_views
    import portal.strategy.views
    import portal.training.attendance_views
    import portal.training.enrolment_views
    import portal.training.models
    import portal.training.statistics_views
    import portal.training.views
    import portal.web.formatting
    import portal.web.views  # noqa: F401
    from portal.accounts import bp as accounts_bp
    from portal.actions import bp as actions_bp
    from portal.applications import bp as applications_bp
    from portal.calls import bp as calls_bp
    from portal.organisations import bp as organisations_bp
    from portal.results import bp as results_bp
    from portal.review import bp as review_bp
    from portal.strategy import bp as strategy_bp
    from portal.training import bp as training_bp
    from portal.web import bp as web_bp

    for blueprint in (
        web_bp,
        accounts_bp,
        organisations_bp,
        strategy_bp,
        calls_bp,
        applications_bp,
        review_bp,
        training_bp,
        results_bp,
        actions_bp,
    ):
        app.register_blueprint(blueprint)


def register_request_hooks(app: Flask) -> None:
    """Install the hooks that every response goes through."""
    from portal.web.security import install_security_hooks

    install_security_hooks(app)


def register_errorhandlers(app: Flask) -> None:
    """Answer errors with pages in the visitor's language (fragments for htmx)."""
    from portal.web.errors import install_error_handlers

    install_error_handlers(app)


def register_commands(app: Flask) -> None:
    """Add the portal's `flask` commands."""
    from portal.cli import install_commands

    install_commands(app)
