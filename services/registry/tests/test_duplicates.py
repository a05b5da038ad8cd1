"""Near-duplicate signatures (edms_registry.duplicates): datasketch's MinHash without scipy.integrate in the process.

The registry imports `datasketch` for MinHash only; the package's LSH classes import scipy.integrate (≈ 45 MB of the
registry's memory, issue 7's limit is 150 MB idle) to tune parameters the registry never asks for. These tests run
fresh interpreters, since what a process has imported is the thing under test.
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
{first}
from edms_registry import duplicates
from edms_registry.domain import Card
from edms_contracts import DocumentKind
loaded = "scipy.integrate" in sys.modules
card = Card(kind=DocumentKind.INCOMING_LETTER, title="О предоставлении сведений о численности населения",
            text="Прошу в срок до конца месяца представить сведения о численности постоянного населения.")
from datasketch.lsh import _optimal_param
print(json.dumps({{"loaded": loaded, "signature": duplicates.signature(card).hashvalues.tolist(),
                  "buckets": duplicates._buckets(duplicates.signature(card)),
                  "tuned": list(_optimal_param(0.8, 64, 0.5, 0.5)),
                  "quad": sys.modules["scipy.integrate"].quad.__module__}}))
"""


def _probe(first: str = "") -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(first=first)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_signatures_are_datasketchs_without_scipy_integrate_in_the_registry() -> None:
    without = _probe()
    assert without["loaded"] is False  # importing the registry's duplicates did not load scipy.integrate
    # scipy.integrate loaded before, as any other importer would have it: the very same signature and buckets
    with_scipy = _probe("import scipy.integrate")
    assert with_scipy["loaded"] is True
    assert without["signature"] == with_scipy["signature"]
    assert without["buckets"] == with_scipy["buckets"]
    assert len(without["signature"]) == 64  # type: ignore[arg-type]


def test_datasketchs_lsh_tuning_still_works_with_the_real_scipy() -> None:
    """The stand-in's `quad` imports the real one when asked; afterwards scipy.integrate is the real module."""
    without, with_scipy = _probe(), _probe("import scipy.integrate")
    assert without["tuned"] == with_scipy["tuned"]
    assert without["quad"] == with_scipy["quad"] == "scipy.integrate._quadpack_py"
