"""Which failures are retried and which dead-letter an event (issue 6 item 2; PostgreSQL manual, Appendix A
"PostgreSQL Error Codes"): a table, pure."""

from __future__ import annotations

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError as StoreIntegrityError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from psycopg import errors
from psycopg_pool import PoolTimeout

from edms_runtime.faults import ConcurrencyConflict, is_transient


def _wrapped(cause: BaseException) -> StoreOperationalError:
    """As eventsourcing's datastore wraps a psycopg error."""
    try:
        raise StoreOperationalError(str(cause)) from cause
    except StoreOperationalError as exc:
        return exc


TRANSIENT = [
    ("deadlock 40P01", errors.DeadlockDetected()),
    ("serialization failure 40001", errors.SerializationFailure()),
    ("lock timeout 55P03", errors.LockNotAvailable()),
    ("statement timeout 57014", errors.QueryCanceled()),
    ("admin shutdown 57P01", errors.AdminShutdown()),
    ("too many connections 53300", errors.TooManyConnections()),
    ("disk full 53100", errors.DiskFull()),
    ("connection lost (no SQLSTATE)", psycopg.OperationalError("server closed the connection unexpectedly")),
    ("connection closed", psycopg.InterfaceError("the connection is closed")),
    ("no connection from the pool in time", PoolTimeout("couldn't get a connection after 30 sec")),
    ("wrapped deadlock", _wrapped(errors.DeadlockDetected())),
    ("a concurrent writer", ConcurrencyConflict("aggregate changed meanwhile")),
]

PERMANENT = [
    ("NUL in text 22021", errors.CharacterNotInRepertoire()),
    ("check constraint 23514", errors.CheckViolation()),
    ("unique violation 23505", errors.UniqueViolation()),
    ("value too long 22001", errors.StringDataRightTruncation()),
    ("index row too large 54000", errors.ProgramLimitExceeded()),
    ("undefined table 42P01", errors.UndefinedTable()),
    ("wrapped unique violation", _wrapped(errors.UniqueViolation())),
    ("eventsourcing conflict", StoreIntegrityError("duplicate key")),
    ("a bug in a handler", KeyError("kind")),
    ("bad data", ValueError("no case for index")),
]


@pytest.mark.parametrize(("case", "exc"), TRANSIENT, ids=[c for c, _ in TRANSIENT])
def test_is_retried(case: str, exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(("case", "exc"), PERMANENT, ids=[c for c, _ in PERMANENT])
def test_is_the_events_fault(case: str, exc: BaseException) -> None:
    assert not is_transient(exc)
