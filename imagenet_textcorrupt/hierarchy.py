"""The WordNet hierarchy of the ImageNet-1k classes and the groups that become the dataset's configs.

Every class has one or more hypernym paths in WordNet 3.0 (shipped in `data/wordnet_hierarchy.jsonl`, regenerated
by `python -m builder hierarchy`). Groups are anchored at WordNet synsets (`data/groups.yaml`); a class belongs to
the group of the most specific anchor on its paths, with ties between groups broken by their order in the file.
The path on which that anchor was found is the class's *primary path*: the prompt hierarchy walks it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.classes import ImageNetClass, get_class, load_classes
from imagenet_textcorrupt.errors import DataFileError, UnknownNameError, closest
from imagenet_textcorrupt.resources import GROUPS_FILE, data_path, read_yaml, wordnet_records
from imagenet_textcorrupt.schema import DEFAULT_CONFIG

CONFIG_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
RESERVED_CONFIGS = {DEFAULT_CONFIG}  # the union of every group, the dataset's default config
GROUP_KEYS = {"name", "title", "description", "synsets", "catch_all"}


@dataclass(frozen=True)
class Group:
    """A group of classes: a dataset config and a node of the prompt hierarchy."""

    name: str
    title: str
    description: str
    synsets: tuple[str, ...]
    catch_all: bool
    priority: int


@dataclass(frozen=True)
class Placement:
    """Where one class sits: its group, the anchor that decided it, and its primary path (root first)."""

    wnid: str
    group: str
    anchor: str
    distance: int  # steps from the class up to the anchor (0: the class itself is the anchor)
    path: tuple[str, ...]
    paths: tuple[tuple[str, ...], ...]  # every hypernym path of the class
    other_groups: tuple[str, ...]  # groups reached through other anchors on other paths, nearest first


class Hierarchy:
    """The groups and every class's placement in them."""

    def __init__(self, groups: list[Group], placements: dict[str, Placement], source: str):
        self.groups: tuple[Group, ...] = tuple(groups)
        self.source = source
        self._placements = placements
        self._groups_by_name = {g.name: g for g in groups}

    @property
    def group_names(self) -> list[str]:
        return [g.name for g in self.groups]

    def group(self, name: str) -> Group:
        try:
            return self._groups_by_name[name]
        except KeyError:
            raise UnknownNameError("group", name, closest(name, self._groups_by_name)) from None

    def placement(self, key: str | int) -> Placement:
        """The placement of a class given by index, wnid or name."""
        return self._placements[get_class(key).wnid]

    def group_of(self, key: str | int) -> str:
        return self.placement(key).group

    def members(self, group: str) -> list[ImageNetClass]:
        """The classes of a group, in index order."""
        self.group(group)
        return [c for c in load_classes() if self._placements[c.wnid].group == group]

    def counts(self) -> dict[str, int]:
        counts = {g.name: 0 for g in self.groups}
        for placement in self._placements.values():
            counts[placement.group] += 1
        return counts

    def synsets(self, primary_only: bool = False) -> set[str]:
        """Every synset on any class's hypernym paths (or only on the primary paths)."""
        placements = self._placements.values()
        if primary_only:
            return {node for p in placements for node in p.path}
        return {node for p in placements for path in p.paths for node in path}


