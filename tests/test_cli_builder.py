"""`python -m builder`'s help: the top level lists every command on one line, every command's help ends with an
example that runs that command, and the docstring of the module that parses a command shows the same example."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from builder.cli import build_parser
from imagenet_textcorrupt.commands.help import subcommands

COMMANDS = ["hierarchy", "plan", "build", "review", "review-stats", "hard", "release", "validate", "publish",
            "metric-space", "train-micro", "editor-bench"]  # the data's order, as --help lists them


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return {name: sub for name, _, sub in subcommands(parser)}


def _example(help_text: str) -> str:
    """The command line of the help's "example:" section (the first line after it)."""
    _, found, tail = help_text.partition("\nexample:\n")
    assert found, f"no example section in:\n{help_text}"
    return tail.strip().splitlines()[0].strip()


@pytest.fixture
def columns_80(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps to the terminal: measure at the narrow default


def test_the_commands_and_their_order():
    assert list(_commands(build_parser())) == COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_ends_with_an_example_of_itself(command, columns_80):
    parser = _commands(build_parser())[command]
    text = parser.format_help()
    example = _example(text)
    assert example.startswith(f"python -m builder {command} ") or example == f"python -m builder {command}"
    assert text.rstrip().endswith(example)  # the example closes the help
    # the example parses: the command, its flags and their values are the real ones
    args = build_parser().parse_args(example.split()[3:])
    assert args.command == command
    # and the docstring of the module that parses the command (rendered into the docs) shows it too
    module = sys.modules[args.run.__module__]
    assert module.__name__.startswith("builder.cli.")
    assert example in (module.__doc__ or ""), f"{module.__name__}'s docstring lacks {example!r}"


def test_the_top_level_help_lists_every_command_on_one_line(columns_80):
    text = build_parser().format_help()
    lines = text.splitlines()
    for name, help_text, _ in subcommands(build_parser()):  # each command's name and its help, on one line
        [line] = [line for line in lines if line.split()[:1] == [name]]
        assert line.split(None, 1)[1] == help_text, f"{name}'s help is not on its line: {line!r}"
    assert set(COMMANDS) <= {line.split()[0] for line in lines if line.startswith("    ")}
    assert _example(text).startswith("python -m builder ")


def test_python_m_builder_help_runs():
    done = subprocess.run([sys.executable, "-m", "builder", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert all(command in done.stdout for command in COMMANDS)


def test_a_bad_command_is_a_usage_error(capsys):
    from builder.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["no-such-command"])
    assert exit_.value.code == 2
    assert "invalid choice: 'no-such-command'" in capsys.readouterr().err
