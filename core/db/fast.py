"""Hot statements run straight on the DBAPI cursor of the session's connection.

Going through `Connection.execute` costs some 70 µs per statement, many times what SQLite needs for
a small INSERT or UPDATE, and the intake path runs a few per event. Here a Core statement is compiled
once per dialect and set of parameter names, with the bind and result processors SQLAlchemy itself
would apply (UTC datetimes, booleans) and the scalar column defaults it would fill in, so the values
written and read back are exactly those of `Connection.execute`; database errors are wrapped the same
way (IntegrityError, OperationalError). For module-level statements without expanding parameters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from core.db.types import UtcDateTime


class _Prepared:
    def __init__(self, stmt: Any, dialect: Dialect, keys: Sequence[str], many: bool) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys), for_executemany=many)
        if any(bind.expanding for bind in compiled.binds.values()):
            raise ValueError("expanding parameters need Connection.execute")
        self.sql = compiled.string
        self.dialect = dialect
        defaults = {col.key: col.default.arg for col in (*compiled.insert_prefetch, *compiled.update_prefetch)
                    if col.default is not None and col.default.is_scalar}
        if len(defaults) != len(compiled.insert_prefetch) + len(compiled.update_prefetch):
            raise ValueError("only scalar column defaults are filled in here")
        names = compiled.positiontup if compiled.positional else list(compiled.bind_names.values())
        escaped = compiled.escaped_bind_names
        self.sent = [escaped.get(name, name) for name in names]  # the names in the SQL text
        # for every parameter: the key of its value in the given values, or "" and a constant
        self.take: list[tuple[str, Any]] = []
        self.processors: list[tuple[int, Callable[[Any], Any]]] = []  # (position, processor)
        for position, name in enumerate(names):
            bind = compiled.binds[name]
            if name not in keys and name not in defaults and bind.required:
                raise ValueError(f"no value for parameter {name}")
            self.take.append((name, None) if name in keys else ("", defaults.get(name, bind.value)))
            processor = _bind_processor(bind.type, dialect)
            if processor is not None:
                self.processors.append((position, processor))
        self.positional = compiled.positional
        self.columns = list(getattr(stmt, "selected_columns", None) or getattr(stmt, "exported_columns", None) or ())
        # (position, processor) of the columns that have one, from the first result's types, as SQLAlchemy does
        self.results: list[tuple[int, Callable[[Any], Any]]] | None = None

    def parameters(self, values: dict[str, Any]) -> Any:
        out = [values[name] if name else constant for name, constant in self.take]
        for position, processor in self.processors:
            out[position] = processor(out[position])
        return out if self.positional else dict(zip(self.sent, out, strict=True))

    def rows(self, raw: list[tuple[Any, ...]], description: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        if self.results is None:
            processors = [col.type.dialect_impl(self.dialect).result_processor(self.dialect, d[1])
                          for col, d in zip(self.columns, description, strict=True)]
            self.results = [(i, p) for i, p in enumerate(processors) if p is not None]
        if not self.results:
            return raw
        out = []
        for row in raw:
            values = list(row)
            for i, processor in self.results:  # only the columns that need it (datetimes, booleans)
                values[i] = processor(values[i])
            out.append(tuple(values))
        return out


_DATETIME_PROCESSORS: dict[tuple[str, str], Callable[[Any], Any] | None] = {}


def _bind_processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    processor = type_.dialect_impl(dialect).bind_processor(dialect)
    if processor is None or type_.python_type is not datetime:
        return processor
    # one per datetime type, shared by every statement, remembering its recent answers: the rows of
    # one event bind the same `now` and the same deadlines many times
    key = (repr(type_), dialect.name)
    if key not in _DATETIME_PROCESSORS:
        if isinstance(type_, UtcDateTime) and dialect.name == "sqlite":
            processor = utc_text
        _DATETIME_PROCESSORS[key] = _remembering(processor)
    return _DATETIME_PROCESSORS[key]


def utc_text(value: datetime | None) -> str | None:
    """What UtcDateTime stores on SQLite, written in one step: the UTC time as SQLAlchemy's SQLite
    DATETIME text ("2026-12-04 09:30:00.000000", microseconds always, so text order is time order).
    The same text as the type's own processors (tests/integration/test_fast_path.py compares them)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _remembering(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    none = processor(None)
    recent: dict[int, tuple[Any, Any]] = {}  # id(value) -> (value, result); the value keeps its id taken

    def process(value: Any) -> Any:
        if value is None:
            return none
        known = recent.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        result = processor(value)
        if len(recent) >= 64:
            recent.clear()
        recent[id(value)] = (value, result)
        return result

    return process


_CACHE: dict[tuple[Any, str, tuple[str, ...], bool], _Prepared] = {}


def _prepared(session: Session, stmt: Any, keys: tuple[str, ...], many: bool) -> tuple[Any, _Prepared]:
    connection = session.connection()
    dialect = connection.dialect
    found = _CACHE.get((stmt, dialect.name, keys, many))
    if found is None:
        found = _CACHE[(stmt, dialect.name, keys, many)] = _Prepared(stmt, dialect, keys, many)
    return connection.connection.dbapi_connection, found


class Result:
    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self._rows, self.rowcount = rows, rowcount

    def all(self) -> list[tuple[Any, ...]]:
        return self._rows

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None


def execute(session: Session, stmt: Any, values: dict[str, Any]) -> Result:
    """Run `stmt` with `values` in the session's transaction (rows of a SELECT or RETURNING are read)."""
    dbapi, prepared = _prepared(session, stmt, tuple(values), False)
    parameters = prepared.parameters(values)
    cursor = dbapi.cursor()
    try:
        cursor.execute(prepared.sql, parameters)
        # rows of the statement's own columns (not those of a RETURNING the compiler adds for the primary key)
        rows = prepared.rows(cursor.fetchall(), cursor.description) if prepared.columns else []
        return Result(rows, cursor.rowcount)
    except prepared.dialect.loaded_dbapi.Error as error:
        raise _wrapped(prepared, parameters, error) from error
    finally:
        cursor.close()


def execute_many(session: Session, stmt: Any, rows: list[dict[str, Any]]) -> None:
    """Run `stmt` once per row (each row with the same keys, like the first)."""
    dbapi, prepared = _prepared(session, stmt, tuple(rows[0]), True)
    parameters = [prepared.parameters(row) for row in rows]
    cursor = dbapi.cursor()
    try:
        cursor.executemany(prepared.sql, parameters)
    except prepared.dialect.loaded_dbapi.Error as error:
        raise _wrapped(prepared, parameters, error) from error
    finally:
        cursor.close()


def _wrapped(prepared: _Prepared, parameters: Any, error: Exception) -> exc.DBAPIError:
    return exc.DBAPIError.instance(prepared.sql, parameters, error, prepared.dialect.loaded_dbapi.Error,
                                   dialect=prepared.dialect)  # type: ignore[return-value]
