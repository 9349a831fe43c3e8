"""The `study` recipe against the study's own code: the same classes, files and prompts, its lists, its settings.

The study's `generate_data.py` (tests/fixtures/robutext/, unchanged from github ckoorosh/RobuText at a2e1b93, MIT)
is run here: its selection and prompt functions, its dataset class and its main block, taken out with `ast`, with
the model replaced by a shim that draws nothing (the real one draws nothing from Python's `random` either:
`test_loading_a_pipeline_draws_nothing`). Its own CSV logs and the images it saved are compared with what
`builder.study` replays over the same fake validation folder: 1000 class folders of 8x8 JPEGs with validation file
names, 10 to 14 colour images per class, greyscale and CMYK ones among them.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import random
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from imagenet_textcorrupt.classes import load_classes

from builder.planning.plan import make_shards, summarize
from builder.planning.recipes import RECIPES_DIR, SourceSpec, load_recipe
from builder.planning.sources import create_source
from builder.study.layout import LayoutError
from builder.study.lists import load_lists
from builder.study.replay import chosen_classes

FIXTURE = Path(__file__).parent / "fixtures" / "robutext"
STUDY_FILES = ("generate_data.py", "utils/list_subclass.py", "utils/prompts.py", "utils/imagenet_list.py")
# what the study's code takes from generate_data.py: its selection, its dataset, its prompt draws, its main block
STUDY_DEFINITIONS = {"IMG_EXTENSIONS", "domains", "colors", "is_image_file", "find_classes", "make_dataset",
                     "get_subclass", "save_csv_log", "pil_loader", "accimage_loader", "default_loader", "EditDataset",
                     "null_text_edit", "save_edited"}
SEEDS = (10, 1234)  # the study's command's seed, and its parser's default

pytestmark = pytest.mark.filterwarnings("ignore:.*do not hold the validation set's 50 images")


def fixture_text(name: str) -> str:
    return (FIXTURE / f"{name}.txt").read_text(encoding="utf-8")


def study_module(name: str) -> dict:
    namespace: dict = {}
    exec(compile(fixture_text(name), f"robutext/{name}", "exec"), namespace)
    return namespace


# -- the fake validation folder ----------------------------------------------------------------------------------
def write_val(root: Path, seed: int = 0) -> Path:
    """1000 class folders; each 10 to 14 colour images (one in ten CMYK), 0 to 3 greyscale, shuffled val numbers."""
    rng = random.Random(seed)
    counts = [(rng.randint(10, 14), rng.randint(0, 3)) for _ in range(1000)]
    numbers = list(range(1, sum(c + g for c, g in counts) + 1))
    rng.shuffle(numbers)
    for cls, (colour, grey) in zip(load_classes(), counts):
        folder = root / cls.wnid
        folder.mkdir(parents=True)
        kinds = ["RGB"] * colour + ["L"] * grey
        rng.shuffle(kinds)
        for kind in kinds:
            if kind == "RGB" and rng.random() < 0.1:
                kind = "CMYK"
            pixels = np.full((8, 8, len(kind)) if kind != "L" else (8, 8), rng.randrange(256), np.uint8)
            Image.fromarray(pixels, kind).save(folder / f"ILSVRC2012_val_{numbers.pop():08d}.JPEG")
    return root


@pytest.fixture(scope="module")
def val(tmp_path_factory) -> Path:
    return write_val(tmp_path_factory.mktemp("imagenet") / "val")


# -- the study's code, run -----------------------------------------------------------------------------------------
class StudyRun:
    """What a run of the study's code did: the prompts its inversions were given (image by image, in its order),
    and its CSV logs (Original: the files per class; one per domain: the prompts)."""

    def __init__(self, out: Path, inverted: list[tuple[str, str]]):
        self.out, self.inverted = out, inverted
        self.logs = {}
        for file in out.glob("*.csv"):
            with open(file, newline="") as handle:
                rows = list(csv.reader(handle))[1:]
            self.logs[file.stem] = {row[0]: row[1:] for row in rows}

    @property
    def classes(self) -> list[str]:
        return list(self.logs["Original"])


def run_study(val: Path, out: Path, seed: int, num_images: int = 10, num_classes: int = 100) -> StudyRun:
    """generate_data.py's command (`--sub_class all`) over `val`, the model shimmed; random's state restored."""
    tree = ast.parse(fixture_text("generate_data.py"))
    body, main = [], None
    for node in tree.body:
        names = {t.id for t in node.targets if isinstance(t, ast.Name)} if isinstance(node, ast.Assign) else \
            {getattr(node, "name", None)}
        if names & STUDY_DEFINITIONS:
            body.append(node)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "__name__ == '__main__'":
            main = node.body
    assert main is not None and len(body) == len(STUDY_DEFINITIONS), "the study's file is not as expected"
    inverted: list[tuple[str, str]] = []

    class NullInversion:  # the model: inverts nothing, and, like the real one, draws nothing from `random`
        def __init__(self, model):
            pass

        def invert(self, image_path, prompt, offsets=(0, 0, 0, 0), verbose=False):
            inverted.append((image_path, prompt))
            return (None, None), None, None

    def run_and_display(prompts, controller, latent=None, **kwargs):
        return np.zeros((len(prompts), 8, 8, 3), np.uint8), latent

    class Pipeline:
        tokenizer = None

        @classmethod
        def from_pretrained(cls, *args, **kwargs):
            return cls()

        def to(self, device):
            return self

        def disable_xformers_memory_efficient_attention(self):
            pass

    args = types.SimpleNamespace(dataset_path=str(val), output_path=str(out), num_classes=num_classes,
                                 num_images=num_images, sub_class="all", seed=seed)
    cuda = types.SimpleNamespace(is_available=lambda: False, device_count=lambda: 0, get_device_name=lambda i: "-")
    namespace = {
        "__name__": "robutext_generate_data", "random": random, "os": os, "np": np, "Image": Image,
        "pd": __import__("pandas"), "tqdm": __import__("tqdm").tqdm, "args": args, "parse_args": lambda: args,
        "sub_classes": study_module("utils/list_subclass.py")["sub_classes"],
        "PROMPTS": study_module("utils/prompts.py")["PROMPTS"],
        "IMAGENET_DIC": study_module("utils/imagenet_list.py")["IMAGENET_DIC"],
        "NullInversion": NullInversion, "AttentionStore": lambda: None, "run_and_display": run_and_display,
        "make_controller": lambda *a, **k: None, "DDIMScheduler": lambda **k: None, "StableDiffusionPipeline": Pipeline,
        "torch": types.SimpleNamespace(device=str, cuda=cuda),
    }
    # find_classes lists {output_path}/Original before anything makes it: the study's run needs it there (empty for a
    # fresh run; the classes in it are dropped from the selection)
    (out / "Original").mkdir(parents=True)
    state = random.getstate()
    try:
        exec(compile(ast.Module(body=body + main, type_ignores=[]), "robutext/generate_data.py", "exec"), namespace)
    finally:
        random.setstate(state)
    return StudyRun(out, inverted)


@pytest.fixture(scope="module")
def study_runs(val, tmp_path_factory) -> dict[int, StudyRun]:
    return {seed: run_study(val, tmp_path_factory.mktemp(f"robutext-{seed}") / "data-100-10", seed) for seed in SEEDS}


def study_recipe(seed: int, path: Path | str = "/nowhere"):
    recipe = load_recipe("study")
    return replace(recipe, seed=seed, source=replace(recipe.source, path=str(path)))


# -- the same selection and prompts ------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_the_recipe_selects_and_prompts_as_the_study(val, study_runs, seed):
    run = study_runs[seed]
    recipe = study_recipe(seed, val)
    images = create_source(recipe.source).select(recipe)
    shards = make_shards(recipe, images)
    items = [item for shard in shards for item in shard.items]

    # the classes, and each class's files in the study's order (the order it edited them in)
    assert len(run.classes) == 100 and len(images) == 1000
    assert sorted({im.wnid for im in images}) == run.classes == chosen_classes(seed, load_lists(), 100)
    ours: dict[str, list[str]] = {}
    for image in images:
        ours.setdefault(image.wnid, []).append(image.source_id + ".JPEG")
    assert ours == run.logs["Original"]
    assert [im.locator for im in images] == [path for path, _ in run.inverted]
    for wnid, files in run.logs["Original"].items():  # the originals it saved are those files
        assert sorted(p.name for p in (run.out / "Original" / wnid).iterdir()) == sorted(files)

    # the source prompt of every image, and its target prompt in every domain (N/A: no edit)
    originals = [i for i in items if i.severity == 0]
    assert [(Path(im.locator).stem, i.source_prompt) for im, i in zip(images, originals)] == \
        [(Path(path).stem, prompt) for path, prompt in run.inverted]
    by_image = {(i.wnid, i.source_id, i.domain): i.prompt for i in items if i.severity}
    assert len(by_image) == sum(1 for i in items if i.severity)  # one edit per image and domain
    checked = 0
    for domain in load_lists().domains:
        for wnid, prompts in run.logs[domain].items():
            for file, prompt in zip(run.logs["Original"][wnid], prompts):
                mine = by_image.get((wnid, Path(file).stem, domain.lower()))
                assert mine == (None if prompt == "N/A" else prompt), (seed, wnid, file, domain)
                checked += prompt != "N/A"
    assert checked == len(by_image) == 4100
    assert {i.severity for i in items} == {0, 2}


def test_seeds_choose_differently(study_runs):
    first, second = (study_runs[s] for s in SEEDS)
    assert first.classes != second.classes
    assert any(first.logs["Drawing"][w] != second.logs["Drawing"].get(w) for w in first.classes)


def test_a_class_of_exactly_ten_colour_images_draws_none(val, tmp_path):
    """A chosen class with as many colour images as the study samples takes them all without a draw, so the draws
    after it shift by its absence: the replay follows the study there too (checked at a seed that chooses one)."""
    lists = load_lists()
    ten = {p.name for p in val.iterdir() if sum(1 for f in p.iterdir() if Image.open(f).mode != "L") == 10}
    seed = next(s for s in range(20, 200) if ten & set(chosen_classes(s, lists, 100)))
    run = run_study(val, tmp_path / "out", seed)
    recipe = study_recipe(seed, val)
    images = create_source(recipe.source).select(recipe)
    assert [im.locator for im in images] == [path for path, _ in run.inverted]
    items = [i for shard in make_shards(recipe, images) for i in shard.items if i.severity]
    assert sorted(i.prompt for i in items) == sorted(p for d in lists.domains for v in run.logs[d].values()
                                                     for p in v if p != "N/A")


def test_loading_a_pipeline_draws_nothing(tiny_sd):
    """Between random.seed and the first draw the study loads Stable Diffusion: that draws nothing from `random`
    (with the diffusers installed here), so the shim above leaves the sequence as the study's run had it."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    random.seed(10)
    state = random.getstate()
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
                              clip_sample=False, set_alpha_to_one=False)
    StableDiffusionPipeline.from_pretrained(tiny_sd, scheduler=scheduler, safety_checker=None).to("cpu")
    assert random.getstate() == state


