"""The database: engine creation, transactions and file permissions.

SQLite (the default) is shared by several processes (workers and CLI commands), so:

- WAL, a 30 s busy timeout, `synchronous=NORMAL`, foreign keys on; never `mmap_size` (see the WAL-reset
  race in docs/reliability).
- pysqlite's own transaction handling is switched off (`isolation_level = None`) and we emit BEGIN
  ourselves: `BEGIN IMMEDIATE` for every write transaction, a plain deferred `BEGIN` for reads. A
  deferred transaction that reads and then writes fails at once with "database is locked" if another
  connection committed in between, busy timeout or not; `BEGIN IMMEDIATE` takes the write lock first
  and so waits on the busy timeout instead.
- The file is created 0600 in a 0700 directory before SQLite opens it: SQLite then gives the -wal
  and -shm files the same mode, whatever the umask.
- A new store appears whole: it is made under a temporary name, already in WAL mode, and then
  linked into place. So a file at the store's path is always one we made, and an empty file (or one
  that is not SQLite) is someone else's: it is reported and never overwritten. And first opens
  racing each other never switch the journal mode (which takes an exclusive lock that SQLite does
  not wait for: the cause of "database is locked" when several processes opened a new store).
- A store that cannot be written (read-only file or directory) is opened read-only: reading
  commands work, and a write says why it cannot happen.

Any other SQLAlchemy URL (PostgreSQL through psycopg 3) selects another database; the same code and
migrations serve both. Transactions are short: never hold one across a network call.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlmodel import Session

from jobs.errors import StoreError

__all__ = ["Database", "default_sqlite_url", "display_url", "open_database"]

BUSY_TIMEOUT_MS = 30_000

# Set on an engine's execution options to make the SQLite `begin` listener emit BEGIN IMMEDIATE.
_WRITE_OPTION = "jobs_write"

# Driver errors that mean "the store cannot be used right now" (locked, full, I/O, unreachable,
# corrupt). IntegrityError, ProgrammingError and DataError are bugs or conflicts the caller handles.
_STORE_FAILURES = (exc.OperationalError, exc.InterfaceError, exc.InternalError)


def default_sqlite_url(home: Path) -> str:
    """The URL of the default store, `$JOBS_HOME/jobs.db`, as an absolute sqlite URL."""
    return f"sqlite:///{Path(home).expanduser().resolve() / 'jobs.db'}"


def display_url(url: str | URL) -> str:
    """The URL with any password masked, safe for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "<invalid database URL>"


def describe(engine: Engine) -> str:
    """How messages name a store: the file for SQLite, the masked URL otherwise."""
    path = _sqlite_file(engine.url)
    return str(path) if path is not None else display_url(engine.url)


def first_line(error: BaseException) -> str:
    """The driver's message, first line only (psycopg adds DETAIL/HINT lines)."""
    inner = getattr(error, "orig", None) or error
    text = str(inner).strip() or type(inner).__name__
    return text.splitlines()[0]


def recycle_connection_after(session: Session) -> None:
    """Replace this session's connection once it is given back, on SQLite: Python's sqlite3 keeps
    the values last bound to each cached statement, so a 50 MB value just written would stay in
    this process's memory for as long as the pooled connection lives. For writes of large values
    only (a new connection costs about a millisecond)."""
    if session.get_bind().dialect.name == "sqlite":
        session.flush()
        session.connection().connection.invalidate(soft=True)


def is_store_failure(error: BaseException) -> bool:
    """True for driver errors that mean the store is unusable (not bugs, not constraint conflicts)."""
    if isinstance(error, _STORE_FAILURES):
        return True
    # A bare DatabaseError is what SQLite raises for "file is not a database" / "malformed".
    return type(error) is exc.DatabaseError or isinstance(error, sqlite3.DatabaseError)


