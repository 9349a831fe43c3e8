"""The wheel ships every file the installed code reads: built from the source tree, unpacked into a folder of its
own and run from outside the source tree, its recipes, data files, card template and sample-photo labels load."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("imagenet_textcorrupt", "builder")
SOURCES = ("pyproject.toml", "README.md", "imagenet_textcorrupt", "builder", "dataset_card")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of a clean copy of the sources (no build/ leftovers), built without network access."""
    pytest.importorskip("setuptools", minversion="77")  # the test extra pins it
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                             if (ROOT / name).is_dir() else {}))
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "--wheel-dir", str(out), str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    [built] = out.glob("imagenet_textcorrupt-*.whl")
    return built


def _expected(root: Path) -> set[str]:
    """Every file of the packages, as the wheel names it (dataset_card/ ships as builder/dataset_card/)."""
    files = {p.relative_to(root).as_posix() for package in PACKAGES for p in (root / package).rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    files |= {f"builder/dataset_card/{p.name}" for p in (root / "dataset_card").iterdir() if p.is_file()}
    return files


def test_the_wheel_holds_every_module_and_data_file(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = {n for n in archive.namelist() if not n.startswith("imagenet_textcorrupt-")}
        entry_points = next(archive.read(n).decode() for n in archive.namelist() if n.endswith("entry_points.txt"))
    missing = sorted(_expected(ROOT) - names)
    assert not missing, f"not in the wheel: {missing}"
    assert {"builder/dataset_card/README.md.jinja", "builder/dataset_card/LICENSE.jinja",
            "builder/planning/sample_photos.yaml", "builder/recipes/smoke.yaml",
            "imagenet_textcorrupt/data/prompts.yaml",
            "builder/micro/weights/unet/diffusion_pytorch_model.safetensors", "builder/micro/weights/training.json"
            } <= names
    assert "imagenet-tc = imagenet_textcorrupt.cli:main" in entry_points


CHECK = """
import json, sys
from pathlib import Path
import builder, imagenet_textcorrupt
from builder.release.card import template_dir, TEMPLATE
from builder.planning.recipes import load_recipe, RECIPES_DIR
from builder.planning.sources import SAMPLES_FILE, SAMPLE_PHOTOS
from builder.micro.tiny_models import resolve_model
from imagenet_textcorrupt.classes import load_classes
from imagenet_textcorrupt.hierarchy import load_hierarchy
from imagenet_textcorrupt.prompts import load_prompts
import jinja2

template = jinja2.Environment(loader=jinja2.FileSystemLoader(template_dir())).get_template(TEMPLATE)
print(json.dumps({
    "modules": [builder.__file__, imagenet_textcorrupt.__file__],
    "files": [str(template_dir()), str(RECIPES_DIR), str(SAMPLES_FILE), resolve_model("tiny:micro")],
    "recipe": load_recipe("smoke").name, "photos": len(SAMPLE_PHOTOS), "classes": len(load_classes()),
    "groups": len(load_hierarchy().group_names), "prompts": load_prompts().version,
}))
"""


def test_the_installed_code_reads_only_what_the_wheel_ships(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"  # a working folder outside the source tree
    elsewhere.mkdir()
    import os

    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=elsewhere, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    for path in found["modules"] + found["files"]:
        assert Path(path).resolve().is_relative_to(site.resolve()), path  # nothing read from the source tree
    assert (found["recipe"], found["photos"], found["classes"]) == ("imagenet-tc-smoke", 5, 1000)
    assert found["groups"] == 17
    plan = subprocess.run([sys.executable, "-m", "builder", "plan", "--recipe", "smoke", "--json"], cwd=elsewhere,
                          env=env, capture_output=True, text=True, timeout=300)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert json.loads(plan.stdout)["images"] == 5
