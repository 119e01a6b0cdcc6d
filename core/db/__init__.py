"""Persistence: SQLModel tables, engines, unit of work, migrations."""