# -- the lists are the study's ---------------------------------------------------------------------------------------
def test_the_shipped_lists_are_the_studys():
    lists = load_lists()
    sub_classes = study_module("utils/list_subclass.py")["sub_classes"]
    assert list(lists.sub_classes) == list(sub_classes)  # the order of the draws
    assert {k: list(v) for k, v in lists.sub_classes.items()} == sub_classes
    prompts = study_module("utils/prompts.py")["PROMPTS"]
    assert {d: {s: list(t) for s, t in per.items()} for d, per in lists.prompts.items()} == prompts
    assert lists.class_names == study_module("utils/imagenet_list.py")["IMAGENET_DIC"]
    tree = ast.parse(fixture_text("generate_data.py"))
    constants = {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                 for t in n.targets if isinstance(t, ast.Name) and t.id in ("IMG_EXTENSIONS", "colors")}
    assert list(lists.colors) == constants["colors"] and list(lists.image_extensions) == constants["IMG_EXTENSIONS"]
    find_classes = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "find_classes")
    quotas = next(ast.literal_eval(n.value) for n in ast.walk(find_classes) if isinstance(n, ast.Assign)
                  and getattr(n.targets[0], "id", "") == "num_class_per_sub_class")
    assert lists.quotas == quotas and sum(quotas.values()) == lists.num_classes == 100
    main = next(n for n in tree.body if isinstance(n, ast.If))
    domains = next(ast.literal_eval(n.value) for n in main.body if isinstance(n, ast.Assign)
                   and getattr(n.targets[0], "id", "") == "domains")
    assert list(lists.domains) == domains  # the main block's order, not the module-level list's
    readme = (FIXTURE / "README.md").read_text()
    assert lists.commit in readme and lists.code.startswith("https://github.com/ckoorosh/RobuText@")
    header = (Path(load_lists().file)).read_text().split("\nsource:")[0]
    assert "Copyright (c) 2023 Mohammadreza Mofayezi" in header and lists.commit in header


