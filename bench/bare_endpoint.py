"""The peer of the registry's HTTP path: a bare FastAPI endpoint doing one raw eventsourcing save per request.

    python bench/bare_endpoint.py PORT DATABASE_URL

Run by bench/registry.py as a process of its own (so its CPU is counted apart), served by uvicorn with the services'
settings (edms_runtime.service.serve), saving into schema `bench_bare` with the services' PostgreSQL settings.
"""

from __future__ import annotations

import itertools
import sys

from eventsourcing.domain import Aggregate, event
from fastapi import FastAPI

from edms_runtime.eventstore import ServiceApplication, build_application
from edms_runtime.service import serve


class Tick(Aggregate):
    @event("Created")
    def __init__(self, seq: int) -> None:
        self.seq = seq


class BareApplication(ServiceApplication):
    pass


def build(database_url: str) -> FastAPI:
    store = build_application(BareApplication, database_url, "bench_bare")
    numbers = itertools.count()
    app = FastAPI()

    @app.post("/save", status_code=201)
    def save() -> dict[str, str]:
        tick = Tick(next(numbers))
        store.save(tick)
        return {"id": str(tick.id)}

    return app


if __name__ == "__main__":
    serve(build(sys.argv[2]), int(sys.argv[1]), log_level="warning")
