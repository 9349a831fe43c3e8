"""The `evaluate` module in eval/imagenet_tc/: loaded by path as users load it, it returns exactly the library's
dictionary and rejects bad inputs with a ValueError naming the problem. The folder is a Space that starts: copied
elsewhere, without imagenet-textcorrupt installed and offline, it loads its module from its own folder and its app
computes through evaluate's widget."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from builder.metric_space import CORE_FILE, MetricSpaceError, set_dataset, vendored_core
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


def test_the_standalone_copy_of_the_metrics_is_current():
    assert (MODULE / CORE_FILE).read_text(encoding="utf-8") == vendored_core(), (
        "eval/imagenet_tc/imagenet_tc_core.py is stale: run python -m builder metric-space")
    assert "imagenet_textcorrupt" not in "".join(
        line for line in (MODULE / CORE_FILE).read_text().splitlines(keepends=True)
        if line.startswith(("import", "from")))


def test_the_space_card_and_requirements():
    card = (MODULE / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py" and "metric" in header["tags"]
    # evaluate's widget builds its form with gr.inputs.Dataframe and gr.outputs.Textbox, which gradio 4.0 removed
    assert header["sdk_version"].split(".")[0] == "3", header["sdk_version"]
    assert header["datasets"] == ["<org>/imagenet-tc"]  # named by python -m builder metric-space --dataset
    requirements = [line for line in (MODULE / "requirements.txt").read_text().splitlines()
                    if line and not line.startswith("#")]
    assert not [r for r in requirements if r.lower().startswith(("imagenet-textcorrupt", "imagenet_textcorrupt"))]
    assert "evaluate==0.4.6" in requirements and "numpy==1.26.4" in requirements  # gradio 3 needs numpy 1


SPACE_RUN = """
import json, sys, types
sys.modules["imagenet_textcorrupt"] = None  # not installable in a Space: importing it must not be needed
import pandas as pd

# gradio 3's API as evaluate's widget calls it; launch() submits one form the way the page does
seen = {}
class Dataframe:
    def __init__(self, headers, col_count, row_count, datatype):
        seen["form"] = {"headers": list(headers), "datatype": list(datatype)}
class Textbox:
    def __init__(self, label):
        seen["label"] = label
class Interface:
    def __init__(self, fn, inputs, outputs, description, title, article):
        self.fn, seen["title"], seen["article"] = fn, title, article[:40]
    def launch(self):
        rows = [["[281, 1, 2, 3, 4]", 281, '"original"', 0, '"cat"', '"animals"'],
                ["[285, 281, 2, 3, 4]", 281, '"drawing"', 1, '"cat"', '"animals"']]
        seen["result"] = self.fn(pd.DataFrame(rows, columns=seen["form"]["headers"]))
gradio = types.ModuleType("gradio")
gradio.Interface = Interface
gradio.inputs = types.SimpleNamespace(Dataframe=Dataframe)
gradio.outputs = types.SimpleNamespace(Textbox=Textbox)
sys.modules["gradio"] = gradio

import runpy
runpy.run_path("app.py", run_name="__main__")
import evaluate
direct = evaluate.load(sys.argv[1]).compute(**json.loads(sys.argv[2]), resamples=0)
print(json.dumps({"widget": seen, "direct": direct}))
"""


def test_the_space_starts_from_a_copy_of_its_folder(tmp_path):
    space = tmp_path / "app"  # as a Space is cloned: a folder named app, nothing else beside it
    shutil.copytree(MODULE, space, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "PYTHONPATH": ""}
    done = subprocess.run([sys.executable, "-c", SPACE_RUN, str(space / "imagenet_tc.py"), json.dumps(INPUTS)],
                          cwd=space, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    widget = out["widget"]
    assert widget["title"] == "Metric: imagenet_tc" and widget["label"] == "imagenet_tc"
    assert widget["form"] == {"headers": ["predictions", "references", "domains", "severities", "source_ids",
                                          "groups"], "datatype": ["str", "number", "str", "number", "str", "str"]}
    assert widget["article"].startswith("\n# Metric card for ImageNet-TC")
    assert widget["result"]["edited"]["top1"]["value"] == 0.0 and widget["result"]["clean"]["top1"]["value"] == 1.0
    assert out["direct"] == json.loads(json.dumps(metrics.compute(**INPUTS, resamples=0)))


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
    the copy of the metrics beside it), without imagenet-textcorrupt installed."""
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
                       "/spaces/org/imagenet_tc/resolve/main/imagenet_tc_core.py"}
