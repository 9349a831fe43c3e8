"""The browsing commands of `imagenet-tc`: `hierarchy` (the groups, which are the dataset configs, and where each
class sits), `prompts` (the resolved prompts of one class) and `show` (a contact sheet of a release's edits, or of
those that flipped a model).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from imagenet_textcorrupt.commands.help import add_command, example
from imagenet_textcorrupt.errors import UnknownNameError
from imagenet_textcorrupt.schema import DEFAULT_CONFIG


def add_parsers(commands: Any) -> None:
    """hierarchy, prompts and show."""
    hierarchy = add_command(
        commands, "hierarchy", help="groups (dataset configs) and where each class sits",
        description="Without options: every group with its class count.",
        epilog=example("imagenet-tc hierarchy --group animals",
                       "imagenet-tc hierarchy --wnid n02123045 --json"))
    hierarchy.add_argument("--group", help="list the classes of one group")
    hierarchy.add_argument("--wnid", help="show one class (wnid, index or name): WordNet path and group")
    hierarchy.add_argument("--json", action="store_true",
                           help='print a list of {"index", "wnid", "name", "group", "path"}, one per class')
    hierarchy.set_defaults(run=cmd_hierarchy)

    prompts = add_command(
        commands, "prompts", help="the resolved prompts of one class, by domain",
        epilog=example("imagenet-tc prompts n02123045 --domain color"))
    prompts.add_argument("wnid", help="the class: wnid (n02123045), index or name")
    prompts.add_argument("--domain", action="append", help="only this domain (repeatable)")
    prompts.add_argument("--prompts-file", help="a prompt hierarchy YAML file to use instead of the shipped one")
    prompts.add_argument("--json", action="store_true",
                         help='print {"wnid", "name", "group", "domains": {domain: [prompt, ...]}}')
    prompts.set_defaults(run=cmd_prompts)

    show = add_command(
        commands, "show", help="a contact sheet: source images and their edits, or the edits that flipped a model",
        description="Draws one row per source image: the original, then its edits by domain and severity with "
                    "their prompts. With --results, only the edits that flipped the model's prediction (wrong "
                    "while the original was right), each with the predicted and the true class.",
        epilog=example("imagenet-tc show ORG/imagenet-tc --config animals --out sheet.png --domain weather,color",
                       "imagenet-tc show releases/v1.0.0 --out flips.png --results results/convnext_base.json"))
    show.add_argument("dataset", help="a Hub dataset id or a local release folder")
    show.add_argument("--config", default=DEFAULT_CONFIG, help=f"a group, or {DEFAULT_CONFIG} (the default)")
    show.add_argument("--revision", help="a tag, branch or commit of the dataset repository (default: the one "
                                         "--results was scored on)")
    show.add_argument("--out", required=True, help="the image to write (*.png or *.jpg)")
    show.add_argument("--limit", type=int, default=4, help="source images to show (default 4)")
    show.add_argument("--domain", action="append",
                      help="only edits of this domain (repeatable or comma-separated; default: every domain)")
    show.add_argument("--seed", type=int, default=0, help="seed of the choice of source images (default 0)")
    show.add_argument("--per-source", type=int, default=12, help="at most this many edits per source (default 12)")
    show.add_argument("--results", help="a results file of imagenet-tc evaluate on this dataset and config: show "
                                        "the edits that flipped its predictions, sources with most flips first")
    show.add_argument("--streaming", action="store_true", help="stream the rows instead of caching the config")
    show.set_defaults(run=cmd_show)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _class_entry(cls: Any, hierarchy: Any) -> dict[str, Any]:
    placement = hierarchy.placement(cls.wnid)
    return {"index": cls.index, "wnid": cls.wnid, "name": cls.name, "group": placement.group,
            "path": list(placement.path)}


def cmd_hierarchy(args: argparse.Namespace) -> int:
    from imagenet_textcorrupt.classes import get_class, load_classes
    from imagenet_textcorrupt.hierarchy import load_hierarchy

    hierarchy = load_hierarchy()
    if args.wnid:
        selected = [get_class(args.wnid)]
        if args.group and hierarchy.group_of(args.wnid) != hierarchy.group(args.group).name:
            selected = []
    elif args.group:
        selected = hierarchy.members(hierarchy.group(args.group).name)
    else:
        selected = list(load_classes())

    if args.json:
        _print_json([_class_entry(c, hierarchy) for c in selected])
    elif args.wnid and not selected:
        cls = get_class(args.wnid)
        print(f"{cls.wnid} ({cls.name}) is in group {hierarchy.group_of(cls.wnid)}, not {args.group}",
              file=sys.stderr)
        return 1
    elif args.wnid:
        _show_class(selected[0], hierarchy)
    elif args.group:
        group = hierarchy.group(args.group)
        print(f"{group.name}: {group.title} ({len(selected)} classes) - {group.description}")
        print(f"anchors: {', '.join(group.synsets)}")
        for c in selected:
            print(f"{c.index:4d}  {c.wnid}  {c.name}")
    else:
        counts = hierarchy.counts()
        width = max(len(g) for g in counts)
        print(f"{'group':<{width}}  classes  title")
        for group in hierarchy.groups:
            print(f"{group.name:<{width}}  {counts[group.name]:7d}  {group.title}")
        print(f"{DEFAULT_CONFIG:<{width}}  {sum(counts.values()):7d}  every group (the default config)")
    return 0


def _show_class(cls: Any, hierarchy: Any) -> None:
    placement = hierarchy.placement(cls.wnid)
    print(f"{cls.wnid}  {cls.name}  (index {cls.index}, synset {cls.synset})")
    print(f"lemmas: {', '.join(cls.lemmas)}")
    print(f"definition: {cls.definition}")
    steps = "the class itself" if placement.distance == 0 else f"{placement.distance} steps up"
    print(f"group: {placement.group}  (anchor {placement.anchor}, {steps})")
    if placement.other_groups:
        print(f"also reachable on other paths: {', '.join(placement.other_groups)}")
    print("path:")
    for depth, synset in enumerate(placement.path):
        marker = "  <- group anchor" if synset == placement.anchor else ""
        print(f"  {'  ' * depth}{synset}{marker}")
    if len(placement.paths) > 1:
        print(f"({len(placement.paths)} hypernym paths in WordNet; shown: the one through the group anchor)")


def cmd_prompts(args: argparse.Namespace) -> int:
    from imagenet_textcorrupt.prompts import load_prompts

    prompt_hierarchy = load_prompts(args.prompts_file) if args.prompts_file else load_prompts()
    resolved = prompt_hierarchy.for_class(args.wnid)
    if args.domain:
        unknown = [d for d in args.domain if d not in prompt_hierarchy.domains]
        if unknown:
            from imagenet_textcorrupt.errors import closest
            raise UnknownNameError("domain", unknown[0], closest(unknown[0], prompt_hierarchy.domains))
    wanted = args.domain or list(prompt_hierarchy.domains)
    if args.json:
        entry = resolved.to_json()
        entry["domains"] = {d: v for d, v in entry["domains"].items() if d in wanted}
        entry["source_prompt"] = resolved.source_prompt
        entry["prompts_version"] = prompt_hierarchy.version
        entry["not_applicable"] = {d: r for d, r in resolved.not_applicable.items() if d in wanted}
        entry["dropped"] = [{"prompt": p, "reason": r} for p, r in resolved.dropped]
        _print_json(entry)
        return 0
    print(f"{resolved.wnid}  {resolved.name}  (group {resolved.group}, prompt hierarchy "
          f"v{prompt_hierarchy.version})")
    print(f"source prompt: {resolved.source_prompt}")
    for domain in wanted:
        if domain in resolved.not_applicable:
            print(f"\n{domain}: not applicable ({resolved.not_applicable[domain]})")
            continue
        prompts = resolved.domains[domain]
        print(f"\n{domain} ({len(prompts)}):")
        for prompt in prompts:
            print(f"  {prompt.text}")
    for text, reason in resolved.dropped:
        print(f"\nleft out: {text} ({reason})")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from imagenet_textcorrupt.contact_sheet import draw_contact_sheet

    sheet = draw_contact_sheet(args.dataset, args.config, args.out, revision=args.revision, limit=args.limit,
                               domains=args.domain, seed=args.seed, per_source=args.per_source, results=args.results,
                               streaming=args.streaming)
    edits = sheet.tiles - len(sheet.sources)
    print(f"contact sheet: {sheet.path} ({sheet.size[0]} x {sheet.size[1]} px)")
    print(f"  source images ({len(sheet.sources)}): {', '.join(sheet.sources)}")
    left = f"; {sheet.left_out} more left out (--per-source {args.per_source})" if sheet.left_out else ""
    print(f"  tiles: {sheet.tiles} (originals {len(sheet.sources)}, edits {edits}){left}")
    if sheet.flipped is not None:
        print(f"  edits that flipped the model's prediction in config {args.config}: {sheet.flipped}; shown: those "
              f"of the source images with most flips")
    return 0
