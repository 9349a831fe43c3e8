"""MkDocs hook: the command-line reference, generated from the argparse parsers at build time so it cannot drift.

A page holding the line `<!-- cli-reference: imagenet-tc -->` (or `builder`) gets, in its place, a table of every
command with its one-line help, then per command a section with its full `--help` text. `commands()` and
`render()` are also what tests/test_docs.py reads.

It also keeps one kind of warning out of the strict build: a docstring that writes a subscript such as
`result["clean"]["top1"]` reads, in Markdown, like a reference link to the identifier `"top1"`, which mkdocs-autorefs
reports as unresolved. Such an identifier (quoted) is never a cross-reference; every other unresolved one still
fails the build.
"""

from __future__ import annotations

import argparse
import logging
import os
import re

MARKER = re.compile(r"^<!-- cli-reference: (imagenet-tc|builder) -->$", re.MULTILINE)
PROGRAMS = {"imagenet-tc": "imagenet-tc", "builder": "python -m builder"}
WIDTH = "88"  # the --help text is wrapped at this many columns (the page's width), whatever the terminal
SUBSCRIPT = re.compile(r"Could not find cross-reference target '[\"'].*[\"']'$")


class _NotASubscript(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not SUBSCRIPT.search(record.getMessage())


logging.getLogger("mkdocs.plugins.mkdocs_autorefs._internal.plugin").addFilter(_NotASubscript())


def build_parser(name: str) -> argparse.ArgumentParser:
    """The parser of `imagenet-tc` or of `python -m builder`."""
    if name == "imagenet-tc":
        from imagenet_textcorrupt.cli import build_parser as build
    else:
        from builder.cli import build_parser as build
    return build()


def commands(name: str) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(command, one-line help, its parser) for every command of a CLI, in the order `--help` lists them."""
    from imagenet_textcorrupt.commands.help import subcommands

    return subcommands(build_parser(name))


def _help_text(parser: argparse.ArgumentParser) -> str:
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        return parser.format_help().rstrip()
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


def render(name: str) -> str:
    """The Markdown of one CLI's reference: the table of commands, then each command's --help."""
    program = PROGRAMS[name]
    listed = list(commands(name))
    lines = ["| command | what it does |", "| --- | --- |"]
    for command, summary, _ in listed:
        anchor = re.sub(r"[^a-z0-9]+", "-", f"{program} {command}".lower()).strip("-")
        lines.append(f"| [`{program} {command}`](#{anchor}) | {summary} |")
    lines += ["", "## `" + program + " --help`", "", "```text", _help_text(build_parser(name)), "```", ""]
    for command, summary, sub in listed:
        lines += [f"## `{program} {command}`", "", summary[:1].upper() + summary[1:] + ".", "", "```text",
                  _help_text(sub), "```", ""]
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001 - the MkDocs hook's signature
    return MARKER.sub(lambda match: render(match.group(1)), markdown)
