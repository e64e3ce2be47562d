"""Who is acting: password login, API tokens, and the people and roles behind them."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from docflow.domain.audit import Action, AuditEvent, Origin, chain_for
from docflow.domain.errors import (
    Conflict,
    Invalid,
    NotFound,
    TooManyAttempts,
    Unauthenticated,
)
from docflow.domain.org import Actor, Role, User
from docflow.services.ids import new_id
from docflow.services.ports import Clock, PasswordHasher, UnitOfWork, UnitOfWorkFactory

TOKEN_PREFIX = "dft_"
MIN_PASSWORD = 10
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
"""After LOCK_AFTER failed logins within LOCK_FOR, the account takes none until the oldest of
them is LOCK_FOR old (the failures are read back from the account's audit chain)."""
ADDRESS_LOCK_AFTER = 30
"""After this many failed logins from one address within LOCK_FOR, whatever the accounts, the
address logs in to none until the oldest of them is LOCK_FOR old: guessing one password
across many accounts stays under each account's limit. Generous, as a commune office's people
share one address. The default of `IdentityService`'s ``address_limit``."""


def token_digest(token: str) -> str:
    """Tokens are stored only as their sha256: a database leak yields no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password() -> str:
    """A password people can type: 4 groups of 4 letters and digits."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


class IdentityService:
    """Logins, tokens and accounts."""

    def __init__(self, uow: UnitOfWorkFactory, hasher: PasswordHasher, clock: Clock, *,
                 address_limit: int = ADDRESS_LOCK_AFTER) -> None:
        """`address_limit`: failed logins from one address that close it (0: no limit)."""
        self._uow = uow
        self._address_limit = address_limit
        self._hasher = hasher
        self._clock = clock
        # Verified against when the username is unknown, so both paths cost the same.
        self._decoy = hasher.hash(secrets.token_hex(16))

    def login(self, username: str, password: str, origin: Origin) -> Actor:
        """The actor for a correct username and password; every attempt is audited."""
        now = self._clock.now()
        with self._uow() as uow:
            found = uow.users.by_username(username.strip().lower())
            subject = found.user.id if found else username[:64]
            failed = [at for at in uow.audit.recent(chain_for("user", subject),
                                                    Action.USER_LOGIN_FAILED, LOCK_AFTER)
                      if at > now - LOCK_FOR]
            from_there: list[datetime] = []
            if origin.client_addr and self._address_limit:  # no address from the CLI
                from_there = [at for at in uow.audit.failed_logins_from(
                    origin.client_addr, self._address_limit) if at > now - LOCK_FOR]
            locked = len(failed) >= LOCK_AFTER
            if locked or (self._address_limit and len(from_there) >= self._address_limit):
                # Not even a right password opens it now; the refusal is kept apart from the
                # failures, so someone hammering the account does not lock it for ever.
                uow.audit.append(AuditEvent(
                    at=now, action=Action.USER_LOGIN_LOCKED, object_type="user",
                    object_id=subject, actor_id=None, unit_code=None, document_id=None,
                    origin=origin, details={"username": username[:64],
                                            "locked": "account" if locked else "address"}))
                uow.commit()
                oldest = min(failed) if locked else min(from_there)
                wait = max(1, int((oldest + LOCK_FOR - now).total_seconds() // 60) + 1)
                if locked:
                    raise TooManyAttempts.fmt("too many failed logins: try again in "
                                              "%(minutes)s minutes", {"minutes": wait},
                                              retry_after_minutes=wait)
                raise TooManyAttempts.fmt("too many failed logins from this address: try "
                                          "again in %(minutes)s minutes", {"minutes": wait},
                                          retry_after_minutes=wait)
            stored = found.password_hash if found and found.password_hash else self._decoy
            verified = self._hasher.verify(stored, password)
            ok = found is not None and bool(found.password_hash) and found.user.active \
                and verified
            uow.audit.append(AuditEvent(
                at=now, action=Action.USER_LOGIN if ok else Action.USER_LOGIN_FAILED,
                object_type="user", object_id=subject,
                actor_id=found.user.id if ok and found else None, unit_code=None,
                document_id=None, origin=origin, details={"username": username[:64]}))
            uow.commit()
            if not ok or found is None:
                raise Unauthenticated("wrong username or password")
            return self._actor(uow, found.user)

    def actor(self, user_id: str) -> Actor | None:
        """The actor for a session's user id, or None when the account is gone or disabled."""
        with self._uow() as uow:
            user = uow.users.get(user_id)
            if user is None or not user.active:
                return None
            return self._actor(uow, user)

    def set_locale(self, actor: Actor, locale: str | None) -> None:
        """The language the person reads the pages in (a preference, not audited)."""
        with self._uow() as uow:
            uow.users.set_locale(actor.id, locale)
            uow.commit()

    def usernames(self, user_ids: Iterable[str]) -> dict[str, str]:
        """User id → username, for answers that name people the way requests do."""
        wanted = set(user_ids)
        with self._uow() as uow:
            found = {i: u.username for i in wanted if (u := uow.users.get(i)) is not None}
        return found

    def actor_by_username(self, username: str) -> Actor | None:
        """The actor for an account, for trusted local callers (CLI, demo): no password."""
        with self._uow() as uow:
            found = uow.users.by_username(username.strip().lower())
            if found is None or not found.user.active:
                return None
            return self._actor(uow, found.user)

    def actor_for_token(self, token: str) -> Actor | None:
        """The actor behind an API token, or None."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        with self._uow() as uow:
            user = uow.users.user_for_token(token_digest(token))
            if user is None or not user.active:
                return None
            return self._actor(uow, user)

    def create_token(self, actor: Actor, name: str, origin: Origin) -> str:
        """A new API token for the actor; shown once, stored as a digest."""
        name = name.strip()[:100] or "api"
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._uow() as uow:
            token_id = new_id()
            uow.users.add_token(token_id, actor.id, name, token_digest(token), now)
            uow.audit.append(AuditEvent(
                at=now, action=Action.TOKEN_CREATE, object_type="user", object_id=actor.id,
                actor_id=actor.id, unit_code=None, document_id=None, origin=origin,
                details={"token": token_id, "name": name}))
            uow.commit()
        return token

    def add_user(
        self,
        username: str,
        full_name: str,
        password: str,
        grants: Sequence[tuple[str, Role]],
        origin: Origin,
        actor_id: str | None = None,
    ) -> User:
        """Create an account with roles in units (`grants` is unit code, role)."""
        username = _check_username(username)
        if len(password) < MIN_PASSWORD:
            raise Invalid.fmt("the password needs at least %(count)s characters",
                              {"count": MIN_PASSWORD})
        now = self._clock.now()
        with self._uow() as uow:
            if uow.users.by_username(username) is not None:
                raise Conflict.fmt("the username '%(username)s' is taken",
                                   {"username": username})
            units = uow.units.get_many(code for code, _ in grants)
            missing = sorted({code for code, _ in grants if code not in units})
            if missing:
                raise Invalid("unknown units", errors=missing)
            user = User(id=new_id(), username=username,
                        full_name=full_name.strip() or username)
            uow.users.add(user, self._hasher.hash(password))
            uow.audit.append(AuditEvent(
                at=now, action=Action.USER_CREATE, object_type="user", object_id=user.id,
                actor_id=actor_id, unit_code=None, document_id=None, origin=origin,
                details={"username": username}))
            for code, role in grants:
                self._grant(uow, user.id, code, role, origin, actor_id)
            uow.commit()
        return user

    def grant(
        self, username: str, unit_code: str, role: Role, origin: Origin,
        actor_id: str | None = None,
    ) -> None:
        """Give an existing account a role in a unit."""
        with self._uow() as uow:
            found = uow.users.by_username(username.strip().lower())
            if found is None:
                raise NotFound.fmt("no user '%(username)s'", {"username": username})
            if uow.units.get(unit_code) is None:
                raise Invalid.fmt("unknown unit '%(unit)s'", {"unit": unit_code})
            self._grant(uow, found.user.id, unit_code, role, origin, actor_id)
            uow.commit()

    def set_password(
        self, username: str, password: str, origin: Origin, actor_id: str | None = None
    ) -> None:
        """Replace a user's password."""
        if len(password) < MIN_PASSWORD:
            raise Invalid.fmt("the password needs at least %(count)s characters",
                              {"count": MIN_PASSWORD})
        with self._uow() as uow:
            found = uow.users.by_username(username.strip().lower())
            if found is None:
                raise NotFound.fmt("no user '%(username)s'", {"username": username})
            uow.users.set_password(found.user.id, self._hasher.hash(password))
            uow.audit.append(AuditEvent(
                at=self._clock.now(), action=Action.USER_PASSWORD, object_type="user",
                object_id=found.user.id, actor_id=actor_id, unit_code=None, document_id=None,
                origin=origin, details={}))
            uow.commit()

    def _grant(
        self, uow: UnitOfWork, user_id: str, unit_code: str, role: Role, origin: Origin,
        actor_id: str | None,
    ) -> None:
        if uow.users.grant(user_id, unit_code, role.value):
            uow.audit.append(AuditEvent(
                at=self._clock.now(), action=Action.ROLE_GRANT, object_type="user",
                object_id=user_id, actor_id=actor_id, unit_code=unit_code, document_id=None,
                origin=origin, details={"role": role.value}))

    @staticmethod
    def _actor(uow: UnitOfWork, user: User) -> Actor:
        return Actor(user=user, memberships=tuple(uow.users.memberships(user.id)))


def _check_username(username: str) -> str:
    username = username.strip().lower()
    if not (2 <= len(username) <= 64) or not all(c.isalnum() or c in "._-" for c in username):
        raise Invalid("a username has 2 to 64 letters, digits, dots, dashes or underscores")
    return username