def test_the_fixture_is_the_studys_code():
    """With the study's repository at hand (ROBUTEXT_REPO: a clone or a bare mirror), the fixture is its files."""
    import subprocess

    repo = os.environ.get("ROBUTEXT_REPO")
    if not repo or not Path(repo).exists():
        pytest.skip("set ROBUTEXT_REPO to a clone of github.com/ckoorosh/RobuText to compare the fixture with it")
    commit = load_lists().commit
    for name in (*STUDY_FILES, "LICENSE"):
        there = subprocess.run(["git", "-C", repo, "show", f"{commit}:{name}"], capture_output=True, check=True).stdout
        here = (FIXTURE / (name if name == "LICENSE" else f"{name}.txt")).read_bytes()
        assert here == there, name


# -- the plan ------------------------------------------------------------------------------------------------------
def test_plan_of_the_study(capsys, val):
    from builder.cli import main

    assert main(["plan", "--recipe", "study", "--throughput", "100"]) == 0
    out, err = capsys.readouterr()
    assert "source cannot be listed here" in err
    assert "imagenet-tc-study 0.1.0: 1000 source images, 5100 rows (4100 edits)" in out
    assert "UNet work (p2p-nulltext, 50 steps, batch 8): 1,100,000 rows" in out
    assert "GPU-hours at 100 UNet rows/s: 5.83" in out
    assert main(["plan", "--recipe", "study", "--source", str(val), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["images"], summary["rows"], summary["edits"]) == (1000, 5100, 4100)
    assert summary["by_domain"] == {"original": 1000, "drawing": 1000, "weather": 1000, "color": 1000,
                                    "context": 750, "texture": 350}
    assert summary["unet_evaluations"] == 1_100_000 and "gpu_hours" not in summary


def test_plan_without_the_folder_counts_as_with_it(val):
    from builder.planning.plan import assumed_images

    recipe = study_recipe(10, val)
    real = summarize(recipe, make_shards(recipe, create_source(recipe.source).select(recipe)))
    assumed = summarize(recipe, make_shards(recipe, assumed_images(recipe)))
    for key in ("images", "rows", "edits", "by_group", "by_domain", "unet_evaluations", "unet_backward_rows"):
        assert real[key] == assumed[key], key


# -- the build, on the tiny models -----------------------------------------------------------------------------
def test_build_records_the_studys_settings(val, tmp_path):
    """The study's last image built end to end with `--source` (one shard of 1000): its prompts, the editor's
    settings and the study's in every row, the original at its own size, every image a JPEG at quality 85, 4:2:0."""
    import pyarrow.parquet as pq

    from builder.cli import main

    raw = yaml.safe_load((RECIPES_DIR / "study.yaml").read_text())
    raw["source"]["path"] = "/nowhere"
    raw["editor"].update(model="tiny:sd", steps=2, params={**raw["editor"]["params"], "inner_steps": 2})
    raw["output"].update(resolution=32, shard_size=6)  # one image per shard
    raw["qc"] = {"model": "tiny:clip", "label_rank_max": 1000, "edit_direction_min": -1.0, "ssim_min": 0.0}
    recipe = tmp_path / "study.yaml"
    recipe.write_text(yaml.safe_dump(raw, sort_keys=False))
    out = tmp_path / "build"
    assert main(["build", "--recipe", str(recipe), "--source", str(val), "--out", str(out), "--no-progress",
                 "--num-shards", "1000", "--shard-index", "999"]) == 0
    rows = [r for f in sorted((out / "shards").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    images = create_source(SourceSpec("study", str(val))).select(study_recipe(10, val))
    built = {r["source_id"] for r in rows}
    assert built == {images[999].source_id}
    reference = io.BytesIO()
    Image.new("RGB", (16, 16)).save(reference, "JPEG", quality=85)
    tables = Image.open(reference).quantization
    for image in images[999:]:
        mine = [r for r in rows if r["source_id"] == image.source_id]
        assert {(r["domain"], r["prompt"]) for r in mine if r["severity"]} == \
            {(p.domain, p.text) for p in image.prompts}
        assert {r["source_prompt"] for r in mine} == {image.source_prompt}
        for row in mine:
            params = json.loads(row["edit_parameters"])
            assert params["study"] == {"recipe": "imagenet-tc-study", "recipe_version": "0.1.0", "prompts": "study",
                                       "code": load_lists().code, "seed": 10,
                                       "sub_class": load_lists().sub_class_of(image.wnid),
                                       "stored": {"format": "jpeg", "jpeg_quality": 85, "jpeg_subsampling": "4:2:0",
                                                  "originals": "source"}}
            stored = Image.open(io.BytesIO(row["image"]["bytes"]))
            assert stored.format == "JPEG" and stored.quantization == tables
            assert stored.layer[0][1:3] == (2, 2)  # luma sampled 2x2: 4:2:0
            if row["severity"] == 0:
                assert stored.size == Image.open(image.locator).size == (8, 8)  # the source's size, not 32
                continue
            assert stored.size == (32, 32)
            assert (row["editor"], row["steps"], row["guidance"]) == ("p2p-nulltext", 2, 7.5)
            assert (params["cross_replace_steps"], params["self_replace_steps"]) == (0.8, 0.4)
            assert (params["local_blend_words"], params["p2p_mode"], params["inversion"]) == ([], "refine",
                                                                                               "null-text")
            assert params["null_text_inner_steps"] == 2 and row["severity"] == 2
    recorded = json.loads((out / "recipe.json").read_text())
    assert recorded["source"] == {**recorded["source"], "type": "study", "path": str(val), "prompts": "study"}
    assert recorded["name"] == "imagenet-tc-study"


def test_the_shipped_recipe_is_the_studys_editor():
    recipe = load_recipe("study")
    editor = recipe.editor
    assert (editor.name, editor.model, editor.steps, editor.guidance, editor.dtype) == \
        ("p2p-nulltext", "CompVis/stable-diffusion-v1-4", 50, 7.5, "float32")
    assert editor.params["cross_replace_steps"] == 0.8 and editor.params["self_replace_steps"] == 0.4
    assert not editor.params["local_blend_words"] and editor.params["p2p_mode"] == "refine"
    assert (recipe.seed, recipe.selection.images_per_class, recipe.severities) == (10, 10, (2,))
    assert (recipe.output.resolution, recipe.output.jpeg_quality, recipe.output.jpeg_subsampling,
            recipe.output.originals) == (512, 85, "4:2:0", "source")


# -- bad input -----------------------------------------------------------------------------------------------------
def test_a_folder_without_the_classes_is_refused(tmp_path):
    for name in ("n01440764", "n01443537", "tench"):
        (tmp_path / name).mkdir()
    recipe = study_recipe(10, tmp_path)
    with pytest.raises(LayoutError, match=r"998 of the 1000 class folders are missing \(n01484850, .* and 990 "
                                          r"more\); folders that are not ImageNet class ids: tench"):
        create_source(recipe.source).select(recipe)
    with pytest.raises(LayoutError, match="is not a folder"):
        create_source(SourceSpec("study", str(tmp_path / "nothing"))).select(recipe)


def test_train_style_names_and_empty_classes_are_refused(tmp_path):
    for cls in load_classes():
        (tmp_path / cls.wnid).mkdir()
    for i in range(12):
        Image.new("RGB", (8, 8)).save(tmp_path / "n01440764" / f"n01440764_{i}.JPEG")
    recipe = study_recipe(10, tmp_path)
    with pytest.raises(LayoutError) as refused:
        create_source(recipe.source).select(recipe)
    message = str(refused.value)
    assert "12 images are not named as validation images, ILSVRC2012_val_########.JPEG (n01440764/n01440764_0.JPEG" \
        in message and "is this the train folder" in message
    assert "999 classes have fewer than 10 images (n01443537 (0)," in message


def test_too_few_colour_images_are_refused(val, tmp_path, capsys):
    """A chosen class with fewer colour images than the study samples (the rest greyscale) is named."""
    chosen = chosen_classes(10, load_lists(), 100)[3]
    for folder in val.iterdir():
        if folder.name != chosen:
            (tmp_path / folder.name).symlink_to(folder)
    (tmp_path / chosen).mkdir()
    for i in range(12):
        Image.new("RGB" if i < 8 else "L", (8, 8)).save(tmp_path / chosen / f"ILSVRC2012_val_{i + 1:08d}.JPEG")
    recipe = study_recipe(10, tmp_path)
    with pytest.raises(LayoutError, match=rf"the study samples 10 colour images per class \(greyscale ones are "
                                          rf"skipped\) and 1 of its classes have fewer: {chosen} \(8 colour of 12\)"):
        create_source(recipe.source).select(recipe)
    from builder.cli import main

    assert main(["build", "--recipe", "study", "--source", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    assert f"{chosen} (8 colour of 12)" in capsys.readouterr().err


def test_recipe_checks(tmp_path):
    from imagenet_textcorrupt.errors import DataFileError

    from builder.planning.recipes import parse_recipe

    raw = yaml.safe_load((RECIPES_DIR / "study.yaml").read_text())
    raw["selection"]["classes"] = ["n01440764"]
    with pytest.raises(DataFileError, match="selection.classes: the study's source chooses its own classes"):
        parse_recipe(raw, "study.yaml")
    raw = yaml.safe_load((RECIPES_DIR / "study.yaml").read_text())
    raw["output"]["jpeg_subsampling"] = "4:2:2"
    with pytest.raises(DataFileError, match="output.jpeg_subsampling"):
        parse_recipe(raw, "study.yaml")
    del raw["source"]["path"]
    raw["output"]["jpeg_subsampling"] = "4:2:0"
    with pytest.raises(DataFileError, match="source.path: is required for a source of type study"):
        parse_recipe(raw, "study.yaml")
    v1 = load_recipe("v1").to_dict()["output"]  # recipes at the defaults record what they recorded before
    assert set(v1) == {"resolution", "format", "jpeg_quality", "shard_size"}
