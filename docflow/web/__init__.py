"""The HTTP edge: the only package that imports Flask."""

from __future__ import annotations

import os
from datetime import timedelta

from flask import Flask

from docflow.bootstrap import Services, bootstrap
from docflow.config import Settings


def create_app(services: Services | None = None) -> Flask:
    """The WSGI app. Without `services`, they are built from the environment."""
    if services is None:
        services = bootstrap(Settings.from_env(os.environ))
    app = Flask(__name__)
    settings = services.settings
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # Multipart framing adds a little to the file itself.
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + (1 << 20),
        DOCFLOW_MAX_UPLOAD_BYTES=settings.max_upload_bytes,
        JSON_SORT_KEYS=False,
    )
    app.extensions["docflow"] = services
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    from docflow.web import admin, api, audit, auth, errors, health, i18n, pages, reports

    app.config["BABEL_DEFAULT_TIMEZONE"] = settings.timezone
    errors.init_app(app)
    auth.init_app(app)
    i18n.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(reports.bp)

    @app.after_request
    def _headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            f"connect-src 'self' {settings.token_agent_url}; "
            "frame-ancestors 'self'; form-action 'self'")
        return response

    return app
