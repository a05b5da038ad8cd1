"""A hash chain (each entry's hash covers the previous entry's hash and the entry's own bytes), as the audit log
keeps it and the archive keeps over its events (edms_archive.chain): what a verifier recomputes to find a changed,
removed or inserted entry."""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: The "previous hash" of the first entry.
GENESIS = bytes(32)


def link(previous: bytes, content: bytes) -> bytes:
    """The hash of an entry: SHA-256 over the previous entry's hash and the entry's canonical bytes."""
    return hashlib.sha256(previous + content).digest()


def canonical(fields: dict[str, Any]) -> bytes:
    """An entry's fields as canonical bytes: JSON with sorted keys, no spaces, UTF-8 (RFC 8785's spirit for the
    strings, integers and lists an entry holds)."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()
