"""The build loop end to end, offline: sources, plan, rejects, resume after SIGKILL, splits across processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from builder.generation.generate import Builder, BuildError, my_shards
from builder.planning.plan import make_shards, summarize
from builder.planning.recipes import RECIPES_DIR, load_recipe, parse_recipe
from builder.planning.sources import create_source

QUICK = {"prompts": {"version": "1.1.0", "domains": ["color", "weather"], "templates_per_domain": 1},
         "severities": [1, 2],
         "editor": {"name": "p2p-direct", "model": "tiny:sd", "dtype": "float32", "steps": 4, "batch_size": 4},
         "output": {"resolution": 64, "format": "png", "shard_size": 5},
         "qc": {"model": "tiny:clip", "label_rank_max": 1000, "edit_direction_min": -1.0, "ssim_min": 0.0}}


def write_recipe(folder: Path, name: str = "quick", **changes) -> Path:
    raw = yaml.safe_load((RECIPES_DIR / "smoke.yaml").read_text())
    raw.pop("imagenet_c")  # the text-guided build machinery only; ImageNet-C rows are tested with the smoke build
    raw.update(QUICK)
    raw["name"] = name
    raw.update(changes)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_build(recipe: Path, out: Path, *extra: str, env: dict | None = None, launcher: list[str] | None = None,
              wait: bool = True):
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    command = (launcher or [sys.executable, "-m"]) + ["builder", "build", "--recipe", str(recipe), "--out",
                                                        str(out), "--no-progress", *extra]
    if not wait:
        return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "shards").glob("shard-*.parquet"))}


@pytest.fixture(scope="module")
def quick_recipe(tmp_path_factory):
    return write_recipe(tmp_path_factory.mktemp("recipes"))


@pytest.fixture(scope="module")
def reference(quick_recipe, tmp_path_factory):
    """An uninterrupted single-process build of the quick recipe (5 sample photos, 5 shards)."""
    out = tmp_path_factory.mktemp("reference") / "build"
    run_build(quick_recipe, out)
    return out


def test_plan_is_deterministic_and_counts(quick_recipe):
    recipe = load_recipe(quick_recipe)
    images = create_source(recipe.source).select(recipe)
    first, second = make_shards(recipe, images), make_shards(recipe, images)
    assert first == second
    summary = summarize(recipe, first, throughput=100.0)
    assert (summary["images"], summary["rows"], summary["edits"], summary["shards"]) == (5, 25, 20, 5)
    assert summary["by_domain"] == {"original": 5, "color": 10, "weather": 10}
    assert summary["by_severity"] == {0: 5, 1: 10, 2: 10}
    # p2p-direct, 4 steps: per image one inversion row per step, then one pass per step: two rows per lane (2
    # prompts; severities 1 and 2 share their path until severity 2 stops injecting self-attention at step 1)
    # and the source's conditional row while edits take its maps (cross-attention until int(0.8 * (4 + 1)) = 4,
    # every step, as prompt-to-prompt rounds it)
    assert summary["unet_evaluations"] == 5 * (4 + (2 * 2 + 1) + (2 * 4 + 1) * 3)
    assert (summary["unet_calls"], summary["unet_backward_rows"]) == (5 * (4 + 4), 0)
    assert summary["gpu_hours"] == pytest.approx(summary["unet_evaluations"] / 100 / 3600)
    # the prompt-to-prompt editors side by side: Direct Inversion under both names runs what p2p-direct runs;
    # null-text adds per image and step its conditional row, 10 inner steps (forward and backward) and the final
    # unconditional row
    costs = summary["prompt_to_prompt_editors"]
    assert list(costs) == ["p2p-direct", "p2p-directinv", "p2p-nulltext"]
    assert costs["p2p-direct"] == costs["p2p-directinv"]
    assert costs["p2p-directinv"]["unet_rows"] == summary["unet_evaluations"]
    assert costs["p2p-nulltext"]["unet_rows"] == summary["unet_evaluations"] + 5 * 4 * (10 + 2)
    assert costs["p2p-nulltext"]["unet_backward_rows"] == 5 * 4 * 10
    assert costs["p2p-nulltext"]["backward_rows_per_edit"] == 5 * 4 * 10 / 20
    assert costs["p2p-nulltext"]["forward_equivalents"] == costs["p2p-nulltext"]["unet_rows"] + 2 * 5 * 4 * 10
    assert costs["p2p-nulltext"]["gpu_hours"] == pytest.approx(costs["p2p-nulltext"]["forward_equivalents"] / 360000)
    ids = [item.id for shard in first for item in shard.items]
    assert len(ids) == len(set(ids))
    import re

    pattern = re.compile(r"^sample-[a-z]+(-(color|weather)-p\d{3}-s[12])?$")
    assert all(pattern.match(i) for i in ids), ids
    seeds = {item.id: item.seed for shard in first for item in shard.items}
    other = parse_recipe({**yaml.safe_load(quick_recipe.read_text()), "seed": 1}, "x.yaml")
    reseeded = {i.id: i.seed for s in make_shards(other, images) for i in s.items if i.id in seeds}
    assert all(reseeded[i] != seeds[i] for i in reseeded)


def test_plan_command(quick_recipe, capsys):
    from builder.cli import main

    assert main(["plan", "--recipe", str(quick_recipe), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 25
    assert main(["plan", "--recipe", str(quick_recipe)]) == 0
    out = capsys.readouterr().out
    assert "5 source images, 25 rows (20 edits), 5 shards" in out and "pass --throughput" in out
    assert "prompt-to-prompt editors on this recipe" in out
    assert re.search(r"p2p-nulltext +420 +21\.0 +200 +10\.0 +820\n", out), out


def test_reference_build_is_a_loadable_dataset(reference):
    from datasets import load_dataset

    from imagenet_textcorrupt.classes import class_names

    manifest = json.loads((reference / "manifest.json").read_text())
    assert manifest["complete"] and manifest["rows"] == 25 and manifest["rejects"] == 0
    ds = load_dataset("parquet", data_files=str(reference / "shards" / "*.parquet"), split="train")
    assert len(ds) == 25
    assert ds.features["label"].names == class_names()
    originals = [row for row in ds if row["domain"] == "original"]
    assert len(originals) == 5 and all(row["severity"] == 0 and row["id"] == row["source_id"] for row in originals)
    cat = next(row for row in ds if row["id"].startswith("sample-chelsea-color"))
    assert cat["label"] == 281 and cat["wnid"] == "n02123045" and cat["group"] == "animals"
    assert cat["image"].size == (64, 64) and cat["editor"] == "p2p-direct" and cat["model"].startswith("local:")
    assert cat["prompt"].endswith("tabby cat") and cat["source_prompt"] == "a tabby cat"
    assert json.loads(cat["edit_parameters"])["cross_replace_steps"] == 0.8
    for entry in manifest["shards"]:
        import hashlib

        assert hashlib.sha256((reference / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]


def test_sigkill_then_resume_gives_identical_shards(quick_recipe, reference, tmp_path):
    out = tmp_path / "build"
    process = run_build(quick_recipe, out, wait=False)
    deadline = time.time() + 300
    while not list((out / "done").glob("*.json")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(list((out / "done").glob("*.json")))
    assert 1 <= finished < 5, "the kill should land mid-run"
    # nothing half-written under a final name: every shard on disk is whole (readable parquet)
    import pyarrow.parquet as pq

    for shard in (out / "shards").glob("shard-*.parquet"):
        pq.read_metadata(shard)
    resumed = run_build(quick_recipe, out)
    assert f"{5 - finished} shards built, {finished} already done" in resumed.stdout
    assert shard_bytes(out) == shard_bytes(reference)


def test_a_resume_rebuilds_a_finished_shard_whose_bytes_changed(quick_recipe, reference, tmp_path):
    """A finished shard whose parquet no longer has its done entry's sha256 (here: another shard's bytes in its place,
    still a readable parquet file) is built again, equal to the uninterrupted run's; the others are not rewritten."""
    out = tmp_path / "build"
    shutil.copytree(reference, out)
    swapped = out / "shards" / "shard-00001.parquet"
    swapped.write_bytes((out / "shards" / "shard-00003.parquet").read_bytes())
    untouched = {p.name: _file_identity(p) for p in (out / "shards").glob("*.parquet") if p != swapped}
    resumed = run_build(quick_recipe, out)
    assert "1 shards built, 4 already done" in resumed.stdout
    assert shard_bytes(out) == shard_bytes(reference)
    assert len(untouched) == 4 and {n: _file_identity(out / "shards" / n) for n in untouched} == untouched


