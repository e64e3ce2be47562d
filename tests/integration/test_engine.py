"""Pooled PostgreSQL connections: a connection left idle is checked before use, and one that
died (a database restart, a proxy's idle timeout) is replaced without the caller noticing."""

from __future__ import annotations

from sqlalchemy import text

from storage.db import engine as engines


def test_a_dead_idle_connection_is_replaced(pg_url: str, monkeypatch: object) -> None:
    engine = engines.make_engine(pg_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as other:  # the same pooled connection, reused at once
            assert other.execute(text("SELECT pg_backend_pid()")).scalar_one() == first
        # Kill it from outside, as a restart would, and let it look idle for a while.
        admin = engines.make_engine(pg_url)
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first})
        admin.dispose()
        monkeypatch.setattr(engines, "PING_AFTER_IDLE", 0.0)  # type: ignore[attr-defined]
        with engine.connect() as conn:
            again = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert again != first
    finally:
        engine.dispose()
