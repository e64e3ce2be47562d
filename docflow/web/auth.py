"""Who is asking: a session cookie (browser, with CSRF) or a bearer token (programs)."""

from __future__ import annotations

import hmac
import secrets
from typing import cast

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from docflow.bootstrap import Services
from docflow.domain.audit import Origin
from docflow.domain.errors import Forbidden, Unauthenticated
from docflow.domain.org import Actor

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def services() -> Services:
    return cast(Services, current_app.extensions["docflow"])


def origin() -> Origin:
    """Where this request came from, for the audit trail."""
    via = "api" if request.path.startswith("/api/") else "web"
    return Origin(client_addr=request.remote_addr, user_agent=request.user_agent.string or None,
                  via=via)


def begin_session(actor: Actor) -> str:
    """Log the actor in on this browser; returns the CSRF token for the session."""
    session.clear()
    session["uid"] = actor.id
    session["csrf"] = secrets.token_urlsafe(32)
    session.permanent = True
    return cast(str, session["csrf"])


def end_session() -> None:
    session.clear()


def csrf_token() -> str:
    """The session's CSRF token (made on first use, e.g. for the login form)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return cast(str, session["csrf"])


def current_actor() -> Actor:
    """The authenticated actor; Unauthenticated when there is none."""
    actor = cast(Actor | None, g.get("actor"))
    if actor is None:
        raise Unauthenticated("log in, or send an API token as 'Authorization: Bearer …'")
    return actor


def optional_actor() -> Actor | None:
    return cast(Actor | None, g.get("actor"))


def init_app(app: Flask) -> None:
    @app.before_request
    def _authenticate() -> None:
        g.actor = None
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            actor = services().identity.actor_for_token(header.removeprefix("Bearer ").strip())
            if actor is None:
                raise Unauthenticated("the API token is not valid")
            g.actor = actor
            return  # tokens are not sent by browsers on their own: no CSRF check
        # CSRF guards what a session may do; without one there is nothing to ride on, except
        # logging in (a forged login would plant the attacker's account in the victim's browser).
        guarded = session.get("uid") or request.endpoint == "pages.login"
        if request.method not in SAFE_METHODS and guarded:
            sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
            expected = session.get("csrf", "")
            if not expected or not hmac.compare_digest(str(sent), str(expected)):
                raise Forbidden("the CSRF token is missing or wrong; reload the page")
        uid = session.get("uid")
        if uid:
            g.actor = services().identity.actor(str(uid))
            if g.actor is None:
                session.clear()



def pages_login() -> ResponseReturnValue | None:
    """Before a page: a person not logged in goes to the login page, then back here."""
    if optional_actor() is None:
        return redirect(url_for("pages.login", next=request.path))
    return None