def _file_identity(path: Path) -> tuple[int, int]:
    """Inode and modification time: an atomic rewrite (a new file renamed over the old) changes both."""
    status = path.stat()
    return status.st_ino, status.st_mtime_ns


def test_two_processes_equal_one(quick_recipe, reference, tmp_path):
    out = tmp_path / "build"
    accelerate = str(Path(sys.executable).parent / "accelerate")
    launcher = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517", "-m"]
    done = run_build(quick_recipe, out, launcher=launcher)
    assert "[process 0/2]" in done.stdout and "[process 1/2]" in done.stdout
    assert shard_bytes(out) == shard_bytes(reference)
    assert json.loads((out / "manifest.json").read_text())["complete"]


def test_job_array_union_equals_one_run(quick_recipe, reference, tmp_path):
    out = tmp_path / "build"
    for index in range(2):
        run_build(quick_recipe, out, "--num-shards", "2", "--shard-index", str(index))
    assert shard_bytes(out) == shard_bytes(reference)


@pytest.mark.parametrize(("total", "jobs", "world"), [(7, 1, 1), (7, 2, 1), (7, 1, 3), (10, 3, 2), (2, 4, 2)])
def test_every_split_covers_each_shard_once(total, jobs, world):
    taken = [s for job in range(jobs) for rank in range(world) for s in my_shards(total, jobs, job, world, rank)]
    assert sorted(taken) == list(range(total))


