"""Reading the pages' forms: dates and choices, refused in words when they are not what the
form offered."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import TypeVar

from flask import request
from flask_babel import gettext

from docflow.domain.errors import Invalid

E = TypeVar("E", bound=Enum)


def form_date(field: str) -> date:
    """A date the form's calendar gave (YYYY-MM-DD)."""
    try:
        return date.fromisoformat(request.form.get(field, ""))
    except ValueError:
        raise Invalid(gettext("Give the date as the calendar offers it.")) from None


def form_choice(kind: type[E], field: str, refusal: str) -> E:
    """One of the choices a select offered; `refusal` (translated) when it is not."""
    try:
        return kind(request.form.get(field, ""))
    except ValueError:
        raise Invalid(refusal) from None