class Database:
    """An engine plus the two kinds of transaction the store uses."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Why this store cannot be written, or None (see _open_read_only).
        self.read_only: str | None = getattr(engine, "jobs_read_only", None)
        self.url = engine.url.render_as_string(hide_password=False)
        # Same pool, same listeners; only its execution option differs (BEGIN IMMEDIATE on SQLite).
        self._write_engine = engine.execution_options(**{_WRITE_OPTION: True})

    @property
    def dialect(self) -> str:
        """The backend: "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None (in-memory SQLite, another database)."""
        return _sqlite_file(self.engine.url)

    @property
    def display_url(self) -> str:
        return display_url(self.engine.url)

    def __repr__(self) -> str:
        return f"Database({self.display_url!r})"

    __str__ = __repr__

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: BEGIN IMMEDIATE on SQLite; commit on success, rollback on error."""
        if self.read_only:
            raise StoreError(read_only_message(self.engine, self.read_only))
        with (
            _translate_failures(self.engine),
            Session(self._write_engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A read transaction (deferred BEGIN); objects stay usable afterwards.

        Writes are refused here: a deferred transaction that writes can fail with "database is
        locked" at once on SQLite, whatever the busy timeout. Use `write()`.
        """
        with (
            _translate_failures(self.engine),
            Session(self.engine, expire_on_commit=False, autoflush=False) as session,
        ):
            event.listen(session, "do_orm_execute", _refuse_orm_writes)
            yield session
            if session.new or session.dirty or session.deleted:
                raise RuntimeError("changes made inside Database.read(); use Database.write()")
            # Closing (in Session.__exit__) ends the transaction and keeps loaded objects as they are.

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Create the directory (0700) and file (0600) for SQLite, configure the engine, and bring the
    schema to head (or raise StoreError if the database is newer than the code)."""
    engine = create_engine(url)
    database = Database(engine)
    try:
        # Connect now, so an unreadable/corrupt file or an unreachable server fails here, clearly.
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1").all()
        if migrate:
            from jobs import migrate as migrations  # light: imports Alembic only to upgrade

            migrations.ensure_schema(engine)
    except StoreError:
        database.close()
        raise
    except (exc.DBAPIError, sqlite3.Error) as error:
        database.close()
        if isinstance(error, exc.DBAPIError) and not is_store_failure(error):
            raise
        raise StoreError(cannot_use_message(engine, error)) from error
    return database


def cannot_use_message(engine: Engine, error: BaseException) -> str:
    reason = first_line(error)
    if "readonly database" in reason:
        return read_only_message(engine, reason)
    return f"cannot use the store at {describe(engine)}: {reason}"


def read_only_message(engine: Engine, reason: str) -> str:
    return (
        f"cannot write to the store at {describe(engine)}: {reason}; "
        "commands that only read (list, show, doctor) still work"
    )


def create_engine(url: str) -> Engine:
    """An engine configured for `jobs` (pragmas, BEGIN IMMEDIATE, pool settings); no schema work."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError as error:
        raise StoreError(f"invalid database URL {display_url(url)!r}: {error}") from error
    if parsed.drivername == "postgresql":
        # Only psycopg 3 is a dependency; plain postgresql:// would mean psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")

    try:
        if parsed.get_backend_name() == "sqlite":
            return _create_sqlite_engine(parsed)
        return sa.create_engine(parsed, pool_pre_ping=True)
    except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as error:
        raise StoreError(f"unsupported database URL {display_url(parsed)!r}: {error}") from error


