"""Which failures are transient (retry the whole unit of work later) and which mean the input itself is wrong.

A transient failure says nothing about the event or the request: a deadlock, a serialization failure, a lock or
statement timeout, a lost or refused connection, a server shutting down, a full disk, a concurrent writer that got
there first. The work is retried, never dead-lettered. Anything else (a constraint the data breaks, a value the
database cannot store, a bug in a handler) would fail again the same way: that event goes aside with its reason.
"""

from __future__ import annotations

import psycopg
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError

#: SQLSTATE classes of transient conditions (PostgreSQL manual, Appendix A "PostgreSQL Error Codes"):
#: 08 connection exception, 40 transaction rollback (40001 serialization failure, 40P01 deadlock),
#: 53 insufficient resources, 57 operator intervention (57014 query canceled = statement timeout,
#: 57P01 admin shutdown), 58 system error.
TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57", "58"})
#: Single transient codes of other classes: 55P03 lock not available (lock_timeout), 55006 object in use.
TRANSIENT_CODES = frozenset({"55P03", "55006"})


class ConcurrencyConflict(Exception):
    """Another writer changed an aggregate this unit of work changes; reload and do it again."""


class Transient(Exception):
    """A unit of work failed for a reason that is not the input's; it is retried as a whole."""


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same work later may succeed."""
    if isinstance(exc, (ConcurrencyConflict, Transient, TimeoutError)):
        return True
    if isinstance(exc, (StoreOperationalError, StoreInterfaceError)):
        cause = exc.__cause__
        return cause is None or is_transient(cause)
    if isinstance(exc, psycopg.InterfaceError):
        return True
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        if state is None:
            # raised by the client: a lost or refused connection, a pool that cannot get one in time
            return isinstance(exc, psycopg.OperationalError)
        return state[:2] in TRANSIENT_CLASSES or state in TRANSIENT_CODES
    return False
