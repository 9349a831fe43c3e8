"""The leaderboard Space (eval/leaderboard/) as people meet it: results submitted to a results dataset on the
loopback Hub, the leaderboard rebuilt and published there by `imagenet-tc leaderboard --verified-only --publish`,
the Space started from a copy of its folder on a loopback port, its page loaded in headless Chromium, and the
rendered table checked against the leaderboard's JSON (order and values), filtered by a search, with the refused
result and its reason on the page. A screenshot is written for the README (IMAGENET_TC_SCREENSHOT names the file).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from PIL import Image

from browser import chromium, constraint_pins, copy_space, free_port, running_app, space_pins
from imagenet_textcorrupt.results import predictions_path
from results_factory import write_results_file

SPACE = Path(__file__).resolve().parent.parent / "eval" / "leaderboard"
RESULTS_REPO = "org/imagenet-tc-results"
MODELS = [("timm:resnet50", "cnn", 0.80, 0.55, 0), ("hf:org/vit-b", "transformer", 0.85, 0.50, 1),
          ("timm:convnext_base", "cnn", 0.85, 0.70, 2)]
COLUMNS = 16  # rank, model, family, params, then six figures each with its interval


def test_the_space_card_and_requirements():
    header = yaml.safe_load((SPACE / "README.md").read_text().split("---")[1])
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py" and "leaderboard" in header["tags"]
    pins = constraint_pins()
    assert header["sdk_version"] == pins["gradio"]
    requirements = space_pins(SPACE)
    assert "huggingface-hub" in requirements and "gradio" not in requirements
    assert {name: pins.get(name) for name in requirements} == requirements


def _rendered_rows(driver) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    cells = driver.find_element(By.ID, "board").text.split("\n")[COLUMNS:]
    return [cells[i:i + COLUMNS] for i in range(0, len(cells), COLUMNS)]


def _tab(driver, name: str):
    from selenium.webdriver.common.by import By

    return next(b for b in driver.find_elements(By.CSS_SELECTOR, "button[role=tab]")
                if b.is_displayed() and b.text.strip() == name)


def _percent(estimate) -> str:
    return f"{round(100 * estimate['value'], 2):g}"


def test_the_leaderboard_space_in_a_browser(hub, client_env, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    results = tmp_path / "results"
    for model, family, clean, edited, seed in MODELS:
        write_results_file(results, model, family, clean, edited, seed=seed)
        write_results_file(results, model, family, clean, edited, seed=seed + 10, config="animals")
    unverified = write_results_file(results, "timm:mobilenetv3_large_100", "cnn", 0.9, 0.9, seed=7)
    predictions_path(unverified).unlink()  # results without predictions cannot be recomputed
    stale = tmp_path / "stale" / "leaderboard"  # a plot of an earlier rebuild: --publish must remove it
    stale.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(stale / "old_plot.png")
    upload = (f"from huggingface_hub import HfApi\napi = HfApi()\n"
              f"api.create_repo({RESULTS_REPO!r}, repo_type='dataset')\n"
              f"api.upload_folder(folder_path={str(results)!r}, repo_id={RESULTS_REPO!r}, repo_type='dataset')\n"
              f"api.upload_folder(folder_path={str(stale.parent)!r}, repo_id={RESULTS_REPO!r}, repo_type='dataset')\n")
    done = subprocess.run([sys.executable, "-c", upload], env=client_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    board_dir = tmp_path / "board"
    rebuild = subprocess.run([sys.executable, "-m", "imagenet_textcorrupt.cli", "leaderboard", RESULTS_REPO, "--out",
                              str(board_dir), "--verified-only", "--publish"], env=client_env, capture_output=True,
                             text=True, timeout=300)
    assert rebuild.returncode == 0, rebuild.stderr[-3000:]
    assert f"published to {RESULTS_REPO} under leaderboard/" in rebuild.stdout
    board = json.loads((board_dir / "leaderboard.json").read_text())
    [refused] = board["refused"]
    assert refused["file"].startswith("timm_mobilenetv3") and refused["problems"][0].startswith("not verified")
    overall = board["sections"][0]["overall"]
    assert [row["model"] for row in overall] == ["timm:convnext_base", "hf:org/vit-b", "timm:resnet50"]
    assert overall[1]["url"] == "https://huggingface.co/org/vit-b" and overall[0]["url"] is None

    space = copy_space(SPACE, tmp_path)
    port = free_port()
    env = {**client_env, "LEADERBOARD_REPO": RESULTS_REPO, "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "PYTHONPATH": "",
           "HF_HOME": str(tmp_path / "space-home")}
    with running_app(space, env) as url, chromium() as driver:
        driver.get(url)
        wait = WebDriverWait(driver, 90)
        wait.until(lambda d: "timm:resnet50" in d.find_element(By.ID, "board").text)
        rows = _rendered_rows(driver)
        assert [r[0] for r in rows] == [str(row["rank"]) for row in overall]
        assert [r[1] for r in rows] == [row["model"] for row in overall]
        assert [r[4] for r in rows] == [_percent(row["edited_top1"]) for row in overall]
        low, high = overall[0]["edited_top1"]["ci_low"], overall[0]["edited_top1"]["ci_high"]
        assert rows[0][5] == f"[{100 * low:.1f}, {100 * high:.1f}]"
        assert [r[6] for r in rows] == [_percent(row["clean_top1"]) for row in overall]
        links = {a.get_attribute("textContent").strip(): a.get_attribute("href")
                 for a in driver.find_elements(By.CSS_SELECTOR, "#board a")}
        assert links == {"hf:org/vit-b": "https://huggingface.co/org/vit-b"}  # timm registry names have no page
        next(e for e in driver.find_elements(By.XPATH, "//*[normalize-space(text())='Refused results']")
             if e.is_displayed()).click()
        wait.until(lambda d: refused["problems"][0][:60] in d.find_element(By.ID, "refused").text)
        assert refused["file"] in driver.find_element(By.ID, "refused").text
        _tab(driver, "About").click()
        wait.until(lambda d: "recomputes your metrics from the predictions" in d.find_element(By.ID, "about").text)
        _tab(driver, "Leaderboard").click()
        wait.until(lambda d: d.find_element(By.ID, "board").is_displayed())
        assert len(driver.find_elements(By.CSS_SELECTOR, "#plots img")) == 6  # the report's plots, not the stale one
        screenshot = Path(os.environ.get("IMAGENET_TC_SCREENSHOT", tmp_path / "leaderboard.png"))
        assert driver.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000

        search = driver.find_element(By.CSS_SELECTOR, "#search textarea, #search input")
        search.send_keys("vit")
        wait.until(lambda d: len(_rendered_rows(d)) == 1)
        assert _rendered_rows(driver)[0][1] == "hf:org/vit-b"
        search.clear()
        search.send_keys("no such model")
        wait.until(lambda d: _rendered_rows(d) == [])
