"""Every error leaves as RFC 9457 problem+json (API) or a plain page (browser), from one place."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from docflow.config import ConfigError
from docflow.domain import errors
from docflow.web.labels import refusal

log = logging.getLogger(__name__)

STATUS: dict[type[errors.DomainError], int] = {
    errors.NotFound: 404,
    errors.Forbidden: 403,
    errors.Unauthenticated: 401,
    errors.TooManyAttempts: 429,
    errors.Conflict: 409,
    errors.Invalid: 422,
    errors.Refused: 422,
    errors.TooLarge: 413,
    errors.BadFile: 422,
}


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> Response:
    """A problem+json response (RFC 9457)."""
    body = {"type": f"https://docflow.example/problems/{code}", "title": title,
            "status": status, "detail": detail, **extra}
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _respond(status: int, code: str, title: str, detail: str, *,
             page_detail: str | None = None, **extra: Any) -> Response:
    """problem+json for programs (English); a page, in the person's language, for browsers."""
    if _wants_json():
        return problem(status, code, title, detail, **extra)
    html = render_template("error.html", status=status, title=title,
                           detail=page_detail or gettext(detail),
                           errors=extra.get("errors", []))
    return Response(html, status=status, mimetype="text/html")


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(errors.DomainError)
    def _domain(exc: errors.DomainError) -> Response:
        status = next((s for kind, s in STATUS.items() if isinstance(exc, kind)), 400)
        extra: dict[str, Any] = {}
        if isinstance(exc, errors.Invalid) and exc.errors:
            extra["errors"] = exc.errors
        response = _respond(status, exc.code, exc.code.replace("-", " ").capitalize(),
                            exc.message, page_detail=refusal(exc), **extra)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="docflow"'
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> Response:
        limit = app.config.get("DOCFLOW_MAX_UPLOAD_BYTES")
        return _respond(413, "too-large", "Too large",
                        f"the upload is larger than the limit of {limit} bytes")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        return _respond(status, (exc.name or "error").lower().replace(" ", "-"),
                        exc.name or "Error", exc.description or "")

    @app.errorhandler(ConfigError)
    def _config(exc: ConfigError) -> Response:
        log.error("configuration error: %s", exc)
        return _respond(500, "configuration", "Configuration error", str(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _respond(500, "internal", "Internal error",
                        "something went wrong on our side; it has been logged")
