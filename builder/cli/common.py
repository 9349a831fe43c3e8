"""What the command groups share: adding a command whose `--help` ends with an example, and the help layout that
wraps prose paragraphs to the terminal but keeps indented lines (the example) as written."""

from __future__ import annotations

import argparse
import textwrap

from imagenet_textcorrupt.commands.help import ExampleHelpFormatter
from imagenet_textcorrupt.commands.help import example as example_epilog

Commands = argparse._SubParsersAction  # what `add_subparsers` returns: the groups add their commands to it


class HelpFormatter(ExampleHelpFormatter):
    """`imagenet-tc`'s help layout (the example kept as written, each command's help on its own line in the list),
    except that descriptions and epilogs are wrapped by paragraph (split at blank lines), and a paragraph with an
    indented line, such as "example:" and its command line, is printed as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.strip("\n").split("\n\n"):
            if any(line.startswith(" ") for line in paragraph.splitlines()):
                paragraphs.append("\n".join(indent + line for line in paragraph.splitlines()))
            else:
                paragraphs.append(textwrap.fill(" ".join(paragraph.split()), width, initial_indent=indent,
                                                subsequent_indent=indent))
        return "\n\n".join(paragraphs)


def add_command(commands: Commands, name: str, *, help: str, example: str,
                description: str | None = None) -> argparse.ArgumentParser:
    """Add the command `name`: `help` is its one line in `python -m builder --help`, `description` the text its own
    `--help` opens with (`help` when None), `example` the command line its `--help` ends with."""
    if not example.startswith(f"python -m builder {name}"):
        raise ValueError(f"the example of {name} must start with 'python -m builder {name}': {example!r}")
    return commands.add_parser(name, help=help, description=description or help[0].upper() + help[1:] + ".",
                               epilog=example_epilog(example), formatter_class=HelpFormatter)
