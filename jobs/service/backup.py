"""`jobs db backup`: a consistent copy of a SQLite store while workers keep writing.

sqlite3's `Connection.backup` is SQLite's online backup API. It copies in one step: one read
transaction, which under WAL never blocks the writers and sees one moment of the store. (Copying in
several steps would let writers in between, but every write by another connection restarts such a
backup: measured here, a backup of a 240 MB store did not finish until a busy writer stopped.) It is written to a temporary file beside
the target and renamed into place, 0600 like the store itself, so a failed backup leaves no
half-written file under the name asked for.

PostgreSQL is backed up with its own tools: `pg_dump` (a consistent snapshot while others write).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from jobs.errors import StoreError

PAGES_PER_STEP = -1  # everything in one step (see above)


def backup_sqlite(source: Path, target: Path, *, replace: bool = False) -> int:
    """Copy `source` to `target` with the online backup API; returns the pages copied."""
    if not source.is_file():
        raise StoreError(f"no store at {source}")
    target = target.expanduser()
    if target.resolve() == source.resolve():
        raise StoreError("the backup cannot replace the store itself")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    os.close(fd)
    copied = 0

    def progress(status: int, remaining: int, total: int) -> None:
        nonlocal copied
        copied = total

    try:
        src = sqlite3.connect(str(source), timeout=30.0)
        try:
            dst = sqlite3.connect(str(partial))
            try:
                src.backup(dst, pages=PAGES_PER_STEP, progress=progress)
                # A self-contained file: one journal mode that needs no -wal beside it.
                dst.execute("PRAGMA journal_mode = DELETE")
                problems = dst.execute("PRAGMA quick_check").fetchall()
            finally:
                dst.close()
        finally:
            src.close()
        if problems != [("ok",)]:
            raise StoreError(f"the backup failed its check: {problems[0][0]}")
        if target.exists() and not replace:
            raise StoreError(f"{target} exists")
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot back up {source}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return copied


def postgres_advice(url: str) -> str:
    return (
        "this store is PostgreSQL: back it up with its own tool, which takes a consistent "
        "snapshot while workers run, e.g. `pg_dump --format=custom --file jobs.dump DBNAME` "
        "(restore with pg_restore)"
    )