def _parse_groups(raw: Any, source: str) -> list[Group]:
    if not isinstance(raw, dict) or not isinstance(raw.get("groups"), list):
        raise DataFileError(source, "groups", "expected a mapping with a list under 'groups'")
    unknown_top = set(raw) - {"version", "groups"}
    if unknown_top:
        raise DataFileError(source, sorted(unknown_top)[0], "unknown key; expected version, groups")
    groups: list[Group] = []
    for i, entry in enumerate(raw["groups"]):
        where = f"groups[{i}]"
        if not isinstance(entry, dict):
            raise DataFileError(source, where, "expected a mapping")
        unknown = set(entry) - GROUP_KEYS
        if unknown:
            key = sorted(unknown)[0]
            hint = closest(key, GROUP_KEYS)
            raise DataFileError(source, f"{where}.{key}", "unknown key" + (f"; did you mean {hint[0]}?" if hint else ""))
        name = entry.get("name")
        if not isinstance(name, str) or not CONFIG_NAME.match(name) or name in RESERVED_CONFIGS:
            raise DataFileError(source, f"{where}.name", f"{name!r} is not a usable config name "
                                "(lowercase letters, digits, underscores; not 'all')")
        if name in {g.name for g in groups}:
            raise DataFileError(source, f"{where}.name", f"duplicate group {name!r}")
        synsets = entry.get("synsets") or []
        if not isinstance(synsets, list) or not all(isinstance(s, str) for s in synsets):
            raise DataFileError(source, f"{where}.synsets", "expected a list of WordNet synset names")
        catch_all = bool(entry.get("catch_all", False))
        if not synsets and not catch_all:
            raise DataFileError(source, f"{where}.synsets", f"group {name!r} has no anchor synsets")
        groups.append(Group(name, str(entry.get("title", name)), str(entry.get("description", "")),
                            tuple(synsets), catch_all, i))
    return groups


def _place(wnid: str, paths: list[tuple[str, ...]], anchors: dict[str, Group]) -> Placement | None:
    found = []  # (distance, priority, path, anchor) for the nearest anchor on each path
    for path in paths:
        for distance, node in enumerate(reversed(path)):
            if node in anchors:
                found.append((distance, anchors[node].priority, path, node))
                break
    if not found:
        return None
    found.sort()
    distance, _, path, anchor = found[0]
    group = anchors[anchor].name
    others = []
    for *_, other_anchor in found[1:]:
        other = anchors[other_anchor].name
        if other != group and other not in others:
            others.append(other)
    return Placement(wnid, group, anchor, distance, path, tuple(paths), tuple(others))


def build_hierarchy(groups_file: str | Path | None = None) -> Hierarchy:
    """Place every class in a group, validating the groups file against the WordNet data."""
    path = Path(groups_file) if groups_file else data_path(GROUPS_FILE)
    source = path.name if groups_file is None else str(path)
    groups = _parse_groups(read_yaml(path), source)
    _, records = wordnet_records()
    all_synsets = {node for r in records for p in r["paths"] for node in p}
    anchors: dict[str, Group] = {}
    for group in groups:
        for j, synset in enumerate(group.synsets):
            where = f"groups[{group.priority}].synsets[{j}]"
            if synset not in all_synsets:
                hint = closest(synset, all_synsets)
                raise DataFileError(source, where, f"{synset!r} is on no ImageNet class's hypernym path"
                                    + (f"; did you mean {', '.join(hint)}?" if hint else ""))
            if synset in anchors:
                raise DataFileError(source, where, f"{synset!r} already anchors group {anchors[synset].name!r}")
            anchors[synset] = group
    placements: dict[str, Placement] = {}
    unplaced = []
    for record in records:
        placement = _place(record["wnid"], [tuple(p) for p in record["paths"]], anchors)
        if placement is None:
            unplaced.append(f"{record['wnid']} ({record['synset']})")
        else:
            placements[record["wnid"]] = placement
    if unplaced:
        catch_all = next((g.name for g in groups if g.catch_all), "a catch-all group")
        raise DataFileError(source, "groups", f"{len(unplaced)} classes reach no group anchor: "
                            f"{', '.join(unplaced)}; anchor one of their hypernyms or list them in {catch_all}")
    empty = [g.name for g in groups if not any(p.group == g.name for p in placements.values())]
    if empty:
        raise DataFileError(source, "groups", f"group {empty[0]!r} holds no class")
    return Hierarchy(groups, placements, source)


@functools.cache
def load_hierarchy() -> Hierarchy:
    """The shipped hierarchy (cached)."""
    return build_hierarchy()
