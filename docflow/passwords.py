"""Password hashing with argon2id."""

from __future__ import annotations

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError


class Argon2Hasher:
    """argon2id with the library's RFC 9106 low-memory defaults."""

    def __init__(self, *, fast: bool = False) -> None:
        # `fast` is for test suites that create hundreds of accounts; never for production.
        self._impl = _Argon2(time_cost=1, memory_cost=1024, parallelism=1) if fast else _Argon2()

    def hash(self, password: str) -> str:
        return self._impl.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._impl.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