def test_another_recipe_is_refused(quick_recipe, reference, tmp_path):
    other = write_recipe(tmp_path, name="other")
    builder = Builder(load_recipe(other), reference, progress=False)
    with pytest.raises(BuildError, match="holds a build of another recipe"):
        builder.claim_folder()


# -- sources and rejects -------------------------------------------------------------------------------------------

def _photo(name):
    from skimage import data

    return Image.fromarray(getattr(data, name)())


@pytest.fixture(scope="module")
def imagefolder(tmp_path_factory):
    """val/<wnid>/*.JPEG with good photos and every kind of bad input."""
    root = tmp_path_factory.mktemp("imagenet") / "val"
    cat, coffee = root / "n02123045", root / "n07920052"
    cat.mkdir(parents=True)
    coffee.mkdir()
    _photo("chelsea").save(cat / "a_good.JPEG", quality=90)
    _photo("chelsea").convert("CMYK").save(cat / "b_cmyk.JPEG", quality=90)
    _photo("chelsea").convert("L").save(cat / "c_gray.JPEG", quality=90)
    (cat / "d_zero.JPEG").write_bytes(b"")
    (cat / "e_corrupt.JPEG").write_bytes(os.urandom(2000))
    whole = (cat / "a_good.JPEG").read_bytes()
    (cat / "f_truncated.JPEG").write_bytes(whole[: len(whole) // 3])
    _photo("chelsea").resize((1200, 1200)).save(cat / "g_huge.JPEG", quality=50)
    _photo("coffee").save(coffee / "a_coffee.JPEG", quality=90)
    (root / "not_a_class").mkdir()
    return root


def test_bad_inputs_become_rejects_with_reasons(imagefolder, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500_000)  # 1200x1200 > 2x this: a decompression bomb
    recipe_path = write_recipe(tmp_path, source={"type": "imagefolder", "path": str(imagefolder)},
                               selection={"classes": ["n02123045", "n07920052"], "images_per_class": 10},
                               output={"resolution": 64, "format": "jpeg", "shard_size": 50},
                               prompts={"version": "1.1.0", "domains": ["color"], "templates_per_domain": 1},
                               severities=[1])
    recipe = load_recipe(recipe_path)
    selected = create_source(recipe.source).select(recipe)
    assert [im.source_id for im in selected] == ["a_good", "b_cmyk", "c_gray", "d_zero", "e_corrupt",
                                                 "f_truncated", "g_huge", "a_coffee"]
    summary = Builder(recipe, tmp_path / "build", progress=False).run()
    rejects = [json.loads(line) for line in (tmp_path / "build" / "rejects.jsonl").read_text().splitlines()]
    reasons = {r["source_id"]: r["reason"] for r in rejects}
    assert set(reasons) == {"d_zero", "e_corrupt", "f_truncated", "g_huge"}
    assert "cannot read the image" in reasons["d_zero"] or "UnidentifiedImageError" in reasons["d_zero"]
    assert "DecompressionBombError" in reasons["g_huge"]
    assert "truncated" in reasons["f_truncated"].lower() or "broken" in reasons["f_truncated"].lower()
    assert summary.rejects == 4 * 2 and summary.rows == 4 * 2  # CMYK and grayscale are converted, not rejected
    from datasets import load_dataset

    ds = load_dataset("parquet", data_files=str(tmp_path / "build" / "shards" / "*.parquet"), split="train")
    assert sorted(set(ds["source_id"])) == ["a_coffee", "a_good", "b_cmyk", "c_gray"]
    assert all(image.mode == "RGB" for image in ds["image"])


def test_flat_sources(tmp_path):
    from scipy.io import savemat

    from builder.planning.recipes import SourceSpec

    folder = tmp_path / "val"
    folder.mkdir()
    for n in (1, 2, 3):
        _photo("coffee").resize((32, 32)).save(folder / f"ILSVRC2012_val_{n:08d}.JPEG")
    csv = tmp_path / "LOC_val_solution.csv"
    csv.write_text("ImageId,PredictionString\nILSVRC2012_val_00000001,n07920052 1 2 3 4\n"
                   "ILSVRC2012_val_00000002,n02123045 1 2 3 4\nILSVRC2012_val_00000003,n07920052 5 6 7 8\n")
    listing = create_source(SourceSpec("flat", str(folder), str(csv))).by_class()
    assert {w: [im.source_id for im in ims] for w, ims in listing.items()} == {
        "n07920052": ["ILSVRC2012_val_00000001", "ILSVRC2012_val_00000003"], "n02123045": ["ILSVRC2012_val_00000002"]}
    # the devkit numbers classes in its own order (id 1 is the kit fox), mapped by meta.mat
    synsets = np.zeros(3, dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("num_children", "O")])
    synsets[0] = (1, "n02119789", 0)
    synsets[1] = (2, "n07920052", 0)
    synsets[2] = (1001, "n00001740", 5)
    meta = tmp_path / "meta.mat"
    savemat(meta, {"synsets": synsets})
    truth = tmp_path / "ILSVRC2012_validation_ground_truth.txt"
    truth.write_text("2\n1\n2\n")
    listing = create_source(SourceSpec("flat", str(folder), str(truth), str(meta))).by_class()
    assert sorted(listing) == ["n02119789", "n07920052"] and len(listing["n07920052"]) == 2


def test_hub_source_streams_a_local_dataset(tmp_path):
    from datasets import ClassLabel, Dataset, Features
    from datasets import Image as ImageFeature

    from builder.planning.recipes import SourceSpec
    from imagenet_textcorrupt.classes import class_names

    images = [_photo("coffee").resize((32, 32)), _photo("chelsea").resize((32, 32))] * 3
    labels = [967, 281] * 3
    features = Features({"image": ImageFeature(), "label": ClassLabel(names=class_names())})
    Dataset.from_dict({"image": images, "label": labels}, features=features).to_parquet(
        str(tmp_path / "data" / "validation-00000-of-00001.parquet"))
    recipe = load_recipe(write_recipe(tmp_path, source={"type": "hub", "dataset": str(tmp_path)},
                                      selection={"classes": "all", "images_per_class": 2}))
    source = create_source(recipe.source)
    selected = source.select(recipe)
    assert [(im.source_id, im.wnid) for im in selected] == [
        ("validation-0000000", "n07920052"), ("validation-0000001", "n02123045"),
        ("validation-0000002", "n07920052"), ("validation-0000003", "n02123045")]
    opened = list(source.iter_open(selected[1:3]))
    assert [im.source_id for im, _ in opened] == ["validation-0000001", "validation-0000002"]
    assert all(isinstance(picture, Image.Image) and picture.size == (32, 32) for _, picture in opened)


def test_smoke_recipe_end_to_end(smoke_build):
    """The shipped smoke recipe, as a newcomer runs it: five sample photos, every domain, three severities, and 14
    ImageNet-C corruptions at three severities: per photo 1 + 15 + 42 rows, one photo per shard of 32."""
    manifest = json.loads((smoke_build / "manifest.json").read_text())
    assert manifest["complete"] and manifest["rows"] == 5 * 58 and manifest["rejects"] == 0
    assert manifest["shards_total"] == 5


def test_plan_without_the_source_at_hand(capsys):
    """The v1 recipe's ImageNet folder is not on this machine: the plan assumes K images per class."""
    from builder.cli import main as builder_main

    assert builder_main(["plan", "--recipe", "v1", "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert "assuming 10 images for every selected class" in captured.err
    assert summary["images"] == 10000 and summary["by_domain"]["original"] == 10000
    # two prompts per domain per image, three severities; no color for the 10 landscape classes and no texture
    # for velvet and wool (10 images each)
    assert summary["edits"] == 3 * 2 * (5 * 10000 - (10 + 2) * 10)


def test_recipe_prompt_file_drives_the_severities(tmp_path):
    """A recipe's own prompt hierarchy file decides what severity 1 means for its editor."""
    import pyarrow.parquet as pq

    from imagenet_textcorrupt.resources import PROMPTS_FILE, data_path

    prompts_file = tmp_path / "prompts.yaml"
    prompts_file.write_text(data_path(PROMPTS_FILE).read_text().replace(
        "1: {cross_replace_steps: 0.8, self_replace_steps: 0.6}", "1: {cross_replace_steps: 0.5, self_replace_steps: 0.1}"))
    recipe = write_recipe(tmp_path, prompts={"version": "1.1.0", "file": str(prompts_file), "domains": ["color"],
                                             "templates_per_domain": 1},
                          selection={"classes": ["n07920052"], "images_per_class": 1}, severities=[1])
    out = tmp_path / "build"
    Builder(load_recipe(recipe), out, progress=False).run()
    rows = pq.read_table(next((out / "shards").glob("*.parquet"))).to_pylist()
    edit = next(r for r in rows if r["severity"] == 1)
    assert json.loads(edit["edit_parameters"])["cross_replace_steps"] == 0.5
    assert json.loads(edit["edit_parameters"])["self_replace_steps"] == 0.1


# -- pinned models, work counts, upsampling, determinism -------------------------------------------------------------

def test_models_are_pinned_and_a_changed_folder_is_refused(tmp_path):
    from builder.planning.pins import PinError, folder_identity
    from builder.micro.tiny_models import save_tiny_pipeline

    model = save_tiny_pipeline(tmp_path / "model", "sd")
    recipe = load_recipe(write_recipe(tmp_path, editor={**QUICK["editor"], "model": str(model)},
                                      selection={"classes": ["n07920052"], "images_per_class": 1}, severities=[1]))
    out = tmp_path / "build"
    Builder(recipe, out, progress=False).run()
    pins = json.loads((out / "models.json").read_text())
    assert set(pins) == {"editor", "qc"}
    assert pins["editor"]["identity"] == folder_identity(model) and pins["editor"]["commit"] is None
    assert pins["qc"]["model"] == "tiny:clip" and pins["qc"]["identity"].startswith("local:")
    import pyarrow.parquet as pq

    rows = pq.read_table(next((out / "shards").glob("*.parquet"))).to_pylist()
    assert {r["model"] for r in rows if r["severity"]} == {pins["editor"]["identity"]}
    save_tiny_pipeline(model, "sd", seed=1)  # the folder's weights change under the build
    with pytest.raises(PinError, match=r"the editor model folder .* changed since this build started \(pinned "
                                       r"local:[0-9a-f]{16}, now local:[0-9a-f]{16}\)"):
        Builder(recipe, out, progress=False).run()


@pytest.mark.parametrize("editor", [
    {"name": "p2p-direct", "batch_size": 3},
    {"name": "p2p-nulltext", "batch_size": 8, "params": {"inner_steps": 2, "early_stop": -1.0}},
])
def test_plan_counts_the_unet_rows_a_build_runs(tmp_path, editor):
    recipe = load_recipe(write_recipe(tmp_path, editor={**QUICK["editor"], **editor}, severities=[1, 2, 3],
                                      selection={"classes": ["n07920052", "n02123045"], "images_per_class": 1}))
    import torch

    builder = Builder(recipe, tmp_path / "build", progress=False)
    rows, backward = [], []

    def count(module, args, kwargs):
        rows.append(args[0].shape[0])
        if torch.is_grad_enabled() and kwargs["encoder_hidden_states"].requires_grad:
            backward.append(args[0].shape[0])

    builder.editor.unet.register_forward_pre_hook(count, with_kwargs=True)
    builder.run()
    planned = summarize(recipe, make_shards(recipe, create_source(recipe.source).select(recipe)))
    assert planned["unet_evaluations"] == pytest.approx(sum(rows), rel=0.15)
    assert planned["unet_calls"] == pytest.approx(len(rows), rel=0.15)
    assert planned["unet_backward_rows"] == sum(backward)
    assert planned["unet_evaluations"] == sum(rows)  # exact here: no null-text step stops early


def test_a_small_source_is_upsampled_and_says_so(tmp_path):
    import pyarrow.parquet as pq

    root = tmp_path / "val" / "n07920052"
    root.mkdir(parents=True)
    _photo("coffee").resize((48, 48)).save(root / "a_small.JPEG", quality=95)
    _photo("coffee").save(root / "b_large.JPEG", quality=95)
    recipe = load_recipe(write_recipe(tmp_path, source={"type": "imagefolder", "path": str(tmp_path / "val")},
                                      selection={"classes": ["n07920052"], "images_per_class": 2}, severities=[1]))
    Builder(recipe, tmp_path / "build", progress=False).run()
    rows = [r for shard in sorted((tmp_path / "build" / "shards").glob("*.parquet"))
            for r in pq.read_table(shard).to_pylist()]
    upsampled = {(r["source_id"], r["severity"]): json.loads(r["edit_parameters"])["upsampled"] for r in rows}
    assert upsampled == {("a_small", 0): True, ("a_small", 1): True, ("b_large", 0): False, ("b_large", 1): False}


def test_gpu_determinism_settings():
    """What a CUDA build asks of PyTorch (set in a subprocess: the settings are process-wide)."""
    code = ("import json, torch\n"
            "from builder.generation.determinism import make_deterministic, optimisation_attention\n"
            "assert make_deterministic('cpu') == {} and not torch.are_deterministic_algorithms_enabled()\n"
            "settings = make_deterministic('cuda')\n"
            "with optimisation_attention('cuda'):\n"
            "    backends = [torch.backends.cuda.flash_sdp_enabled(), torch.backends.cuda.mem_efficient_sdp_enabled(),"
            " torch.backends.cuda.math_sdp_enabled()]\n"
            "print(json.dumps({**settings, 'inside': backends, 'after': torch.backends.cuda.flash_sdp_enabled()}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"})
    assert done.returncode == 0, done.stderr[-2000:]
    settings = json.loads(done.stdout.strip().splitlines()[-1])
    assert settings == {"CUBLAS_WORKSPACE_CONFIG": ":4096:8", "deterministic_algorithms": True,
                        "cudnn.deterministic": True, "cudnn.benchmark": False, "inside": [False, False, True],
                        "after": True}
