"""`edms archive ...`: verify a transfer package offline, audit the archive's hash chain and files, import a package.

Wired under the `edms` command through the `edms.commands` entry point, so the runtime knows nothing of the archive.
Exit codes: 0 intact / done, 1 something is wrong (each problem named on its own line), 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from edms_archive.application import ArchiveApplication
from edms_archive.blobs import open_blobs
from edms_archive.chain import audit_chain, audit_files, install_chain
from edms_archive.config import ArchiveSettings
from edms_archive.package import IntegrityFailure, Verification, verify_package
from edms_runtime.eventstore import build_application
from edms_runtime.settings import PlatformSettings


def cmd_verify(args: argparse.Namespace) -> int:
    result = verify_package(Path(args.package), seal=args.seal, workers=args.workers)
    if args.json:
        print(json.dumps(_verification_json(result), ensure_ascii=False, indent=2))
    elif result.intact:
        print(
            f"intact: {result.checked_files} members, {result.checked_bytes} bytes checked; seal {result.seal}"
            + ("" if args.seal else " (pass --seal with the recorded one to check it too)")
        )
    else:
        print(f"NOT intact: {len(result.problems)} problem(s)", file=sys.stderr)
        for problem in result.problems:
            print(f"  {problem}", file=sys.stderr)
    return 0 if result.intact else 1


def _verification_json(result: Verification) -> dict[str, object]:
    return {
        "intact": result.intact,
        "problems": result.problems,
        "seal": result.seal,
        "members": result.checked_files,
        "bytes": result.checked_bytes,
    }


def _application(database_url: str) -> ArchiveApplication:
    app = build_application(ArchiveApplication, database_url, "archive")
    install_chain(database_url)
    return app


def cmd_audit(args: argparse.Namespace) -> int:
    platform, settings = PlatformSettings(data_dir=Path(args.data_dir)), ArchiveSettings()
    head = args.head.rsplit(":", 1)[-1].lower() if args.head else None  # "N:HASH" as printed, or the hash alone
    result = audit_chain(platform.database_url, expect_head=head)
    app = _application(platform.database_url)
    try:
        audit_files(app.kept_files(), open_blobs(settings.blob_url, platform.blob_dir()), result)
    finally:
        app.close()
    last = f"{result.head.notification_id}:{result.head.hash}" if result.head else "none (no events yet)"
    print(f"{result.events} events, {result.files} files checked; chain head {last}")
    for problem in result.problems:
        print(f"  {problem}", file=sys.stderr)
    if result.problems:
        print(f"NOT intact: {len(result.problems)} problem(s)", file=sys.stderr)
    return 1 if result.problems else 0


def cmd_import(args: argparse.Namespace) -> int:
    platform, settings = PlatformSettings(data_dir=Path(args.data_dir)), ArchiveSettings()
    app = _application(platform.database_url)
    try:
        package, imported = app.import_package(
            Path(args.package), by=args.by, blobs=open_blobs(settings.blob_url, platform.blob_dir())
        )
    except IntegrityFailure as exc:
        print(f"refused, nothing imported: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        app.close()
    print(f"package {package.manifest['transfer_id']} (seal {package.seal}): {len(package.cases)} cases")
    for case in package.cases:
        state = "imported" if case.case_id in {c.id for c in imported} else "already here"
        print(f"  {case.index}/{case.year} vol. {case.volume}: {len(case.lines)} documents, {state}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edms archive", description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("EDMS_DATA_DIR", ".edms"))
    sub = parser.add_subparsers(dest="command", required=True)

    verify = sub.add_parser("verify", help="check a transfer package offline; exit 0 only when it is intact")
    verify.add_argument("package")
    verify.add_argument("--seal", help="the seal recorded when the package was made (X-Package-Seal)")
    verify.add_argument("--workers", type=int, default=None, help="hashing threads (default: the cores, up to 8)")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=cmd_verify)

    audit = sub.add_parser("audit", help="check the hash chain of every archive event and every kept file")
    audit.add_argument("--head", help="a chain head recorded elsewhere (HASH): it must still be on the chain")
    audit.set_defaults(func=cmd_audit)

    take = sub.add_parser("import", help="take in a transfer package (refused whole unless it verifies)")
    take.add_argument("package")
    take.add_argument("--by", default=os.environ.get("USER", "archivist"), help="who imports (recorded)")
    take.set_defaults(func=cmd_import)

    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
