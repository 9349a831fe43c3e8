"""The prompt hierarchy: which text-guided edits apply to which class, and what each severity level means.

`data/prompts.yaml` holds the five domains' templates at the root and changes to them at group and WordNet synset
nodes; a class inherits from the root down its primary WordNet path (`hierarchy`). Loading validates the whole
file against all 1000 classes, so a mistake is reported once, with the file and key, rather than at release time.

A target prompt must change something: one that says again a word the class name already holds ("a red red
eft", "a snow leopard in the snow", "a wooden wooden spoon") or equals the source prompt is left out for that
class and listed in `ClassPrompts.dropped` with the reason; a domain left with no prompt becomes not applicable.

    >>> from imagenet_textcorrupt import prompts
    >>> [p.text for p in prompts.for_class("n02123045").domains["weather"]]
    ['a tabby cat in the snow', 'a tabby cat in the fog', 'a tabby cat in the rain', 'a tabby cat on ice']
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from imagenet_textcorrupt.classes import ImageNetClass, get_class, load_classes
from imagenet_textcorrupt.errors import DataFileError, UnknownNameError, closest
from imagenet_textcorrupt.hierarchy import Hierarchy, load_hierarchy
from imagenet_textcorrupt.prompt_text import render, repeated_word, slots_of
from imagenet_textcorrupt.resources import PROMPTS_FILE, data_path
from imagenet_textcorrupt.schema import DOMAINS

BUILTIN_SLOTS = ("a", "name")
OPERATIONS = ("replace", "remove", "add", "not_applicable")
TOP_LEVEL_KEYS = {"version", "source_prompt", "slots", "domains", "severity", "templates", "nodes"}
VERSION_PATTERN = re.compile(r"^\d+\.\d+\.\d+$")

# The knobs each editor family may set per severity level, with their allowed ranges.
SEVERITY_PARAMETERS: dict[str, dict[str, tuple[float, float]]] = {
    "prompt_to_prompt": {"cross_replace_steps": (0.0, 1.0), "self_replace_steps": (0.0, 1.0)},
    "instruct_pix2pix": {"image_guidance_scale": (0.0, 20.0), "guidance_scale": (0.0, 30.0)},
    "sdedit": {"strength": (0.0, 1.0)},
}

@dataclass(frozen=True)
class Prompt:
    """One target prompt of one class."""

    domain: str
    template: str  # as written in the file: "{a} {color} {name}"
    slots: tuple[tuple[str, str], ...]  # the slot values bound in it: (("color", "red"),)
    text: str  # the prompt given to the editor: "a red tabby cat"
    node: str  # the hierarchy node the template came from: "root", "animals", "fish.n.01"


@dataclass(frozen=True)
class ClassPrompts:
    """The resolved prompts of one class."""

    wnid: str
    name: str
    group: str
    source_prompt: str
    domains: dict[str, tuple[Prompt, ...]]  # every domain that applies, in DOMAINS order
    not_applicable: dict[str, str] = field(default_factory=dict)  # domain -> reason
    dropped: tuple[tuple[str, str], ...] = ()  # (prompt, why) of targets that would change nothing

    def to_json(self) -> dict[str, Any]:
        return {"wnid": self.wnid, "name": self.name, "group": self.group,
                "domains": {d: [p.text for p in prompts] for d, prompts in self.domains.items()}}


class PromptHierarchy:
    """A validated prompt hierarchy file, resolved against the class hierarchy."""

    def __init__(self, raw: Any, source: str, hierarchy: Hierarchy, fingerprint: str):
        self.source = source
        self.hierarchy = hierarchy
        self.fingerprint = fingerprint  # sha256 of the file's bytes, first 16 hex digits
        if not isinstance(raw, dict):
            raise DataFileError(source, "", "expected a mapping at the top level")
        for key in raw:
            if key not in TOP_LEVEL_KEYS:
                raise self._unknown("", key, TOP_LEVEL_KEYS, "key")
        self.version = self._parse_version(raw.get("version"))
        self.slots = self._parse_slots(raw.get("slots") or {})
        self.domains = self._parse_domains(raw.get("domains"))
        self.severity_levels, self.severity = self._parse_severity(raw.get("severity"))
        self.source_prompt_template = self._check_template(raw.get("source_prompt"), "source_prompt")
        self.root = self._parse_node_spec(raw.get("templates"), "templates", root=True)
        self.nodes = self._parse_nodes(raw.get("nodes") or {})
        # Resolving every class's templates validates the file against all 1000 classes; rendering the prompts
        # (most of the cost) waits until a class is asked for.
        self._templates = {c.wnid: self._resolve(c) for c in load_classes()}
        self._rendered: dict[str, ClassPrompts] = {}

    # -- parsing ---------------------------------------------------------------------------------------------
    def _error(self, key: str, problem: str) -> DataFileError:
        return DataFileError(self.source, key, problem)

    def _unknown(self, parent: str, key: Any, choices: Any, kind: str) -> DataFileError:
        where = f"{parent}.{key}" if parent else str(key)
        hint = closest(str(key), [str(c) for c in choices])
        suggestion = f"; did you mean {', '.join(hint)}?" if hint else f"; expected one of {', '.join(map(str, choices))}"
        return self._error(where, f"unknown {kind} {key!r}{suggestion}")

    def _parse_version(self, version: Any) -> str:
        if not isinstance(version, str) or not VERSION_PATTERN.match(version):
            raise self._error("version", f"{version!r} is not a version of the form MAJOR.MINOR.PATCH")
        return version

    def _parse_slots(self, slots: Any) -> dict[str, tuple[str, ...]]:
        if not isinstance(slots, dict):
            raise self._error("slots", "expected a mapping of slot name to a list of values")
        parsed = {}
        for name, values in slots.items():
            if name in BUILTIN_SLOTS:
                raise self._error(f"slots.{name}", f"{{{name}}} is built in and cannot be redefined")
            if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
                raise self._error(f"slots.{name}", "expected a non-empty list of strings")
            parsed[name] = tuple(values)
        return parsed

    def _parse_domains(self, domains: Any) -> dict[str, str]:
        if not isinstance(domains, dict):
            raise self._error("domains", "expected a mapping of domain name to description")
        for name in domains:
            if name not in DOMAINS:
                raise self._unknown("domains", name, DOMAINS, "domain")
        missing = [d for d in DOMAINS if d not in domains]
        if missing:
            raise self._error("domains", f"missing domain {missing[0]!r}")
        return {d: str(domains[d]) for d in DOMAINS}

    def _parse_severity(self, severity: Any) -> tuple[dict[int, str], dict[str, dict[int, dict[str, float]]]]:
        if not isinstance(severity, dict) or set(severity) != {"levels", "editors"}:
            raise self._error("severity", "expected a mapping with exactly 'levels' and 'editors'")
        levels = severity["levels"]
        if not isinstance(levels, dict) or not levels or not all(isinstance(k, int) and k >= 1 for k in levels):
            raise self._error("severity.levels", "expected a mapping of levels 1, 2, ... to a short description")
        if sorted(levels) != list(range(1, len(levels) + 1)):
            raise self._error("severity.levels", f"levels must be 1..{len(levels)} without gaps")
        editors = severity["editors"]
        if not isinstance(editors, dict):
            raise self._error("severity.editors", "expected a mapping of editor family to levels")
        parsed: dict[str, dict[int, dict[str, float]]] = {}
        for family, by_level in editors.items():
            where = f"severity.editors.{family}"
            if family not in SEVERITY_PARAMETERS:
                raise self._unknown("severity.editors", family, SEVERITY_PARAMETERS, "editor family")
            if not isinstance(by_level, dict) or set(by_level) != set(levels):
                raise self._error(where, f"must define exactly the levels {sorted(levels)}")
            allowed = SEVERITY_PARAMETERS[family]
            parsed[family] = {}
            for level in sorted(by_level):
                params = by_level[level]
                if not isinstance(params, dict) or not params:
                    raise self._error(f"{where}.{level}", "expected a mapping of parameter to value")
                for name, value in params.items():
                    if name not in allowed:
                        raise self._unknown(f"{where}.{level}", name, allowed, "parameter")
                    low, high = allowed[name]
                    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                        raise self._error(f"{where}.{level}.{name}", f"{value!r} is not a number in [{low}, {high}]")
                parsed[family][level] = {k: float(v) for k, v in params.items()}
        missing = [f for f in SEVERITY_PARAMETERS if f not in parsed]
        if missing:
            raise self._error("severity.editors", f"missing editor family {missing[0]!r}")
        return {k: str(v) for k, v in levels.items()}, parsed

    def _check_template(self, template: Any, where: str) -> str:
        if not isinstance(template, str) or not template.strip():
            raise self._error(where, "expected a non-empty template string")
        try:
            slots = slots_of(template)
        except ValueError as error:
            raise self._error(where, f"malformed template {template!r}: {error}") from None
        for slot in slots:
            if slot not in BUILTIN_SLOTS and slot not in self.slots:
                known = ", ".join(f"{{{s}}}" for s in (*BUILTIN_SLOTS, *self.slots))
                raise self._error(where, f"unbound slot {{{slot}}} in {template!r}; known slots: {known}")
        if "name" not in slots:
            raise self._error(where, f"template {template!r} does not mention the class: add {{name}}")
        return template

    def _check_templates(self, templates: Any, where: str) -> list[str]:
        if not isinstance(templates, list):
            raise self._error(where, "expected a list of templates")
        checked = [self._check_template(t, f"{where}[{i}]") for i, t in enumerate(templates)]
        for i, template in enumerate(checked):
            if template in checked[:i]:
                raise self._error(f"{where}[{i}]", f"duplicate template {template!r}")
        return checked

    def _parse_node_spec(self, spec: Any, where: str, root: bool = False) -> dict[str, dict[str, Any]]:
        """A node's changes: {domain: {operation: templates or reason}}; the root lists templates directly."""
        if not isinstance(spec, dict):
            raise self._error(where, "expected a mapping of domain to changes")
        parsed: dict[str, dict[str, Any]] = {}
        for domain, ops in spec.items():
            at = f"{where}.{domain}"
            if domain not in DOMAINS:
                raise self._unknown(where, domain, DOMAINS, "domain")
            if root:
                parsed[domain] = {"replace": self._check_templates(ops, at)}
                continue
            if not isinstance(ops, dict) or not ops:
                raise self._error(at, f"expected a mapping with one or more of {', '.join(OPERATIONS)}")
            for op in ops:
                if op not in OPERATIONS:
                    raise self._unknown(at, op, OPERATIONS, "operation")
            if "not_applicable" in ops:
                if len(ops) > 1:
                    raise self._error(at, "not_applicable cannot be combined with other operations")
                reason = ops["not_applicable"]
                if not isinstance(reason, str) or not reason.strip():
                    raise self._error(f"{at}.not_applicable", "give the reason the domain does not apply")
                parsed[domain] = {"not_applicable": reason.strip()}
                continue
            if "replace" in ops and len(ops) > 1:
                raise self._error(at, "replace cannot be combined with add or remove: list the final templates")
            parsed[domain] = {op: self._check_templates(ops[op], f"{at}.{op}") for op in ops}
        return parsed

    def _parse_nodes(self, nodes: Any) -> dict[str, dict[str, dict[str, Any]]]:
        if not isinstance(nodes, dict):
            raise self._error("nodes", "expected a mapping of node (group or WordNet synset) to changes")
        groups = set(self.hierarchy.group_names)
        synsets = self.hierarchy.synsets()
        primary = self.hierarchy.synsets(primary_only=True)
        parsed = {}
        for key, spec in nodes.items():
            key = str(key)
            if key not in groups and key not in synsets:
                raise self._unknown("nodes", key, sorted(groups | synsets), "node (not a group or a synset on any "
                                    "class's WordNet path)")
            if key not in groups and key not in primary:
                raise self._error(f"nodes.{key}", "this synset is on no class's primary path, so it applies to no "
                                  "class; use a synset on the path that groups.yaml assigns")
            parsed[key] = self._parse_node_spec(spec, f"nodes.{key}")
        return parsed

    # -- resolution ------------------------------------------------------------------------------------------
    def _node_chain(self, wnid: str) -> list[str]:
        """The nodes that apply to a class, root side first."""
        placement = self.hierarchy.placement(wnid)
        chain = []
        for synset in placement.path:
            if synset == placement.anchor and placement.group in self.nodes:
                chain.append(placement.group)
            if synset in self.nodes:
                chain.append(synset)
        return chain

    def _resolve(self, cls: ImageNetClass) -> tuple[dict[str, list[tuple[str, str]]], dict[str, str]]:
        """A class's templates by domain, each with the node it came from, and the reasons of inapplicable domains."""
        templates: dict[str, list[tuple[str, str]]] = {d: [] for d in DOMAINS}
        reasons: dict[str, str] = {}
        emptied_by: dict[str, str] = {}
        for node, spec in [("root", self.root)] + [(n, self.nodes[n]) for n in self._node_chain(cls.wnid)]:
            where = "templates" if node == "root" else f"nodes.{node}"
            for domain, ops in spec.items():
                current = templates[domain]
                if "not_applicable" in ops:
                    templates[domain], reasons[domain] = [], ops["not_applicable"]
                    continue
                if "replace" in ops:
                    templates[domain] = [(t, node) for t in ops["replace"]]
                    reasons.pop(domain, None)
                for template in ops.get("remove", []):
                    if template not in [t for t, _ in current]:
                        raise self._error(f"{where}.{domain}.remove", f"{template!r} is not inherited by class "
                                          f"{cls.wnid} ({cls.name}), so it cannot be removed")
                    templates[domain] = current = [(t, n) for t, n in current if t != template]
                for template in ops.get("add", []):
                    owner = next((n for t, n in current if t == template), None)
                    if owner is not None:
                        raise self._error(f"{where}.{domain}.add", f"{template!r} is already inherited from "
                                          f"{owner!r} by class {cls.wnid} ({cls.name})")
                    current.append((template, node))
                    reasons.pop(domain, None)
                if not templates[domain]:
                    emptied_by[domain] = where
        for domain in DOMAINS:
            if not templates[domain] and domain not in reasons:
                where = emptied_by.get(domain, "templates")
                raise self._error(where, f"class {cls.wnid} ({cls.name}) is left with no {domain} templates; add "
                                  f"templates or mark the domain not_applicable with a reason")
        return templates, reasons

    def _render_class(self, cls: ImageNetClass) -> ClassPrompts:
        templates, reasons = self._templates[cls.wnid]
        source = render(self.source_prompt_template, cls, {})
        domains: dict[str, tuple[Prompt, ...]] = {}
        dropped: list[tuple[str, str]] = []
        reasons = dict(reasons)
        for domain in DOMAINS:
            if not templates[domain]:
                continue
            kept = []
            for prompt in (p for t, n in templates[domain] for p in self._expand(domain, t, n, cls)):
                why = self._changes_nothing(prompt.text, source, cls.name)
                if why:
                    dropped.append((prompt.text, why))
                else:
                    kept.append(prompt)
            if kept:
                domains[domain] = tuple(kept)
            else:
                reasons[domain] = "every template repeats a word of the class name"
        return ClassPrompts(cls.wnid, cls.name, self.hierarchy.group_of(cls.wnid), source, domains,
                            {d: reasons[d] for d in DOMAINS if d in reasons}, tuple(dropped))

    @staticmethod
    def _changes_nothing(target: str, source: str, name: str) -> str | None:
        if target == source:
            return "equals the source prompt"
        word = repeated_word(target, name)
        return f"repeats {word!r} of the class name" if word else None

    def _expand(self, domain: str, template: str, node: str, cls: ImageNetClass) -> list[Prompt]:
        names = [s for s in slots_of(template) if s not in BUILTIN_SLOTS]
        prompts = []
        for values in itertools.product(*(self.slots[s] for s in names)):
            bound = dict(zip(names, values))
            prompts.append(Prompt(domain, template, tuple(bound.items()), render(template, cls, bound), node))
        return prompts

    # -- public ----------------------------------------------------------------------------------------------
    def for_class(self, key: str | int) -> ClassPrompts:
        """The resolved prompts of a class given by wnid, index or name."""
        cls = get_class(key)
        if cls.wnid not in self._rendered:
            self._rendered[cls.wnid] = self._render_class(cls)
        return self._rendered[cls.wnid]

    def severity_parameters(self, family: str, level: int) -> dict[str, float]:
        """What severity `level` means for an editor family ("prompt_to_prompt", "instruct_pix2pix", "sdedit")."""
        if family not in self.severity:
            raise UnknownNameError("editor family", family, closest(family, self.severity))
        if level not in self.severity[family]:
            raise UnknownNameError("severity level", str(level), [str(k) for k in self.severity[family]])
        return dict(self.severity[family][level])


def load_prompts(path: str | Path | None = None, hierarchy: Hierarchy | None = None) -> PromptHierarchy:
    """Load and validate a prompt hierarchy file (the shipped one by default; cached)."""
    if path is None and hierarchy is None:
        return _shipped()
    file = Path(path) if path is not None else data_path(PROMPTS_FILE)
    return _load(file, str(file) if path is not None else PROMPTS_FILE, hierarchy or load_hierarchy())


def _load(file: Path, source: str, hierarchy: Hierarchy) -> PromptHierarchy:
    data = file.read_bytes()
    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as error:
        raise DataFileError(source, "", f"not valid YAML: {error}") from None
    return PromptHierarchy(raw, source, hierarchy, hashlib.sha256(data).hexdigest()[:16])


@functools.cache
def _shipped() -> PromptHierarchy:
    return _load(data_path(PROMPTS_FILE), PROMPTS_FILE, load_hierarchy())


def for_class(key: str | int) -> ClassPrompts:
    """The resolved prompts of a class in the shipped hierarchy (by wnid, index or name)."""
    return load_prompts().for_class(key)


def version() -> str:
    """The version of the shipped prompt hierarchy, recorded in every dataset row."""
    return load_prompts().version
