"""`imagenet-tc hierarchy` and `imagenet-tc prompts`: output, JSON shapes, exit codes and suggestions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from imagenet_textcorrupt.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_hierarchy_lists_groups_with_counts(capsys):
    code, out, _ = run(capsys, "hierarchy")
    assert code == 0
    rows = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()[1:]}
    assert rows["animals"] == 398 and rows["landscapes"] == 10 and rows["all"] == 1000
    assert sum(v for k, v in rows.items() if k != "all") == 1000


def test_hierarchy_group(capsys):
    code, out, _ = run(capsys, "hierarchy", "--group", "landscapes")
    assert code == 0
    assert out.splitlines()[0].startswith("landscapes: Landscapes (10 classes)")
    assert " 980  n09472597  volcano" in out.splitlines()
    assert len([line for line in out.splitlines() if " n0" in line]) == 10


def test_hierarchy_wnid(capsys):
    code, out, _ = run(capsys, "hierarchy", "--wnid", "n03417042")
    assert code == 0
    assert "group: vehicles  (anchor wheeled_vehicle.n.01, 4 steps up)" in out
    assert "also reachable on other paths" not in out  # its other path meets the same group
    assert "                wheeled_vehicle.n.01  <- group anchor" in out
    assert out.rstrip().endswith("(2 hypernym paths in WordNet; shown: the one through the group anchor)")


@pytest.mark.parametrize(("args", "count"), [((), 1000), (("--group", "food"), 48), (("--wnid", "n02123045"), 1),
                                             (("--wnid", "n02123045", "--group", "food"), 0)])
def test_hierarchy_json_shape(capsys, args, count):
    code, out, _ = run(capsys, "hierarchy", "--json", *args)
    assert code == 0
    entries = json.loads(out)
    assert len(entries) == count
    for entry in entries:
        assert set(entry) == {"index", "wnid", "name", "group", "path"}
        assert entry["path"][0] == "entity.n.01"
    if count == 1:
        assert entries[0] == {"index": 281, "wnid": "n02123045", "name": "tabby cat", "group": "animals",
                              "path": entries[0]["path"]}


def test_hierarchy_wnid_outside_the_group(capsys):
    code, out, err = run(capsys, "hierarchy", "--wnid", "n02123045", "--group", "food")
    assert (code, out) == (1, "")
    assert "n02123045 (tabby cat) is in group animals, not food" in err


def test_prompts_text(capsys):
    code, out, _ = run(capsys, "prompts", "n09472597")
    assert code == 0
    assert out.splitlines()[0] == "n09472597  volcano  (group landscapes, prompt hierarchy v1.1.0)"
    assert "color: not applicable (a landscape has no single object color" in out
    assert "\nweather (3):\n  a volcano in the snow\n" in out


def test_prompts_json(capsys):
    code, out, _ = run(capsys, "prompts", "n02123045", "--json")
    assert code == 0
    entry = json.loads(out)
    assert {"wnid", "name", "group", "domains"} <= set(entry)
    assert (entry["wnid"], entry["name"], entry["group"]) == ("n02123045", "tabby cat", "animals")
    assert list(entry["domains"]) == ["drawing", "weather", "color", "texture", "context"]
    assert entry["domains"]["weather"] == ["a tabby cat in the snow", "a tabby cat in the fog",
                                           "a tabby cat in the rain", "a tabby cat on ice"]
    assert entry["source_prompt"] == "a tabby cat" and entry["prompts_version"] == "1.1.0"


def test_prompts_domain_filter(capsys):
    code, out, _ = run(capsys, "prompts", "tabby cat", "--json", "--domain", "color")
    assert code == 0
    assert list(json.loads(out)["domains"]) == ["color"]


def test_prompts_from_another_file(capsys, tmp_path):
    from imagenet_textcorrupt.resources import PROMPTS_FILE, data_path

    custom = tmp_path / "p.yaml"
    custom.write_text(data_path(PROMPTS_FILE).read_text().replace("in the fog", "in thick fog"))
    code, out, _ = run(capsys, "prompts", "n02123045", "--json", "--prompts-file", str(custom))
    assert code == 0
    assert json.loads(out)["domains"]["weather"][1] == "a tabby cat in thick fog"


@pytest.mark.parametrize(("argv", "message"), [
    (("hierarchy", "--wnid", "n0212304"), "unknown wnid 'n0212304'; did you mean n02123045 (tabby cat)"),
    (("hierarchy", "--group", "animal"), "unknown group 'animal'; did you mean animals?"),
    (("hierarchy", "--group", "vehicle", "--json"), "unknown group 'vehicle'; did you mean vehicles?"),
    (("prompts", "n02123046"), "unknown wnid 'n02123046'; did you mean n02123045 (tabby cat)"),
    (("prompts", "n02123045", "--domain", "colour"), "unknown domain 'colour'; did you mean color?"),
    (("prompts", "crane"), "ambiguous class 'crane'; did you mean n02012849 (crane bird), n03126707"),
])
def test_unknown_names_exit_2_with_suggestions(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert message in err


def test_bad_prompts_file_exits_1(capsys, tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("version: 1\n")
    code, _, err = run(capsys, "prompts", "n02123045", "--prompts-file", str(bad))
    assert code == 1
    assert f"{bad}: version: 1 is not a version of the form MAJOR.MINOR.PATCH" in err


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "imagenet-tc"
    assert script.exists(), "the console script imagenet-tc is missing: pip install -c constraints.txt '.[all]'"
    done = subprocess.run([str(script), "hierarchy", "--wnid", "n0212304"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "did you mean n02123045 (tabby cat)" in done.stderr


def test_core_stays_light():
    """The CLI's hierarchy and prompts commands import neither nltk nor torch nor the builder."""
    code = ("import sys; from imagenet_textcorrupt.cli import main; main(['prompts', 'n02123045', '--json']); "
            "print(sorted(m for m in ('nltk', 'torch', 'builder', 'datasets', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_prompts_lists_what_is_left_out(capsys):
    code, out, _ = run(capsys, "prompts", "n02119022", "--domain", "color")
    assert code == 0 and "  an orange red fox\n" in out
    assert out.rstrip().endswith("left out: a red red fox (repeats 'red' of the class name)")
    code, out, _ = run(capsys, "prompts", "n02119022", "--json")
    assert json.loads(out)["dropped"] == [{"prompt": "a red red fox", "reason": "repeats 'red' of the class name"}]


def _commands() -> dict:
    """Every command of `imagenet-tc`: name -> (its parser, its one-line help in the list of commands)."""
    from imagenet_textcorrupt.cli import build_parser
    from imagenet_textcorrupt.commands.help import subcommands

    return {name: (parser, help_text) for name, help_text, parser in subcommands(build_parser())}


def _example_lines(text: str) -> list[str]:
    """The invocations of a help's "example:" section, each continued line (ending in a backslash) joined."""
    lines, current = [], ""
    for line in text.split("\nexample:\n", 1)[1].splitlines():
        if not line.startswith("  ") or not (current or line.strip().startswith("imagenet-tc ")):
            break
        current += " " + line.strip().removesuffix("\\").strip()
        if not line.rstrip().endswith("\\"):
            lines.append(current.strip())
            current = ""
    return lines


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_command_help_ends_with_an_example_that_parses(command, monkeypatch):
    """`imagenet-tc COMMAND --help` ends with an "example:" section (after the options) showing `imagenet-tc
    COMMAND ...`, and every invocation in it is one the command line accepts."""
    import shlex

    from imagenet_textcorrupt.cli import build_parser

    monkeypatch.setenv("COLUMNS", "120")
    text = _commands()[command][0].format_help()
    assert "\nexample:\n" in text and text.index("\nexample:\n") > text.index("\noptions:\n"), text
    invocations = _example_lines(text)
    assert any(line.startswith(f"imagenet-tc {command} ") for line in invocations), invocations
    for line in invocations:
        try:
            build_parser().parse_args(shlex.split(line)[1:])
        except SystemExit:
            pytest.fail(f"the example of {command} does not parse: {line}")


def test_the_top_level_help_lists_every_command_with_its_one_line_help(monkeypatch):
    import re

    from imagenet_textcorrupt.cli import build_parser

    monkeypatch.setenv("COLUMNS", "200")
    text = build_parser().format_help()
    commands = _commands()
    assert set(commands) == {"hierarchy", "prompts", "evaluate", "report", "show", "submit", "leaderboard", "audit",
                             "demo", "compare-study"}
    for name, (_, help_text) in commands.items():
        assert help_text and "\n" not in help_text, name
        assert re.search(rf"^ +{re.escape(name)} +{re.escape(help_text)}$", text, flags=re.MULTILINE), (name, text)
    assert "\nexample:\n  imagenet-tc demo\n" in text


def test_the_example_lines_are_read_whole():
    text = "options:\n\nexample:\n  imagenet-tc a --x 1 \\\n      --y 2\n  imagenet-tc a\n\nexit status: 0\n"
    assert _example_lines(text) == ["imagenet-tc a --x 1 --y 2", "imagenet-tc a"]
