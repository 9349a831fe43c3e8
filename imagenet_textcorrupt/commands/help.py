"""The layout of `imagenet-tc`'s help: descriptions wrapped to the terminal as argparse does, each command's
"example:" section (its epilog) kept as written, and the list of commands with each command's help on its line.
"""

from __future__ import annotations

import argparse
from typing import Any

EXAMPLE_HEADING = "example:"


class ExampleHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """RawDescriptionHelpFormatter for the epilog (the example, its lines and indentation as written); the
    description and the arguments' help are wrapped as argparse's default formatter wraps them."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(EXAMPLE_HEADING):
            return super()._fill_text(text, width, indent)
        return argparse.HelpFormatter._fill_text(self, text, width, indent)

    def add_argument(self, action: argparse.Action) -> None:
        """As argparse, and room for the subcommands' names, which argparse lists one indent further in than it
        measures them (a long name such as compare-study would push its help onto the next line)."""
        super().add_argument(action)
        if action.help is not argparse.SUPPRESS and isinstance(action, argparse._SubParsersAction):
            names = [len(self._format_action_invocation(sub)) for sub in action._get_subactions()]
            self._action_max_length = max(self._action_max_length,
                                          max(names, default=0) + self._current_indent + self._indent_increment)


def subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of every command of a parser with subcommands, in the order `--help` lists
    them (what the tests and the docs' command reference read)."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
    return [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]


def example(*lines: str, note: str | None = None) -> str:
    """An "example:" epilog: each line an invocation (or a comment), indented; `note` after a blank line."""
    text = EXAMPLE_HEADING + "\n" + "\n".join(f"  {line}" for line in lines)
    return f"{text}\n\n{note}" if note else text


def add_command(commands: Any, name: str, help: str, epilog: str, description: str | None = None
                ) -> argparse.ArgumentParser:
    """A command's parser: its one-line help (the list of commands), its description (default: the help) and its
    example (`example(...)`) as the epilog."""
    return commands.add_parser(name, help=help, description=description or help, epilog=epilog,
                               formatter_class=ExampleHelpFormatter)
