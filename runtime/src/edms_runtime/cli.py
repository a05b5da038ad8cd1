"""The `edms` command: local stack, development tokens, demo data, replay."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg

from edms_runtime import deadletters
from edms_runtime.auth import issue_token
from edms_runtime.settings import PlatformSettings
from edms_runtime.stack import SERVICES, Stack, StackRunning


def _settings(args: argparse.Namespace) -> PlatformSettings:
    return PlatformSettings(data_dir=Path(args.data_dir))


def cmd_token(args: argparse.Namespace) -> int:
    roles = [r for r in args.roles.split(",") if r]
    longest = _settings(args).jwt_max_lifetime_seconds
    if args.ttl > longest:
        print(
            f"--ttl {args.ttl} is longer than the services accept ({longest} s, EDMS_JWT_MAX_LIFETIME_SECONDS)",
            file=sys.stderr,
        )
        return 2
    print(issue_token(_settings(args), user=args.user, org=args.org, roles=roles, unit=args.unit, ttl_seconds=args.ttl))
    return 0


def cmd_stack_up(args: argparse.Namespace) -> int:
    stack = Stack.from_env(Path(args.data_dir))
    try:
        stack.claim()
    except StackRunning as exc:
        print(exc, file=sys.stderr)  # and nothing touched: not its PostgreSQL, broker, services or files
        return 1
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
            _demo(stack)
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
        "A token for the API (clerk of the demo organization; demo logins: README, `edms demo token LOGIN`):",
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


def _demo(stack: Stack) -> None:
    """Load the demo region into a stack just started, if its store is empty (edms_runtime.demo)."""
    from edms_runtime.demo import DemoFailed, load, loaded

    settings = PlatformSettings(data_dir=stack.data_dir)
    urls = {name: process.url for name, process in stack.processes.items()}
    if loaded(settings, urls["registry"]):
        return
    print("loading the demo region (edms demo load) ...", flush=True)
    try:
        demo = load(settings, urls, log=lambda line: None)
    except DemoFailed as exc:
        print(f"the demo could not be loaded: {exc}", file=sys.stderr)
        return
    print("demo:", ", ".join(f"{k} {v}" for k, v in sorted(demo.counts.items())), flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from edms_runtime.demo import DemoFailed, demo_token, load

    settings = _settings(args)
    if args.action == "token":
        if not args.login:
            print("which login? e.g. `edms demo token clerk1`", file=sys.stderr)
            return 2
        try:
            print(demo_token(settings, args.login, args.org))
        except DemoFailed as exc:
            print(exc, file=sys.stderr)
            return 2
        return 0
    urls = {name: f"http://127.0.0.1:{port}" for name, port in SERVICES.items()}
    try:
        demo = load(settings, urls)
    except DemoFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    print("demo:", ", ".join(f"{k} {v}" for k, v in sorted(demo.counts.items())))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from edms_runtime.replay import NoReadModel, Replay, read_model_of

    try:
        model = read_model_of(args.service)
    except NoReadModel as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.lanes < 1:
        print("--lanes: at least 1", file=sys.stderr)
        return 2
    replay = Replay(
        args.service, _settings(args), model, swap_wait_seconds=args.swap_wait, lanes=args.lanes, remember=args.remember
    )
    asyncio.run(replay.run())
    return 0


def cmd_dlq_list(args: argparse.Namespace) -> int:
    with psycopg.connect(_settings(args).database_url) as conn:
        rows = deadletters.listing(conn, list(SERVICES), consumer=args.consumer, states=args.states.split(","))
    if args.json:
        print(json.dumps([_letter_json(row) for row in rows], ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("no dead letters")
        return 0
    for row in rows:
        print(
            f"{row.id:>6}  {row.consumer:<16} {row.state:<8} x{row.attempts:<3} {row.last_seen:%Y-%m-%d %H:%M:%S}  "
            f"{row.source}  {row.event_type or '-'}\n        {row.reason}"
        )
    return 0


def _letter_json(row: deadletters.Row) -> dict[str, object]:
    return {
        "id": row.id,
        "consumer": row.consumer,
        "state": row.state,
        "attempts": row.attempts,
        "source": row.source,
        "event_type": row.event_type,
        "event_id": str(row.event_id) if row.event_id else None,
        "reason": row.reason,
        "first_seen": row.first_seen.isoformat(),
        "last_seen": row.last_seen.isoformat(),
    }


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    """Mark dead letters for another try; their consumer (or relay) takes them within seconds. Waits for the outcome."""
    if not args.consumer and not args.id:
        print("say which dead letters: --consumer NAME and/or --id N ...", file=sys.stderr)
        return 2
    with psycopg.connect(_settings(args).database_url, autocommit=True) as conn:
        marked = deadletters.request_replay(conn, list(SERVICES), consumer=args.consumer, ids=args.id or [])
        if not marked:
            print("nothing to replay")
            return 0
        print(f"replaying {len(marked)} dead letters ...", flush=True)
        deadline = time.monotonic() + args.wait
        outcome = deadletters.states(conn, marked)
        while any(state == "replay" for state, _ in outcome.values()) and time.monotonic() < deadline:
            time.sleep(0.5)
            outcome = deadletters.states(conn, marked)
    code = 0
    for row in marked:
        state, reason = outcome.get((row.schema, row.id), ("gone", ""))
        if state == "replayed":
            print(f"{row.id:>6}  {row.consumer:<16} applied")
        elif state == "replay":
            print(f"{row.id:>6}  {row.consumer:<16} not taken yet (is the service running?)")
            code = 1
        else:
            print(f"{row.id:>6}  {row.consumer:<16} still dead: {reason}")
            code = 1
    return code


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Recompute every service's audit chain; name each changed, missing or inserted entry (exit code 1)."""
    from edms_runtime.audit import verify

    database_url = args.database_url or _settings(args).database_url
    heads = dict(head.split("=", 1) for head in args.head or [])
    code = 0
    for service in args.service or list(SERVICES):
        result = verify(database_url, service, expect_head=heads.get(service))
        head = f"head {result.head[0]} {result.head[1]}" if result.head else "empty"
        state = "ok" if not result.problems else f"{len(result.problems)} problems"
        print(f"{service:<9} {result.entries:>8} entries  {state:<12} {head}")
        for problem in result.problems:
            print(f"  {problem}")
        code = code or (1 if result.problems else 0)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edms", description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("EDMS_DATA_DIR", ".edms"))
    sub = parser.add_subparsers(dest="command", required=True)

    stack = sub.add_parser("stack", help="the local stack").add_subparsers(dest="action", required=True)
    up = stack.add_parser("up", help="start PostgreSQL, the broker and all services; Ctrl-C stops")
    up.add_argument("--no-demo", dest="demo", action="store_false", help="do not load the demo region")
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

    demo = sub.add_parser("demo", help="the demo region: `load` it into a running stack, or a `token` of a demo login")
    demo.add_argument("action", nargs="?", choices=("load", "token"), default="load")
    demo.add_argument("login", nargs="?", default=None, help="for `token`: clerk1, head1, executor1, admin1, ...")
    demo.add_argument("--org", default="demo-region", help="for `token`: the organization (default demo-region)")
    demo.set_defaults(func=cmd_demo)

    replay = sub.add_parser("replay", help="rebuild a service's read model beside the live one and swap it in")
    replay.add_argument("service", choices=sorted(SERVICES))
    replay.add_argument("--swap-wait", type=float, default=30.0, help="seconds live consumers may be held for the swap")
    replay.add_argument(
        "--lanes",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="processes applying partitions at once, for a read model that allows it (control); default: the cores, "
        "at most 4",
    )
    replay.add_argument(
        "--remember",
        type=int,
        default=5_000_000,
        help="up to how many events the replay tells repeats by memory (about 80 bytes an event; the tracking key "
        "made at the end); above it, by the tracking key as it goes (slower); default 5,000,000",
    )
    replay.set_defaults(func=cmd_replay)

    dlq = sub.add_parser("dlq", help="dead letters").add_subparsers(dest="action", required=True)
    listing = dlq.add_parser("list", help="dead letters of every service, with consumer, reason and source")
    listing.add_argument("--consumer", default=None, help="e.g. search, or registry-relay")
    listing.add_argument("--states", default="dead,replay", help="comma-separated: dead, replay, replayed")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_dlq_list)
    again = dlq.add_parser("replay", help="send dead letters back through their consumer (after a fix)")
    again.add_argument("--consumer", default=None)
    again.add_argument("--id", type=int, action="append", help="a dead letter id (repeatable)")
    again.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the outcome")
    again.set_defaults(func=cmd_dlq_replay)

    audit = sub.add_parser("audit", help="the audit logs").add_subparsers(dest="action", required=True)
    check = audit.add_parser("verify", help="check every service's hash-chained audit log; exit 1 on any problem")
    check.add_argument("--service", action="append", choices=sorted(SERVICES), help="only these (repeatable)")
    check.add_argument("--database-url", default=None, help="default: EDMS_DATABASE_URL")
    check.add_argument("--head", action="append", help="SERVICE=HASH: a head recorded earlier must be on the chain")
    check.set_defaults(func=cmd_audit_verify)

    _commands_of_packages(sub)

    args, unparsed = parser.parse_known_args(argv)
    if unparsed and not hasattr(args, "rest"):
        parser.error(f"unrecognized arguments: {' '.join(unparsed)}")
    if unparsed:  # options before a package command's first word (`edms archive --help`) are its own
        args.rest = [*unparsed, *args.rest]
    result: int = args.func(args)
    return result


def _commands_of_packages(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Commands a service package brings under `edms` (entry points `edms.commands`: name = "module:main", main
    taking the rest of the command line), e.g. `edms archive verify PACKAGE`: the runtime knows none of them."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="edms.commands"):
        command = sub.add_parser(entry.name, help=f"{entry.name} commands (edms {entry.name} --help)", add_help=False)
        command.add_argument("rest", nargs=argparse.REMAINDER)
        command.set_defaults(func=lambda args, entry=entry: entry.load()(["--data-dir", args.data_dir, *args.rest]))


if __name__ == "__main__":
    sys.exit(main())
