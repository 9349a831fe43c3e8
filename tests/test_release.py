"""Release assembly, the generated card, and validation, on a small real build."""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from builder.cli import main
from builder.release.benchmark import eval_yaml_problems
from builder.release.card import size_category, source_datasets
from builder.release.assemble import ReleaseError, assemble
from builder.release.validate import card_header, data_file_problems, validate


@pytest.fixture(scope="module")
def build(smoke_build):
    """The smoke recipe's build: 5 photos, 290 rows (58 per photo: original, 15 edits, 42 ImageNet-C) in 4
    groups."""
    return smoke_build


@pytest.fixture(scope="module")
def release(build, tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "v0.0.1"
    with pytest.MonkeyPatch.context() as patch:  # small row groups and files, so rollover happens at this size
        patch.setattr("builder.generation.parquet_files.ROW_GROUP_BYTES", ROW_GROUP_BYTES)
        return assemble(build, out, target_bytes=60_000)


ROW_GROUP_BYTES = 20_000


def test_layout_and_counts(release):
    summary = json.loads((release / "release.json").read_text())
    assert set(summary["configs"]) == {"all", "animals", "food", "vehicles", "devices"}
    assert summary["configs"]["all"]["rows"] == 290
    assert sum(c["rows"] for n, c in summary["configs"].items() if n != "all") == 290
    assert summary["configs"]["vehicles"]["by_domain"]["original"] == 2  # rocket and motorcycle, with their edits
    for name, config in summary["configs"].items():
        if name == "all":  # the union of the groups' files: no row is stored twice
            assert sorted(config["files"]) == sorted(f for n, c in summary["configs"].items() if n != "all"
                                                     for f in c["files"])
            continue
        files = config["files"]
        assert files == [f"data/{name}/test-{i:05d}-of-{len(files):05d}.parquet" for i in range(len(files))]
        for file in files:
            _check_written_as_datasets_writes(release / file)
    assert len(summary["configs"]["vehicles"]["files"]) > 1  # rolled over at the target size
    assert not (release / "data" / "all").exists()
    assert not [p for p in release.rglob(".*")]  # no temporary files left


def _check_written_as_datasets_writes(path):
    """A release file as `datasets` writes parquet: image bytes uncompressed and PLAIN, the other columns snappy
    with dictionaries, a page index, content-defined chunking recorded, row groups closed by bytes."""
    parquet = pq.ParquetFile(path)
    metadata = parquet.metadata
    assert json.loads(metadata.metadata[b"content_defined_chunking"]) == {
        "min_chunk_size": 256 * 1024, "max_chunk_size": 1024 * 1024, "norm_level": 0}
    for group in range(metadata.num_row_groups):
        columns = {metadata.row_group(group).column(i).path_in_schema: metadata.row_group(group).column(i)
                   for i in range(metadata.num_columns)}
        for name, column in columns.items():
            assert column.has_offset_index, name  # the page index; pyarrow keeps no min/max of image bytes
            assert column.has_column_index or name == "image.bytes", name
            if name.startswith("image."):
                assert column.compression == "UNCOMPRESSED" and "PLAIN" in column.encodings, name
                assert not column.has_dictionary_page, name
            else:
                assert column.compression == "SNAPPY", name
                assert column.has_dictionary_page or column.physical_type == "BOOLEAN", name  # no dictionary of bits
    # a group is closed once its rows reach ROW_GROUP_BYTES (in arrow's measure): all but the last reach it
    sizes = [parquet.read_row_group(g).nbytes for g in range(metadata.num_row_groups)]
    assert all(size >= ROW_GROUP_BYTES for size in sizes[:-1]), sizes


def test_row_groups_close_where_datasets_closes_them():
    from datasets import config
    from datasets.utils.py_utils import convert_file_size_to_int

    from builder.generation import parquet_files

    assert parquet_files.ROW_GROUP_BYTES == convert_file_size_to_int(config.MAX_ROW_GROUP_SIZE) == 100_000_000


def test_card(release):
    header = card_header(release / "README.md")
    assert header["license"] == "other" and header["license_link"] == "LICENSE" and header["extra_gated_fields"]
    assert header["license_name"] == "imagenet-terms-of-access"
    terms = (release / "LICENSE").read_text()
    title, underline = terms.splitlines()[:2]
    assert title == "ImageNet-TC v0.0.1: licence and terms of use" and underline == "=" * len(title)
    assert "uses the data only for non-commercial research and educational purposes" in terms
    models = [m for m in json.loads((release / "release.json").read_text())["models"] if m.startswith("local:")]
    assert models and f"The edits were generated with these models:\n`{models[0]}`." in terms
    configs = {c["config_name"]: c for c in header["configs"]}
    assert configs["all"]["default"] is True
    assert configs["animals"]["data_files"] == [{"split": "test", "path": "data/animals/test-*.parquet"}]
    assert configs["all"]["data_files"] == [{"split": "test", "path": [  # the groups' files, never "hard"'s
        f"data/{g}/test-*.parquet" for g in ("animals", "devices", "food", "vehicles")]}]
    info = {i["config_name"]: i for i in header["dataset_info"]}
    assert info["food"]["splits"] == [{"name": "test", "num_bytes": info["food"]["dataset_size"], "num_examples": 58}]
    assert all("features" not in i for i in info.values())  # the parquet files carry them
    body = (release / "README.md").read_text()
    assert "| `vehicles` | 116 | 2 | 114 |" in body  # rows, originals, edits: measured
    assert "| 2 | cross_replace_steps 0.8, self_replace_steps 0.4 |" in body
    assert "- v0.0.1: first release of this dataset." in body
    assert "&id" not in body
    # nobody reviewed the smoke build: the card says so plainly, and there is no hard subset
    assert ("No human review of these edits has been done: the share of edits that still show their class is not "
            "known") in body
    summary = json.loads((release / "release.json").read_text())
    assert summary["review"] is None and summary["hard"] is None and "## The hard subset" not in body
    assert not (release / "reviews").exists()


def test_card_metadata_for_the_hub(release):
    header = card_header(release / "README.md")
    assert header["size_categories"] == ["n<1K"] and header["language"] == ["en"]
    assert header["task_categories"] == ["image-classification"]
    assert header["task_ids"] == ["multi-class-image-classification"]
    assert header["source_datasets"] == ["original"]  # the smoke recipe's scikit-image photos
    body = (release / "README.md").read_text()
    # the paper by its arXiv page (the Hub lists a dataset's arXiv links), cited in full
    assert "[Benchmarking Robustness to Text-Guided Corruptions](https://arxiv.org/abs/2304.02963)" in body
    for field in ("author        = {Mofayezi, Mohammadreza and Medghalchi, Yasamin}",
                  "booktitle     = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern "
                  "Recognition (CVPR) Workshops}", "year          = {2023}",
                  "url           = {https://arxiv.org/abs/2304.02963}", "@article{russakovsky2015imagenet,",
                  "@misc{imagenet_tc_v0_0_1,", "url          = {https://huggingface.co/datasets/<org>/imagenet-tc}"):
        assert field in body, field
    assert "## License" in body and "non-commercial research and educational purposes only" in body
    assert "## Access: the dataset is gated" in body and "`hf auth login`" in body and "HF_TOKEN" in body


# huggingface_hub's DatasetCardData lists these values (and "other"); datasets' size_categories.json the same
HUB_SIZE_CATEGORIES = ("n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B",
                       "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T")


@pytest.mark.parametrize("rows, category", [(0, "n<1K"), (999, "n<1K"), (1_000, "1K<n<10K"),
                                            (300_000, "100K<n<1M"), (3_000_000, "1M<n<10M"),
                                            (999_999_999, "100M<n<1B"), (1_000_000_000, "1B<n<10B"),
                                            (10**12 - 1, "100B<n<1T"), (10**12, "n>1T")])
def test_size_categories(rows, category):
    assert size_category(rows) == category
    assert category in HUB_SIZE_CATEGORIES


def test_source_datasets():
    assert source_datasets({"type": "imagefolder", "path": "/val"}) == ["extended|ILSVRC/imagenet-1k"]
    assert source_datasets({"type": "flat", "path": "/val"}) == ["extended|ILSVRC/imagenet-1k"]
    assert source_datasets({"type": "hub", "dataset": "ILSVRC/imagenet-1k"}) == ["extended|ILSVRC/imagenet-1k"]
    assert source_datasets({"type": "study", "path": "/val", "prompts": "study"}) == ["extended|ILSVRC/imagenet-1k"]


def test_eval_yaml_follows_the_benchmark_spec(release):
    spec = yaml.safe_load((release / "eval.yaml").read_text())
    assert list(spec) == ["name", "description", "evaluation_framework", "tasks"]
    assert spec["evaluation_framework"] == "imagenet-tc" and "edited images" in spec["description"]
    configs = json.loads((release / "release.json").read_text())["configs"]
    assert [t["id"] for t in spec["tasks"]] == ["all"] + sorted(c for c in configs if c != "all")
    assert all(t == {"id": t["id"], "config": t["id"], "split": "test"} for t in spec["tasks"])


def test_the_eval_ts_entry_we_propose():
    """builder/release/eval_ts_entry.ts is the entry of huggingface.js's EVALUATION_FRAMEWORKS we add by pull request:
    one key equal to its name and to eval.yaml's evaluation_framework, with a description and a URL, in eval.ts's
    layout (tabs), and a key the list does not already have."""
    from pathlib import Path

    import builder.release.card as card
    from hub_server.store import EVALUATION_FRAMEWORKS

    text = (Path(card.__file__).with_name(card.EVAL_TS_ENTRY)).read_text()
    match = re.fullmatch(r'\t([\w"-]+): \{\n\t\tname: "([\w-]+)",\n\t\tdescription:\n\t\t\t"([^"\n]+)",\n'
                         r'\t\turl: "(https://[^"\s]+)",\n\t\},\n', text)
    assert match, text
    key, name, description, url = match.groups()
    assert key.strip('"') == name == card.EVALUATION_FRAMEWORK and name not in EVALUATION_FRAMEWORKS
    assert description.startswith("ImageNet-TC ") and len(description) < 300
    assert url == "https://huggingface.co/datasets/<org>/imagenet-tc"  # the org is set when the PR is sent


@pytest.mark.parametrize("change, problem", [
    (lambda s: s.update(version="1.0.0"), "eval.yaml: version: not a key of the benchmark spec"),
    (lambda s: s["tasks"][0].update(metrics=["top1"]), "eval.yaml: tasks[0].metrics: not a key of a task"),
    (lambda s: s.pop("evaluation_framework"), "eval.yaml: evaluation_framework: missing"),
    (lambda s: s["tasks"][1].update(id="all"), "eval.yaml: tasks[1].id: 'all' is used twice"),
    (lambda s: s["tasks"][0].update(split="validation"),
     "eval.yaml: tasks[0].split: 'validation', but the release has only the split 'test'"),
    (lambda s: s["tasks"].pop(), "eval.yaml: tasks cover the configs"),
])
def test_validation_checks_eval_yaml(release, tmp_path, change, problem):
    copy = _copy(release, tmp_path)
    spec = yaml.safe_load((copy / "eval.yaml").read_text())
    change(spec)
    (copy / "eval.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    configs = [c["config_name"] for c in card_header(copy / "README.md")["configs"]]
    found = eval_yaml_problems((copy / "eval.yaml").read_text(), configs, "test")
    assert any(problem in line for line in found), found


def test_loads_per_config(release):
    from datasets import get_dataset_config_names, load_dataset

    from imagenet_textcorrupt.classes import class_names

    assert sorted(get_dataset_config_names(str(release))) == ["all", "animals", "devices", "food", "vehicles"]
    food = load_dataset(str(release), "food", split="test")
    assert len(food) == 58 and set(food["wnid"]) == {"n07920052"}
    assert food.features["label"].names == class_names()
    assert len(load_dataset(str(release), split="test")) == 290  # "all" is the default


def test_valid_release_passes(release, capsys):
    assert validate(release) == []
    assert main(["validate", str(release)]) == 0
    assert "valid" in capsys.readouterr().out


def _copy(release, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(release, copy)
    return copy


def test_validation_finds_problems(release, tmp_path, capsys):
    copy = _copy(release, tmp_path)
    # duplicate a row in the food config and lose the animals' original
    food = copy / "data" / "food" / "test-00000-of-00001.parquet"
    table = pq.read_table(food)
    pq.write_table(pa.concat_tables([table, table.slice(0, 1)]), food)
    animals = copy / "data" / "animals" / "test-00000-of-00001.parquet"
    table = pq.read_table(animals)
    pq.write_table(table.filter(pa.compute.not_equal(table.column("domain"), "original")), animals)
    # the devices' rows written again with another compression: counts, ids and images are as before, only the
    # bytes differ from what release.json records
    devices = "data/devices/test-00000-of-00001.parquet"
    recorded = json.loads((copy / "release.json").read_text())["file_sha256"]
    pq.write_table(pq.read_table(copy / devices), copy / devices, compression="snappy", row_group_size=8)
    problems = validate(copy)
    text = "\n".join(problems)
    assert [line for line in problems if "devices" in line] == [
        f"{devices}: sha256 {_sha256(copy / devices)} differs from release.json's {recorded[devices]} (the file "
        "changed after assembly)"]
    assert f"{food.relative_to(copy).as_posix()}: sha256 {_sha256(food)} differs" in text
    assert "config food: 59 rows loaded, release.json says 58, the card says 58" in text
    assert "config food: 1 duplicate ids, e.g. sample-coffee" in text
    assert "config animals: 57 edits whose original is not in the config, e.g. sample-chelsea-" in text
    assert main(["validate", str(copy)]) == 1
    assert "problems" in capsys.readouterr().err


def test_an_18_config_card_stays_small_and_loads_with_its_features(release, tmp_path):
    """v1's shape: every group of the hierarchy a config (17, and "all"). The YAML stays far below what the Hub
    takes (it refuses large card metadata with 413), and each config still loads with ClassLabel(1000) and Image
    from the parquet files alone."""
    from datasets import ClassLabel, Image, load_dataset

    from builder.release.card import render_card
    from builder.release.validate import CARD_YAML_LIMIT, card_problems
    from imagenet_textcorrupt.hierarchy import load_hierarchy
    from imagenet_textcorrupt.schema import features

    groups = load_hierarchy().group_names
    assert len(groups) == 17
    summary = json.loads((release / "release.json").read_text())
    food = summary["configs"]["food"]
    wide = tmp_path / "wide"
    for name in groups:  # each group holds a copy of the food rows under its own ids
        table = pq.read_table(release / food["files"][0])
        ids = pa.compute.binary_join_element_wise(table.column("id"), pa.scalar(f"-{name}"), "")
        table = table.set_column(table.schema.get_field_index("id"), "id", ids)
        (wide / "data" / name).mkdir(parents=True)
        pq.write_table(table, wide / "data" / name / "test-00000-of-00001.parquet")
    summary["configs"] = {"all": {**food, "rows": food["rows"] * 17},
                          **{name: {**food, "files": [f"data/{name}/test-00000-of-00001.parquet"]}
                             for name in groups}}
    card = render_card(summary)
    (wide / "README.md").write_text(card)
    (wide / "LICENSE").write_text("terms\n")
    header_bytes = len(card.split("\n---", 1)[0].encode())
    assert header_bytes < 16 * 1024 < CARD_YAML_LIMIT, header_bytes  # measured: 5.3 KB
    header = card_header(wide / "README.md")
    assert len(header["configs"]) == len(header["dataset_info"]) == 18
    assert card_problems(wide, header) == []
    expected = features()
    for config in ("all", "animals", "vehicles"):
        loaded = load_dataset(str(wide), config, split="test")
        assert loaded.features == expected, config
        assert isinstance(loaded.features["label"], ClassLabel) and loaded.features["label"].num_classes == 1000
        assert isinstance(loaded.features["image"], Image)
        assert len(loaded) == (food["rows"] * 17 if config == "all" else food["rows"])
    # what the Hub would refuse: a header over the limit, a licence link to a file that is not there
    (wide / "LICENSE").unlink()
    (wide / "README.md").write_text(card.replace("pretty_name:", "note: " + "x" * CARD_YAML_LIMIT + "\npretty_name:", 1))
    assert card_problems(wide, card_header(wide / "README.md")) == [
        f"README.md: the YAML header is {header_bytes + CARD_YAML_LIMIT + 7} bytes, over {CARD_YAML_LIMIT} (the Hub "
        "refuses large card metadata); keep per-config features out of dataset_info",
        "README.md: license_link 'LICENSE' names a file the release does not have"]


def test_broken_card_is_reported(release, tmp_path):
    copy = _copy(release, tmp_path)
    (copy / "README.md").write_text("no header\n")
    assert validate(copy) == [f"{copy}: README.md has no YAML header between --- lines"]


def test_incomplete_build_and_existing_release_are_refused(build, release, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(build, partial)
    manifest = json.loads((partial / "manifest.json").read_text())
    manifest["complete"] = False
    manifest["shards"] = manifest["shards"][:1]
    (partial / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ReleaseError, match=r"the build is not complete \(1 of 5 shards done\)"):
        assemble(partial, tmp_path / "out")
    with pytest.raises(ReleaseError, match="exists and is not empty: a release is never overwritten"):
        assemble(build, release)
    assert not (tmp_path / "out").exists()


def test_changelog_against_the_previous_release(build, release, tmp_path):
    newer = assemble(build, tmp_path / "v0.0.2", previous=release)
    body = (newer / "README.md").read_text()
    assert "- v0.0.1 (from v0.0.1):\n  - no change in row counts" in body


def test_the_card_explains_the_imagenet_c_rows(release):
    body = (release / "README.md").read_text()
    assert "## ImageNet-C on the same images" in body
    assert "290 rows: 5 clean images and 285 edits of them (75 text-guided, 210 ImageNet-C)" in body
    assert "imagenet-c@2" not in body.split("- Editor:", 1)[1].split("\n", 1)[0]
    assert "`glass_blur`" in body and "`frost`" not in body and "at severities\n1, 3, 5 of ImageNet-C's own" in body
    quality = body.split("## Quality control", 1)[1].split("## Counts", 1)[0]
    assert "| drawing |" in quality and "glass_blur" not in quality  # not scored, so no pass rate


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_release_records_the_sha256_of_every_data_file(release):
    summary = json.loads((release / "release.json").read_text())
    files = sorted(p.relative_to(release).as_posix() for p in (release / "data").rglob("*.parquet"))
    assert sorted(summary["configs"]["all"]["files"]) == files
    assert summary["file_sha256"] == {name: _sha256(release / name) for name in files}


def test_a_build_shard_that_changed_is_refused(build, tmp_path):
    """A shard whose bytes are no longer the manifest's sha256 (here: another shard's bytes in its place), or that
    is gone, stops the assembly before anything is written."""
    copy = tmp_path / "build"
    shutil.copytree(build, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    entry = manifest["shards"][2]
    shard = copy / entry["file"]
    shard.write_bytes((copy / manifest["shards"][3]["file"]).read_bytes())
    out = tmp_path / "releases" / "v0.0.1"
    with pytest.raises(ReleaseError, match=re.escape(f"{shard}: sha256 {_sha256(shard)} differs from the manifest's "
                                                     f"{entry['sha256']} (the shard changed after it was built)")):
        assemble(copy, out)
    assert not (tmp_path / "releases").exists() or not any((tmp_path / "releases").iterdir())  # nothing half-done
    shard.unlink()
    with pytest.raises(ReleaseError, match=re.escape(f"{shard}: the shard is missing (the manifest records sha256 "
                                                     f"{entry['sha256']})")):
        assemble(copy, out)
    assert not (tmp_path / "releases").exists() or not any((tmp_path / "releases").iterdir())


def test_validation_reports_missing_and_unrecorded_data_files(release, tmp_path):
    copy = _copy(release, tmp_path)
    summary = json.loads((copy / "release.json").read_text())
    gone, extra = "data/food/test-00000-of-00001.parquet", "data/food/test-00001-of-00002.parquet"
    (copy / gone).rename(copy / extra)
    assert data_file_problems(copy, summary) == [
        f"{gone}: missing (release.json records sha256 {summary['file_sha256'][gone]})",
        f"{extra}: not in release.json's file_sha256 (the release was not assembled with it)"]
    del summary["file_sha256"]
    assert data_file_problems(copy, summary) == [
        "release.json: no file_sha256 (the sha256 of every data file), so the data cannot be checked; assemble the "
        "release again"]
