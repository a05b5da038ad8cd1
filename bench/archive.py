"""Archive benchmark: building and verifying a transfer package, next to `sha256sum` over the same files, in one run.

    .venv/bin/python bench/archive.py [--documents 10000] [--megabytes 1024] [--markdown PATH]

Makes `--documents` files of random bytes adding up to `--megabytes` in a blob store laid out as the registry lays
it (`aa/bb/<sha256>`), in a temporary directory; then, in this order and with the page cache warm for all of them
(they read the same bytes right after they were written):

1. `sha256sum` (coreutils) over every blob file (the peer: the raw rate of hashing these bytes here);
2. building the package of one case holding every document (`edms_archive.package.write_package`: every blob read,
   checked against its SHA-256 and written into the zip);
3. verifying it as `edms archive verify` does, with the default hashing threads and with one thread.

Target: verifying at least 80% of sha256sum's rate. Prints one table (and writes it as markdown with --markdown).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TypeVar

from edms_archive.blobs import LocalBlobs, cpu_workers
from edms_archive.package import PackageCase, PackageFile, PackageLine, verify_package, write_package

TARGET = 0.80
T = TypeVar("T")


def make_blobs(root: Path, documents: int, total: int) -> tuple[LocalBlobs, list[PackageLine]]:
    """`documents` files of random bytes (no two alike, sizes varying ±50% around the mean) in a blob store."""
    blobs = LocalBlobs(root)
    mean = total // documents
    lines = []
    scratch = root.parent / "scratch"
    for n in range(documents):
        size = max(1, mean // 2 + (n * 7919) % (mean + 1))
        scratch.write_bytes(os.urandom(size))
        sha = blobs.put_file(scratch)
        item = PackageFile(sha, f"document-{n}.pdf", "application/pdf", size)
        lines.append(PackageLine(uuid.uuid4(), f"01-10/{n + 1}", date(2026, 1, 1), f"Документ {n + 1}",
                                 "incoming_letter", None, 1, (item,)))  # fmt: skip
    scratch.unlink()
    return blobs, lines


def timed(function: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def sha256sum(paths: list[Path]) -> float:
    """Seconds for coreutils' sha256sum over the files (fed by xargs, as many per call as fit)."""
    listing = b"\0".join(str(path).encode() for path in paths)
    started = time.perf_counter()
    subprocess.run(["xargs", "-0", "sha256sum"], input=listing, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def run(documents: int, megabytes: int) -> list[tuple[str, float, float]]:
    """(what, seconds, MB/s) per measurement."""
    work = Path(tempfile.mkdtemp(prefix="edms-bench-archive-"))
    try:
        blobs, lines = make_blobs(work / "blobs", documents, megabytes << 20)
        size = sum(line.files[0].size for line in lines)
        paths = [blobs.path(line.files[0].sha256) for line in lines]
        case = PackageCase(uuid.uuid4(), "org-bench", "01-10", "Входящие", 2026, 1, None, "5 years ЭПК", "27",
                           date(2026, 12, 31), tuple(lines))  # fmt: skip
        package = work / "package.zip"
        header = {"transfer_id": str(uuid.uuid4()), "org": "org-bench", "created_on": "2040-01-01", "created_by": "b"}
        sha256sum(paths)  # warm the page cache for everyone alike
        rows = [("sha256sum over the blob files (peer)", sha256sum(paths))]
        sealed, seconds = timed(lambda: write_package(package, header=header, cases=[case], blobs=blobs))
        rows.append(("build the package (read, check, write)", seconds))
        checked, seconds = timed(lambda: verify_package(package))
        assert checked.intact, checked.problems
        rows.append((f"verify the package, {cpu_workers()} threads", seconds))
        checked, seconds = timed(lambda: verify_package(package, workers=1))
        assert checked.intact, checked.problems
        rows.append(("verify the package, 1 thread", seconds))
        print(f"{documents} documents, {size / 2**20:.0f} MiB of files; package {sealed.size / 2**20:.0f} MiB, "
              f"seal {sealed.seal[:16]}…")  # fmt: skip
        return [(what, seconds, size / 2**20 / seconds) for what, seconds in rows]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def table(rows: list[tuple[str, float, float]]) -> str:
    peer = rows[0][2]
    lines = ["| measurement | seconds | MiB/s | vs sha256sum |", "|---|---:|---:|---:|"]
    for what, seconds, rate in rows:
        lines.append(f"| {what} | {seconds:.2f} | {rate:.0f} | {rate / peer:.0%} |")
    verify = rows[2][2] / peer
    verdict = "met" if verify >= TARGET else "NOT met"
    lines.append("")
    lines.append(f"Target: verify at ≥ {TARGET:.0%} of sha256sum's rate — {verdict} ({verify:.0%}; one thread "
                 f"{rows[3][2] / peer:.0%}). Machine: {platform.processor() or platform.machine()}, "
                 f"{os.cpu_count()} cores, Python {platform.python_version()}.")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--megabytes", type=int, default=1024)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args(argv)
    if shutil.which("sha256sum") is None:
        print("sha256sum (coreutils) is needed as the peer", file=sys.stderr)
        return 2
    output = table(run(args.documents, args.megabytes))
    print(output)
    if args.markdown:
        args.markdown.write_text(output + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
