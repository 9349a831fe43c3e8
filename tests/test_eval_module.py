"""The `evaluate` module in eval/imagenet_tc/: loaded by path as users load it, it returns exactly the library's
dictionary and rejects bad inputs with a ValueError naming the problem. The folder is a Space that starts: copied
elsewhere, without imagenet-textcorrupt importable and offline, it loads its module from its own folder, serves
its form on a loopback port, answers the gradio client and renders the same dictionary in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from browser import app_environment, chromium, constraint_pins, copy_space, free_port, running_app, space_pins
from builder.cli import main as builder_main
from builder.release.metric_space import (CORE_FILE, MetricSpaceError, set_dataset, stale_copies, vendored_core,
                                          vendored_files, write_copies)
from imagenet_textcorrupt import metrics

MODULE = Path(__file__).resolve().parent.parent / "eval" / "imagenet_tc"
INPUTS = {
    "predictions": [[281, 1, 2, 3, 4], [281, 1, 2, 3, 4], [285, 281, 2, 3, 4], [967, 5, 6, 7, 8],
                    [969, 967, 6, 7, 8], [967, 5, 6, 7, 8]],
    "references": [281, 281, 281, 967, 967, 967],
    "domains": ["original", "drawing", "weather", "original", "drawing", "color"],
    "severities": [0, 1, 2, 0, 1, 3],
    "source_ids": ["cat", "cat", "cat", "cup", "cup", "cup"],
    "groups": ["animals", "animals", "animals", "food", "food", "food"],
}


@pytest.fixture(scope="module")
def module():
    import evaluate

    return evaluate.load(str(MODULE))


def test_same_dictionary_as_the_library(module):
    templates = ["", "sketch", "fog", "", "sketch", "red"]
    ours = module.compute(**INPUTS, templates=templates, resamples=300, seed=5)
    assert ours == metrics.compute(**INPUTS, templates=templates, resamples=300, seed=5)
    assert ours["edited"]["top1"]["value"] == pytest.approx(2 / 4)
    assert ours["edited"]["top5"]["value"] == 1.0
    top1_only = module.compute(**{**INPUTS, "predictions": [p[0] for p in INPUTS["predictions"]]}, resamples=0)
    assert top1_only == metrics.compute(**{**INPUTS, "predictions": [p[0] for p in INPUTS["predictions"]]},
                                        resamples=0)
    assert "top5" not in top1_only["edited"]


@pytest.mark.parametrize("change, message", [
    ({"references": [281, 281, 281, 967, 967]}, "Mismatch in the number of predictions (6) and references (5)"),
    ({"references": [281, 281, 281, 967, 967, 1967]}, "references: row 5 has class index [1967] outside 0..999"),
    ({"domains": ["original", "drawing", "sketch", "original", "drawing", "color"]}, "unknown domain 'sketch' at row 2"),
    ({"source_ids": ["cat", "cat", "cat", "mug", "cup", "cup"]},
     "1 source images have edits but no original row ('cup')"),
])
def test_bad_inputs_raise_value_errors(module, change, message):
    with pytest.raises(ValueError) as caught:
        module.compute(**{**INPUTS, **change}, resamples=0)
    assert message in str(caught.value)


def test_the_standalone_copies_of_the_metrics_are_current():
    files = vendored_files()
    assert list(files)[0] == CORE_FILE and files[CORE_FILE] == vendored_core()
    assert set(files) == {CORE_FILE, "imagenet_tc_inputs.py", "imagenet_tc_bootstrap.py"}
    for name, text in files.items():
        assert (MODULE / name).read_text(encoding="utf-8") == text, (
            f"eval/imagenet_tc/{name} is stale: run python -m builder metric-space")
        assert "imagenet_textcorrupt" not in "".join(
            line for line in text.splitlines(keepends=True) if line.startswith(("import", "from")))
        assert len(text.splitlines()) <= 400, name  # one copy per library module, each as short as its module
    assert stale_copies(MODULE) == []


def test_the_loading_script_names_every_copy():
    """evaluate copies into its module cache only the files the loading script imports itself (evaluate/loading.py's
    get_imports reads that one file), so imagenet_tc.py imports each copy by name, on a line of its own."""
    import re

    script = (MODULE / "imagenet_tc.py").read_text(encoding="utf-8")
    named = set(re.findall(r"^from \.(\w+) import", script, flags=re.MULTILINE))
    assert {name.removesuffix(".py") for name in vendored_files()} <= named


def test_a_copy_no_longer_made_is_removed(tmp_path):
    space = tmp_path / "imagenet_tc"
    space.mkdir()
    (space / "imagenet_tc_old.py").write_text("# Generated from imagenet_textcorrupt/metrics/old.py by ...\n")
    (space / "imagenet_tc_mine.py").write_text("x = 1\n")  # not generated: left alone
    checked = write_copies(space, check=True)
    assert [(path.name, current) for path, current in checked] == [
        ("imagenet_tc_core.py", False), ("imagenet_tc_bootstrap.py", False), ("imagenet_tc_inputs.py", False),
        ("imagenet_tc_old.py", False)]
    assert not (space / "imagenet_tc_core.py").exists() and (space / "imagenet_tc_old.py").exists()
    write_copies(space)
    assert sorted(path.name for path in space.iterdir()) == [
        "imagenet_tc_bootstrap.py", "imagenet_tc_core.py", "imagenet_tc_inputs.py", "imagenet_tc_mine.py"]
    assert all(current for _, current in write_copies(space, check=True))


def test_the_metric_space_command_checks_writes_and_removes(tmp_path, capsys):
    space = tmp_path / "imagenet_tc"
    shutil.copytree(MODULE, space)
    assert builder_main(["metric-space", "--space", str(space), "--check"]) == 0
    assert capsys.readouterr().out.strip().endswith(": current")
    (space / "imagenet_tc_inputs.py").write_text("# edited by hand\n")
    (space / "imagenet_tc_old.py").write_text("# Generated from imagenet_textcorrupt/metrics/old.py by ...\n")
    assert builder_main(["metric-space", "--space", str(space), "--check"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line.split(" differs ")[0] for line in err] == [str(space / "imagenet_tc_inputs.py"),
                                                            str(space / "imagenet_tc_old.py")]
    assert err[0].endswith(f"regenerate with python -m builder metric-space --space {space}")
    assert (space / "imagenet_tc_inputs.py").read_text() == "# edited by hand\n"  # --check writes nothing
    assert builder_main(["metric-space", "--space", str(space)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"wrote {space / 'imagenet_tc_inputs.py'}",
                                                    f"removed {space / 'imagenet_tc_old.py'}"]
    assert (space / "imagenet_tc_inputs.py").read_text() == vendored_files()["imagenet_tc_inputs.py"]
    assert not (space / "imagenet_tc_old.py").exists()


def test_the_space_card_and_requirements():
    card = (MODULE / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py" and "metric" in header["tags"]
    pins = constraint_pins()
    # the gradio the tests run the app with; 6.16 fixed the last published path traversal (FileExplorer)
    assert header["sdk_version"] == pins["gradio"], (header["sdk_version"], pins["gradio"])
    assert tuple(int(part) for part in header["sdk_version"].split(".")[:2]) >= (6, 16)
    assert header["datasets"] == ["<org>/imagenet-tc"]  # named by python -m builder metric-space --dataset
    requirements = space_pins(MODULE)
    assert not [r for r in requirements if r.startswith("imagenet")]
    assert "evaluate" in requirements and "gradio" not in requirements  # the Space installs its sdk_version
    assert {name: pins.get(name) for name in requirements} == requirements


EXPECTED = json.loads(json.dumps(metrics.compute(**INPUTS, resamples=200, seed=3)))
FORM = ("predictions", "references", "domains", "severities", "source_ids", "groups")


def test_the_space_over_http_and_in_a_browser(tmp_path):
    """The Space as a user meets it: copied alone into a folder named app, without imagenet-textcorrupt, started
    on a loopback port; called over HTTP with the gradio client, then filled in and submitted in headless Chromium
    (the rendered result read back), a malformed column showing the metric's message."""
    from gradio_client import Client
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    space = copy_space(MODULE, tmp_path)
    env = app_environment(tmp_path / "hf", free_port(), PYTHONPATH=str(tmp_path / "block"))
    (tmp_path / "block" / "imagenet_textcorrupt").mkdir(parents=True)  # importing the library would fail
    (tmp_path / "block" / "imagenet_textcorrupt" / "__init__.py").write_text("raise ImportError('not in a Space')\n")
    with running_app(space, env) as url:
        client = Client(url, verbose=False)
        assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ["/score"]
        columns = [json.dumps(INPUTS[name]) for name in FORM]
        assert client.predict(*columns, "", "", 200, 3, api_name="/score") == EXPECTED
        with pytest.raises(Exception) as caught:
            client.predict(*columns[:1], "[281, 281]", *columns[2:], "", "", 0, 0, api_name="/score")
        assert "Mismatch in the number of predictions (6) and references (2)" in str(caught.value)
        with pytest.raises(Exception) as caught:
            client.predict(*columns, "", "", 20_000, 0, api_name="/score")
        assert "Value 20000 is greater than maximum value 10000" in str(caught.value)  # a public form's bound

        with chromium() as driver:
            driver.get(url)
            wait = WebDriverWait(driver, 90)
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#input-references textarea"))
            assert "Metric: imagenet_tc" in driver.find_element(By.TAG_NAME, "h1").text
            for name in FORM:
                box = driver.find_element(By.CSS_SELECTOR, f"#input-{name} textarea")
                box.send_keys(Keys.CONTROL, "a")
                box.send_keys(json.dumps(INPUTS[name]))
            for name, value in (("resamples", "200"), ("seed", "3")):
                number = driver.find_element(By.CSS_SELECTOR, f"#input-{name} input")
                number.send_keys(Keys.CONTROL, "a")
                number.send_keys(value)
            submit = next(b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Submit")
            submit.click()
            wait.until(lambda d: '"flip_rate"' in d.find_element(By.ID, "result").text)
            rendered = "".join(driver.find_element(By.ID, "result").text.split("\n")[1:])  # without the label
            assert json.loads(rendered) == EXPECTED

            box = driver.find_element(By.CSS_SELECTOR, "#input-references textarea")
            box.send_keys(Keys.CONTROL, "a")
            box.send_keys("[281, 281,")
            submit.click()
            wait.until(lambda d: "references: not valid JSON" in d.find_element(By.TAG_NAME, "body").text)


def test_naming_the_published_dataset(tmp_path):
    space = shutil.copytree(MODULE, tmp_path / "space", ignore=shutil.ignore_patterns("__pycache__"))
    before = (space / "README.md").read_text()
    set_dataset(space, "imagenet-tc-org/imagenet-tc")
    after = (space / "README.md").read_text()
    assert yaml.safe_load(after.split("---")[1])["datasets"] == ["imagenet-tc-org/imagenet-tc"]
    assert after.replace("- imagenet-tc-org/imagenet-tc\n", "- <org>/imagenet-tc\n") == before
    with pytest.raises(MetricSpaceError) as caught:
        set_dataset(space, "imagenet-tc")
    assert "--dataset 'imagenet-tc': expected the dataset's Hub id, ORG/NAME" in str(caught.value)


def test_the_module_loads_by_its_space_id(hub, tmp_path):
    """Pushed as a Space named imagenet_tc, the module loads by the Space's id (evaluate fetches imagenet_tc.py and
    the copies of the metrics beside it), without imagenet-textcorrupt installed."""
    from hub_server import client_environment

    env = client_environment(hub.endpoint, str(tmp_path / "home"))
    push = (f"from huggingface_hub import HfApi\napi = HfApi()\napi.create_repo('org/imagenet_tc', repo_type='space', "
            f"space_sdk='gradio')\napi.upload_folder(folder_path={str(MODULE)!r}, repo_id='org/imagenet_tc', "
            f"repo_type='space', ignore_patterns=['__pycache__/*'])\n")
    done = subprocess.run([sys.executable, "-c", push], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    load = ("import json, sys\nsys.modules['imagenet_textcorrupt'] = None\nimport evaluate\n"
            "out = evaluate.load('org/imagenet_tc').compute(**json.loads(sys.argv[1]), resamples=0)\n"
            "print(json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", load, json.dumps(INPUTS)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == json.loads(json.dumps(
        metrics.compute(**INPUTS, resamples=0)))
    fetched = {e["path"] for e in hub.log if "/resolve/" in e["path"] and e["status"] == 200}
    assert fetched >= {"/spaces/org/imagenet_tc/resolve/main/imagenet_tc.py",
                       *(f"/spaces/org/imagenet_tc/resolve/main/{name}" for name in vendored_files())}
