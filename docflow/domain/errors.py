"""Domain refusals. The web layer maps each kind to one HTTP status, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self


class DomainError(Exception):
    """Base of every refusal the domain or the services raise on purpose."""

    code = "domain-error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.template: str | None = None
        """The message with ``%(name)s`` placeholders, when it names things (see `fmt`)."""
        self.names: dict[str, object] = {}

    @classmethod
    def fmt(cls, template: str, names: Mapping[str, object], **details: object) -> Self:
        """A refusal whose words name things (a unit, a status, a number): the message is
        `template` filled with `names`, and both are kept, so a page can say the template
        in its own language and fill it the same way."""
        error = cls(template % names, **details)
        error.template, error.names = template, dict(names)
        return error


class NotFound(DomainError):
    """The object does not exist, or the actor may not know that it exists."""

    code = "not-found"


class Forbidden(DomainError):
    """The actor sees the object, but their role does not allow this action on it."""

    code = "forbidden"


class Unauthenticated(DomainError):
    """No valid credentials were presented."""

    code = "unauthenticated"


class TooManyAttempts(DomainError):
    """Too many failed logins to this account lately: wait before trying again."""

    code = "too-many-attempts"


class Conflict(DomainError):
    """The action does not fit the object's current state (e.g. issuing twice)."""

    code = "conflict"


class Invalid(DomainError):
    """The input breaks a rule: unknown type, missing abstract, bad row in an import."""

    code = "invalid"

    def __init__(self, message: str, errors: list[str] | None = None, **details: object) -> None:
        super().__init__(message, **details)
        self.errors = errors or []


class Refused(DomainError):
    """The input is well-formed but the deployment refuses it (classified documents)."""

    code = "refused"


class TooLarge(DomainError):
    """An upload exceeds the configured size limit."""

    code = "too-large"


class BadFile(DomainError):
    """An upload is not an acceptable PDF: not a PDF, broken, a decompression bomb, a loop."""

    code = "bad-file"
