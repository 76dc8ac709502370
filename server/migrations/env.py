"""Alembic environment: uses the connection handed over by ``scribe_server.db.migrate``,
or ``sqlalchemy.url`` / ``SCRIBE_DB_URL`` when run with the ``alembic`` command."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from scribe_server.config import Settings
from scribe_server.db import METADATA

config = context.config


def run_migrations(connection) -> None:
    context.configure(connection=connection, target_metadata=METADATA,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
elif context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url") or Settings.load().database_url,
                      target_metadata=METADATA, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or Settings.load().database_url)
    with engine.begin() as conn:
        run_migrations(conn)
