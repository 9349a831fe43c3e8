"""How much loading and fully validating the prompt hierarchy costs, against parsing its data files alone.

`load_prompts()` parses the class index, the WordNet hierarchy, the groups and the prompt file, places all 1000
classes, and resolves every class's templates (that is how a bad file is caught at load; prompts are rendered
only for the classes asked for). The baseline, measured in
the same run, is only parsing those files (yaml + json). A second pair times the CLI end to end against a bare
interpreter start.

    python bench/prompts.py [--repeats 5]

Ends with one line: BENCH {json}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

from imagenet_textcorrupt import classes, hierarchy, prompts, resources


def _parse_only() -> None:
    for name in (resources.GROUPS_FILE, resources.PROMPTS_FILE):
        yaml.safe_load(resources.data_path(name).read_text(encoding="utf-8"))
    for line in resources.data_path(resources.WORDNET_FILE).read_text(encoding="utf-8").splitlines():
        json.loads(line)
    resources.data_path(resources.CLASSES_FILE).read_text(encoding="utf-8").splitlines()


def _full_load() -> None:
    for cached in (resources.read_text, resources.wordnet_records, classes.read_class_index, classes.load_classes,
                   hierarchy.load_hierarchy, prompts._shipped):
        cached.cache_clear()
    prompts.load_prompts()


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _process(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    parse = _median_seconds(_parse_only, args.repeats)
    full = _median_seconds(_full_load, args.repeats)
    script = str(Path(sys.executable).parent / "imagenet-tc")
    bare = _median_seconds(lambda: _process([sys.executable, "-c", "import yaml"]), args.repeats)
    cli = _median_seconds(lambda: _process([script, "prompts", "n02123045", "--json"]), args.repeats)

    print(f"parse data files only      {parse * 1000:8.1f} ms")
    print(f"load + validate + resolve  {full * 1000:8.1f} ms   ({full / parse:.1f}x the parse)")
    print(f"python -c 'import yaml'    {bare * 1000:8.1f} ms")
    print(f"imagenet-tc prompts --json {cli * 1000:8.1f} ms   ({cli / bare:.1f}x a bare interpreter)")
    figures = {"parse_ms": round(parse * 1000, 2), "load_ms": round(full * 1000, 2),
               "load_over_parse": round(full / parse, 2), "bare_python_ms": round(bare * 1000, 2),
               "cli_prompts_ms": round(cli * 1000, 2), "cli_over_bare": round(cli / bare, 2),
               "repeats": args.repeats}
    print("BENCH " + json.dumps(figures))


if __name__ == "__main__":
    main()
