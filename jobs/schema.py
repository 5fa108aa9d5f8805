"""The schema revision this code expects, apart from jobs.migrate so that reading it is free.

Alembic's head revision. Bump it with every new migration (tests/db checks it). store/queries.py
reads a SQLite store with sqlite3 only when the store is at exactly this revision.
"""

SCHEMA_HEAD = "0007"
