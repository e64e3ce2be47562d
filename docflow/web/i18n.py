"""The pages' languages: Vietnamese first, English second (Flask-Babel).

The language is, in order: `?lang=` (kept for the session), the person's saved choice, the
browser's, Vietnamese. Messages are written in English in the code and templates; the
Vietnamese catalogue is `translations/vi/LC_MESSAGES/messages.po` (compiled `.mo` beside it,
checked against the `.po` by the tests).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request, session
from flask_babel import Babel, format_date, format_datetime, format_decimal, get_locale

from docflow.web.auth import optional_actor

LANGUAGES = ("vi", "en")
TRANSLATIONS = Path(__file__).parent / "translations"


def select_locale() -> str:
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        session["lang"] = chosen
        return chosen
    if session.get("lang") in LANGUAGES:
        return str(session["lang"])
    actor = optional_actor()
    if actor is not None and actor.user.locale in LANGUAGES:
        return str(actor.user.locale)
    return request.accept_languages.best_match(LANGUAGES) or "vi"


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "vi")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Ho_Chi_Minh")
    Babel(app, locale_selector=select_locale,
          default_translation_directories=str(TRANSLATIONS))
    app.jinja_env.globals.update(get_locale=get_locale, languages=LANGUAGES,
                                 format_date=format_date, format_datetime=format_datetime,
                                 format_decimal=format_decimal)
