"""Alembic environment: the engine comes from the caller (see storage.db.migrate)."""

from __future__ import annotations

from alembic import context

from storage.db.tables import metadata

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite alters a table by copying it and dropping the old one, which foreign keys
        # from other tables' rows refuse; the check is off while migrating (it has to be
        # switched outside a transaction, so on the driver's connection) and the keys are
        # verified before it is switched back on.
        connection.connection.driver_connection.execute(
            "PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
        connection.commit()
    finally:
        if sqlite:
            connection.connection.driver_connection.execute(
                "PRAGMA foreign_keys=ON")
