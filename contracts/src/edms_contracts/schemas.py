"""Generates the JSON Schemas in contracts/schemas/ from the pydantic models (`python -m edms_contracts.schemas`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from edms_contracts.envelope import Envelope
from edms_contracts.events import EVENT_TYPES


def render() -> dict[str, str]:
    """File name -> schema text, for every contract model."""
    models: dict[str, type[BaseModel]] = {"Envelope": Envelope}
    models.update(EVENT_TYPES)
    out: dict[str, str] = {}
    for name, model in models.items():
        version = getattr(model, "schema_version", 1)
        schema = model.model_json_schema()
        schema["$id"] = f"urn:edms:{name}:v{version}"
        out[f"{name}.v{version}.json"] = json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    return out


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[2] / "schemas"
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (target / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(render())} schemas to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
