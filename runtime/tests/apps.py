"""A small event-sourced application for the runtime's own tests: notes created from a cause, and their books.

A `Note` is created in reaction to something (its id derives from the cause, like a route or a control card); a
`Book` is shared by many notes (like an archive case shared by the documents of a year).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from eventsourcing.domain import Aggregate, event

from edms_runtime.eventstore import ServiceApplication, build_application

NAMESPACE = uuid.UUID("a3f0c8de-77a2-4b7e-9d55-1f2e3c4b5a69")


class Book(Aggregate):
    @staticmethod
    def create_id(title: str, **_: object) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"book/{title}")

    @event("Opened")
    def __init__(self, title: str) -> None:
        self.title = title


class Note(Aggregate):
    @staticmethod
    def create_id(cause: str, **_: object) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"note/{cause}")

    @event("Written")
    def __init__(self, cause: str, text: str, book: uuid.UUID | None = None) -> None:
        self.cause = cause
        self.text = text
        self.book = book

    @event("Amended")
    def amend(self, text: str) -> None:
        self.text = text


class NotesApp(ServiceApplication):
    def write(self, cause: str, text: str, book: str | None = None) -> None:
        """Write the note of `cause` (once), into `book`, opening the book the first time."""
        book_id = None
        if book is not None:
            book_id = Book.create_id(book)
            if not self.exists(book_id):
                self.save_once(Book(book))
        self.save_once(Note(cause, text, book_id))


@contextmanager
def notes_app(database_url: str, schema: str = "notes", **env: str) -> Iterator[NotesApp]:
    app = build_application(NotesApp, database_url, schema, **env)
    try:
        yield app
    finally:
        app.close()


def count(app: ServiceApplication, topic_suffix: str) -> int:
    """How many stored events of one kind (e.g. "Note.Written") the app's store holds."""
    with app.store.datastore.get_connection() as conn:
        row = conn.execute(
            f"SELECT count(*) AS n FROM {app.store.datastore.schema}.{app.store.events_table_name} WHERE topic LIKE %s",
            (f"%{topic_suffix}",),
        ).fetchone()
    assert row is not None
    return int(row["n"])
