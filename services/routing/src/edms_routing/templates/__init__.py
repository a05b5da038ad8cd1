"""Route templates as data: one YAML file per process of the 15 (DOMAIN.md "The 15 processes"), validated at start.

A template names its process, the document kinds that start it, and its stages in order. A stage has a `type`
(resolution, execution, approval, signing, distribution, completion), for approval a `mode` (sequential or parallel)
and an optional `quorum`, its `participants` (`role:<role>`, `person:<login>`, or `signer` / `author` of the draft)
and each participant's own deadline in working days (`days`; stage norms of DOMAIN.md "Deadlines": registration 1,
resolution 1, draft 1, approval 3, signing 1). `children_rule` says when an assignment with parts is done (`all`
parts done, `any` one done, `none`: on its own). A template can be changed without code: set
`EDMS_ROUTING_TEMPLATES` to a directory of such files; every error of every file is reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edms_contracts import DocumentKind, Role

STAGE_TYPES = ("resolution", "execution", "approval", "signing", "distribution", "completion")
MODES = ("sequential", "parallel")
CHILDREN_RULES = ("all", "any", "none")
DEFAULT_DIR = Path(__file__).parent


class TemplateError(ValueError):
    """Templates that cannot be used; the message names every file and field that is wrong."""


@dataclass(frozen=True)
class StageTemplate:
    name: str
    type: str
    mode: str = "sequential"
    participants: tuple[str, ...] = ()
    days: int | None = None
    quorum: int | None = None


@dataclass(frozen=True)
class ExtensionRule:
    """How often and how far a deadline may be moved (59-ФЗ art. 12 part 2: once, by up to 30 days)."""

    max: int | None = None
    max_days: int | None = None


@dataclass(frozen=True)
class RouteTemplate:
    process: str
    stage_specs: tuple[StageTemplate, ...]
    kinds: tuple[str, ...] = ()
    children_rule: str = "all"
    answer_days: int | None = None
    extensions: ExtensionRule = field(default_factory=ExtensionRule)

    @property
    def stages(self) -> tuple[str, ...]:
        return tuple(stage.name for stage in self.stage_specs)

    def stage(self, name: str) -> StageTemplate:
        for stage in self.stage_specs:
            if stage.name == name:
                return stage
        raise KeyError(name)


def _participant_errors(where: str, participants: Any) -> list[str]:
    if not isinstance(participants, list):
        return [f"{where}.participants: must be a list"]
    errors = []
    roles = {role.value for role in Role}
    for i, participant in enumerate(participants):
        kind, _, value = str(participant).partition(":")
        if participant in ("signer", "author"):
            continue
        if kind == "role" and value in roles:
            continue
        if kind == "person" and value:
            continue
        errors.append(
            f"{where}.participants[{i}]: {participant!r} is not role:<one of {sorted(roles)}>, person:<login>, "
            "signer or author"
        )
    return errors


def _stage(where: str, raw: Any, errors: list[str]) -> StageTemplate | None:
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be a mapping")
        return None
    unknown = set(raw) - {"name", "type", "mode", "participants", "days", "quorum"}
    if unknown:
        errors.append(f"{where}: unknown keys {sorted(unknown)}")
    name, kind = raw.get("name"), raw.get("type")
    if not isinstance(name, str) or not name:
        errors.append(f"{where}.name: required")
    if kind not in STAGE_TYPES:
        errors.append(f"{where}.type: {kind!r} is not one of {list(STAGE_TYPES)}")
    mode = raw.get("mode", "sequential")
    if mode not in MODES:
        errors.append(f"{where}.mode: {mode!r} is not one of {list(MODES)}")
    for key in ("days", "quorum"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            errors.append(f"{where}.{key}: must be a whole number ≥ 0")
    participants = raw.get("participants", [])
    errors.extend(_participant_errors(where, participants))
    if not isinstance(name, str) or kind not in STAGE_TYPES:
        return None
    return StageTemplate(
        name=name,
        type=str(kind),
        mode=str(mode),
        participants=tuple(str(p) for p in participants) if isinstance(participants, list) else (),
        days=raw.get("days"),
        quorum=raw.get("quorum"),
    )


def parse_template(source: str, raw: Any, errors: list[str]) -> RouteTemplate | None:
    """One file's template, or None with its errors appended (`<file>: <field>: <reason>`)."""
    if not isinstance(raw, dict):
        errors.append(f"{source}: must be a mapping with process, kinds and stages")
        return None
    own: list[str] = []
    unknown = set(raw) - {"process", "kinds", "stages", "children_rule", "answer_days", "extensions"}
    if unknown:
        own.append(f"unknown keys {sorted(unknown)}")
    process = raw.get("process")
    if not isinstance(process, str) or not process.split("-", 1)[0].isdigit():
        own.append(f"process: {process!r} must start with its number of the 15 processes")
    kinds = raw.get("kinds", [])
    known = {kind.value for kind in DocumentKind}
    if not isinstance(kinds, list) or any(kind not in known for kind in kinds):
        own.append(f"kinds: {kinds!r} must be a list of {sorted(known)}")
    children_rule = raw.get("children_rule", "all")
    if children_rule not in CHILDREN_RULES:
        own.append(f"children_rule: {children_rule!r} is not one of {list(CHILDREN_RULES)}")
    stages_raw = raw.get("stages")
    stages: list[StageTemplate] = []
    if not isinstance(stages_raw, list) or not stages_raw:
        own.append("stages: at least one stage is required")
    else:
        for i, stage_raw in enumerate(stages_raw):
            stage = _stage(f"stages[{i}]", stage_raw, own)
            if stage is not None:
                stages.append(stage)
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            own.append(f"stages: a stage name appears twice in {names}")
    extensions = raw.get("extensions", {}) or {}
    if not isinstance(extensions, dict) or set(extensions) - {"max", "max_days"}:
        own.append("extensions: only max and max_days")
        extensions = {}
    errors.extend(f"{source}: {error}" for error in own)
    if own:
        return None
    return RouteTemplate(
        process=str(process),
        stage_specs=tuple(stages),
        kinds=tuple(kinds),
        children_rule=str(children_rule),
        answer_days=raw.get("answer_days"),
        extensions=ExtensionRule(extensions.get("max"), extensions.get("max_days")),
    )


def load_templates(directory: Path = DEFAULT_DIR) -> dict[str, RouteTemplate]:
    """Every `*.yaml` of the directory, by process; raises TemplateError naming every problem of every file.

    Each document kind of the shared vocabulary must start exactly one template: a kind without one would leave
    its registrations with no route.
    """
    errors: list[str] = []
    templates: dict[str, RouteTemplate] = {}
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise TemplateError(f"{directory}: no route templates (*.yaml)")
    for path in files:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            errors.append(f"{path.name}: not YAML: {exc}")
            continue
        template = parse_template(path.name, raw, errors)
        if template is None:
            continue
        if template.process in templates:
            errors.append(f"{path.name}: process {template.process} is defined twice")
        templates[template.process] = template
    by_kind: dict[str, list[str]] = {}
    for template in templates.values():
        for kind in template.kinds:
            by_kind.setdefault(kind, []).append(template.process)
    for kind in DocumentKind:
        starts = by_kind.get(kind.value, [])
        if len(starts) != 1:
            errors.append(f"kind {kind.value}: started by {len(starts)} templates {starts}; exactly one is needed")
    if errors:
        raise TemplateError("route templates are invalid:\n" + "\n".join(errors))
    return templates


def by_kind(templates: dict[str, RouteTemplate]) -> dict[str, RouteTemplate]:
    return {kind: template for template in templates.values() for kind in template.kinds}
