"""The `edms` command: local stack, development tokens, demo data, replay."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import httpx

from edms_runtime.auth import issue_token
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import SERVICES, Stack

DEMO_DOCUMENTS = [
    {
        "kind": "incoming_letter",
        "title": "О предоставлении сведений о численности населения муниципальных районов",
        "correspondent": "Территориальный орган Росстата",
        "correspondent_number": "12-07/345",
        "correspondent_date": "2026-11-20",
        "text": "Просим представить сведения о численности населения.",
    },
    {
        "kind": "incoming_letter",
        "title": "О проведении проверки готовности к отопительному сезону",
        "correspondent": "Прокуратура области",
        "correspondent_number": "7-1-2026",
        "correspondent_date": "2026-11-19",
        "urgency": "urgent",
    },
    {
        "kind": "incoming_letter",
        "title": "О ремонте автомобильных дорог общего пользования",
        "correspondent": "Администрация муниципального района",
        "correspondent_number": "01-15/901",
        "correspondent_date": "2026-11-18",
    },
]


def _settings(args: argparse.Namespace) -> PlatformSettings:
    return PlatformSettings(data_dir=Path(args.data_dir))


def cmd_token(args: argparse.Namespace) -> int:
    roles = [r for r in args.roles.split(",") if r]
    print(issue_token(_settings(args), user=args.user, org=args.org, roles=roles, unit=args.unit, ttl_seconds=args.ttl))
    return 0


def cmd_stack_up(args: argparse.Namespace) -> int:
    stack = Stack.from_env(Path(args.data_dir))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started = time.monotonic()
    try:
        print("starting PostgreSQL, the broker and five services ...", flush=True)
        stack.start()
        (stack.data_dir / "stack.json").write_text(
            json.dumps({"pid": os.getpid(), "database_url": stack.database_url, "kafka": stack.kafka_bootstrap})
        )
        if args.demo:
            _demo(stack.data_dir, quiet=True)
        _banner(stack, time.monotonic() - started)
        while not stop.is_set():
            for name, process in stack.processes.items():
                if process.proc is not None and process.proc.poll() is not None:
                    print(f"{name} exited (code {process.proc.returncode}); restarting, see {process.log_path}")
                    process.start()
            stop.wait(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping ...", flush=True)
        stack.stop()
        (stack.data_dir / "stack.json").unlink(missing_ok=True)
        print("stopped; data kept in", stack.data_dir)
    return 0


def _banner(stack: Stack, seconds: float) -> None:
    lines = [f"EDMS is running ({seconds:.1f} s). Data: {stack.data_dir.resolve()}", ""]
    for name in stack.services:
        port = stack.ports[name]
        lines.append(f"  {name:<9} http://127.0.0.1:{port}/docs")
    lines += [
        "",
        f"  PostgreSQL {stack.database_url}",
        f"  Kafka      {stack.kafka_bootstrap}",
        "",
        "A token for the API (clerk of the demo organization):",
        "  TOKEN=$(.venv/bin/edms token --user clerk1 --org demo-region --unit 01 --roles clerk)",
        '  curl -s -G http://127.0.0.1:8104/search -H "Authorization: Bearer $TOKEN" --data-urlencode q=сведения',
        "More examples: README.md",
        "",
        "Logs: " + str(stack.logs.resolve()) + "   Stop: Ctrl-C",
    ]
    print("\n".join(lines), flush=True)


def cmd_stack_status(args: argparse.Namespace) -> int:
    code = 0
    for name, port in SERVICES.items():
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
            state = response.json().get("status", response.status_code)
        except httpx.HTTPError:
            state, code = "down", 1
        print(f"{name:<9} :{port}  {state}")
    return code


def cmd_stack_down(args: argparse.Namespace) -> int:
    state = Path(args.data_dir) / "stack.json"
    if not state.exists():
        print("no running stack recorded in", state)
        return 0
    pid = json.loads(state.read_text())["pid"]
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        state.unlink(missing_ok=True)
    print("sent stop to", pid)
    return 0


def _demo(data_dir: Path, quiet: bool = False) -> None:
    token = issue_token(
        PlatformSettings(data_dir=data_dir), user="clerk1", org="demo-region", unit="01", roles=["clerk"]
    )
    headers = {"Authorization": f"Bearer {token}"}
    found = httpx.get(
        f"http://127.0.0.1:{SERVICES['search']}/search", params={"limit": 1}, headers=headers, timeout=10
    ).json()
    if found.get("total", 0) > 0:
        if not quiet:
            print("demo data is already there")
        return
    for document in DEMO_DOCUMENTS:
        response = httpx.post(
            f"http://127.0.0.1:{SERVICES['registry']}/documents", json=document, headers=headers, timeout=10
        )
        response.raise_for_status()
        if not quiet:
            print(response.json()["reg_number"], document["title"])


def cmd_demo(args: argparse.Namespace) -> int:
    _demo(Path(args.data_dir))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from edms_runtime.replay import replay

    settings = _settings(args)
    print(replay(settings.database_url, args.service, args.tables.split(",") if args.tables else None))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edms", description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("EDMS_DATA_DIR", ".edms"))
    sub = parser.add_subparsers(dest="command", required=True)

    stack = sub.add_parser("stack", help="the local stack").add_subparsers(dest="action", required=True)
    up = stack.add_parser("up", help="start PostgreSQL, the broker and all services; Ctrl-C stops")
    up.add_argument("--no-demo", dest="demo", action="store_false", help="do not load demo documents")
    up.set_defaults(func=cmd_stack_up)
    stack.add_parser("down", help="stop a stack started with `up`").set_defaults(func=cmd_stack_down)
    stack.add_parser("status", help="readiness of every service").set_defaults(func=cmd_stack_status)

    token = sub.add_parser("token", help="print a development bearer token")
    token.add_argument("--user", required=True)
    token.add_argument("--org", required=True)
    token.add_argument("--unit", default=None)
    token.add_argument("--roles", default="")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="seconds")
    token.set_defaults(func=cmd_token)

    sub.add_parser("demo", help="register demo documents in a running stack").set_defaults(func=cmd_demo)

    replay = sub.add_parser("replay", help="rebuild a service's read model from every event")
    replay.add_argument("service", choices=sorted(SERVICES))
    replay.add_argument("--tables", default=None, help="read-model tables to truncate (default: the service's)")
    replay.set_defaults(func=cmd_replay)

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
