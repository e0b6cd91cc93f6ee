"""Alembic environment: the engine comes from priorauth's Database (admin/db.py), never from a file."""

from __future__ import annotations

from typing import Any

from alembic import context

from admin.models import Base

config = context.config
engine: Any = config.attributes.get("engine")
if engine is None:  # pragma: no cover - `alembic` run by hand: use the URL it was given
    from sqlalchemy import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")


def run() -> None:
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run()