def _create_sqlite_engine(url: URL) -> Engine:
    path = _sqlite_file(url)
    kwargs: dict = {}
    if path is None:
        # In-memory: one connection shared by every session, or each would see its own database.
        kwargs = {"poolclass": sa.StaticPool, "connect_args": {"check_same_thread": False}}
    else:
        _prepare_sqlite_file(path)
        read_only = _why_read_only(path)
        if read_only:
            return _open_read_only(url, path, read_only)
        kwargs = {"connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000}}
    engine = sa.create_engine(url, **kwargs)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _why_read_only(path: Path) -> str | None:
    if not os.access(path, os.W_OK):
        return "the file is read-only"
    if not os.access(path.parent, os.W_OK):
        # SQLite writes its -wal and -shm files beside the store.
        return f"its directory {path.parent} is read-only"
    return None


def _open_read_only(url: URL, path: Path, reason: str) -> Engine:
    """SQLite's read-only mode; if even that needs files it cannot create (the -shm beside a WAL
    store, in a read-only directory), the file is read as immutable: nobody can be writing it."""
    from urllib.parse import quote

    location = quote(str(path))

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(
            f"file:{location}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000
        )
        try:
            connection.execute("PRAGMA schema_version").fetchone()
            return connection
        except sqlite3.OperationalError:
            connection.close()
        return sqlite3.connect(f"file:{location}?immutable=1", uri=True)

    engine = sa.create_engine(url, creator=connect)
    engine.jobs_read_only = reason  # type: ignore[attr-defined]
    event.listen(engine, "connect", _on_sqlite_read_only_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_read_only_connect(dbapi_connection, connection_record) -> None:
    dbapi_connection.isolation_level = None
    dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def _on_sqlite_connect(dbapi_connection, connection_record) -> None:
    # Take transaction control away from pysqlite; _on_sqlite_begin emits BEGIN instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first: switching to WAL may itself need to wait for a lock.
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        # After a large write (a 50 MB prompt) the WAL file would keep its size for good.
        cursor.execute("PRAGMA journal_size_limit = 8388608")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: sa.Connection) -> None:
    if connection.get_execution_options().get(_WRITE_OPTION):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


def _refuse_orm_writes(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise RuntimeError("a write statement inside Database.read(); use Database.write()")


@contextlib.contextmanager
def _translate_failures(engine: Engine) -> Iterator[None]:
    try:
        yield
    except exc.DBAPIError as error:
        if not is_store_failure(error):
            raise
        raise StoreError(cannot_use_message(engine, error)) from error


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return None
    if database.startswith("file:"):  # a URI filename (?uri=true): leave it to SQLite
        return None
    return Path(database).expanduser().absolute()


SQLITE_HEADER = b"SQLite format 3\x00"


def _refuse_foreign(path: Path) -> None:
    """Look (read-only, before our connection switches it to WAL) whether an SQLite file is another
    program's database: tables, none of them ours. Changing its journal mode would be a write."""
    from urllib.parse import quote

    try:
        connection = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
        finally:
            connection.close()
    except sqlite3.Error:
        return  # unreadable or corrupt: opening it says so, in SQLite's words
    if tables and "alembic_version" not in tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(
            f"the store at {path} is an SQLite database of something else (tables: {shown}), "
            "not a jobs store; it was left as it is: point JOBS_HOME (or JOBS_DB_URL) elsewhere"
        )


def _prepare_sqlite_file(path: Path) -> None:
    """The directory 0700 (if we create it); the store made whole (0600, WAL) if there is none;
    an existing file that is not an SQLite database refused, never overwritten."""
    try:
        if not path.parent.exists():
            # Only the last directory gets 0700; missing parents get the usual mode, like mkdir -p.
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path in _CHECKED_STORES:
            # Never open (and close) a descriptor of a store this process already has open:
            # closing any descriptor of a file drops every POSIX lock the process holds on it,
            # including those of the open store, and another process could then delete its live
            # WAL. It was checked when it was first opened.
            return
        if not os.path.lexists(path):
            _create_sqlite_file(path)
    except OSError as error:
        raise StoreError(f"cannot create the store at {path}: {error.strerror or error}") from error
    _check_is_sqlite(path)
    _CHECKED_STORES.add(path)


# SQLite stores this process has checked (and opened): see _prepare_sqlite_file.
_CHECKED_STORES: set[Path] = set()


def _create_sqlite_file(path: Path) -> None:
    """A new, empty WAL database under a temporary name, linked into place: whoever opens the
    path sees a whole database or nothing. Losing the race to another process is fine."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.new")
    fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_RDWR | getattr(os, "O_CLOEXEC", 0), 0o600)
    os.close(fd)
    try:
        connection = sqlite3.connect(temporary)
        try:
            # Writes the header (page 1) with the WAL flag; no -wal is left once closed.
            connection.execute("PRAGMA journal_mode = WAL").fetchone()
        finally:
            connection.close()
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        except OSError:
            # No hard links here (some network or FUSE file systems): an exclusive create of a
            # copy (a racing opener could then see it half-written, for a moment).
            content = temporary.read_bytes()
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                try:
                    os.write(fd, content)
                finally:
                    os.close(fd)
    finally:
        for leftover in (temporary, Path(f"{temporary}-wal"), Path(f"{temporary}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _check_is_sqlite(path: Path) -> None:
    """Refuse (never overwrite) an existing file that is not an SQLite database."""
    try:
        with open(path, "rb") as file:
            header = file.read(20)
    except IsADirectoryError:
        raise StoreError(f"the store at {path} is a directory, not a jobs store") from None
    except OSError as error:
        raise StoreError(f"cannot read the store at {path}: {error.strerror or error}") from None
    if header.startswith(SQLITE_HEADER):
        if header[18:19] != b"\x02":  # not WAL: not made by jobs (which always makes it WAL)
            _refuse_foreign(path)
        return
    what = "an empty file (0 bytes)" if not header else "not an SQLite database"
    raise StoreError(
        f"the store at {path} is {what}, so not a jobs store; it was left as it is: move it "
        "away, or point JOBS_HOME (or JOBS_DB_URL) elsewhere"
    )
