"""The leaderboard Space (eval/leaderboard/) as people meet it: results submitted to a results dataset on the
loopback Hub, the leaderboard rebuilt and published there by `imagenet-tc leaderboard --verified-only --publish`,
the Space started from a copy of its folder on a loopback port, its page loaded in headless Chromium, and the
rendered table checked against the leaderboard's JSON (order and values, each row's audit status), filtered by a
search, with the refused results and their reasons (an audit's refusal among them) on the page. Its layout in a
1280-pixel-wide window is measured: each plot shown whole (its box at the picture's own aspect ratio, inside the
window and every ancestor that clips, its caption not over it) and each table header broken between words only.
A screenshot is written for the README (IMAGENET_TC_SCREENSHOT names the file).
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
COLUMNS = 17  # rank, model, family, params, audit, then six figures each with its interval
WIDTH = 1280  # the window's width, a laptop's, at which the plots were cropped and the headers broken
AUDIT_RECORD = "audits/" + "ab" * 32 + ".json"
REFUSED_RECORD = "audits/" + "cd" * 32 + ".json"
# A leaderboard.json row's audit, as `imagenet-tc leaderboard --audit N` writes it
AUDITED = {"status": "audited", "rows": 200, "seed": 123, "agreement": 1.0, "reason": None, "record": AUDIT_RECORD}
UNAUDITABLE = {"status": "unaudited", "rows": None, "seed": None, "agreement": None,
               "reason": "unauditable: the checkpoint's sha256 differs", "record": None}
NOT_YET = {**UNAUDITABLE, "reason": "not audited yet"}
REFUSED_BY_AUDIT = {"file": "timm_resnet18-all-2026-11-01T00_00_00Z.json",
                    "problems": ["audit: 3 of 200 sampled rows disagree with the submitted predictions",
                                 "row 17 (source 4, drawing, severity 2): submitted class 207, rerun 208"],
                    "audit": {"status": "refused", "rows": 200, "seed": 99, "agreement": 0.985, "disagreements": 3,
                              "reason": None, "record": REFUSED_RECORD}}

# Each plot of the gallery: its picture's natural size, its box scrolled into view, the boxes of its ancestors that
# clip (overflow other than visible), its caption's box, the window's inner size (scroll bars excluded)
PLOTS_JS = """
const box = e => { const r = e.getBoundingClientRect();
                   return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width, height: r.height}; };
return [...document.querySelectorAll('#plots img')].map(img => {
  img.scrollIntoView({block: 'center'});
  const clips = [];
  for (let a = img.parentElement; a; a = a.parentElement) {
    const s = getComputedStyle(a);
    if (s.overflowX !== 'visible' || s.overflowY !== 'visible') clips.push({element: a.className, ...box(a)});
  }
  const caption = img.parentElement.querySelector('.caption-label');
  return {natural: [img.naturalWidth, img.naturalHeight], box: box(img), clips, caption: caption && box(caption),
          window: [document.documentElement.clientWidth, document.documentElement.clientHeight]};
});
"""
# Each header cell of the table: its width, its text's, and per word (between spaces) the lines its rendered
# characters lie on (a Range's client rects) and the width the word takes on one line (canvas measureText in the
# header's own font)
HEADERS_JS = """
const canvas = document.createElement('canvas').getContext('2d');
return [...document.querySelectorAll('#board .header-cell')].map(th => {
  const text = th.querySelector('.header') || th;
  const walker = document.createTreeWalker(text, NodeFilter.SHOW_TEXT);
  const words = [];
  canvas.font = getComputedStyle(text).font;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const m of node.textContent.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = [...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top));
      words.push({word: m[0], lines: new Set(tops).size, width: canvas.measureText(m[0]).width});
    }
  }
  return {header: text.textContent.trim(), cell: th.getBoundingClientRect().width,
          text: text.getBoundingClientRect().width, words};
});
"""


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


def _rendered_column(driver, index: int) -> list[str] | None:
    """One column of the rendered table, or None while the table is being redrawn (its text ends mid-row)."""
    rows = _rendered_rows(driver)
    return None if any(len(row) < COLUMNS for row in rows) else [row[index] for row in rows]


def _tab(driver, name: str):
    from selenium.webdriver.common.by import By

    return next(b for b in driver.find_elements(By.CSS_SELECTOR, "button[role=tab]")
                if b.is_displayed() and b.text.strip() == name)


def _option(driver, name: str):
    """The displayed option `name` of an open dropdown, or None (the selected one reads "✓ name")."""
    from selenium.webdriver.common.by import By

    return next((o for o in driver.find_elements(By.CSS_SELECTOR, "[role=option]")
                 if o.is_displayed() and o.text.replace("✓", "").strip() == name), None)


def _percent(estimate) -> str:
    return f"{round(100 * estimate['value'], 2):g}"


def _with_audits(board_dir: Path) -> dict:
    """The rebuilt leaderboard.json as `--audit` would have left it: the first model audited, the second
    unauditable, the third (in the ranking shown first) without an audit key, as an older leaderboard.json; one
    result refused by its audit; the audit records beside it."""
    board = json.loads((board_dir / "leaderboard.json").read_text())
    audits = {"timm:convnext_base": {"all": AUDITED, "animals": AUDITED},
              "hf:org/vit-b": {"all": UNAUDITABLE, "animals": UNAUDITABLE},
              "timm:resnet50": {"all": None, "animals": NOT_YET}}
    for section in board["sections"]:
        for config, rows in [*section["configs"].items(), ("all", section["overall"])]:
            for row in rows:
                if audits[row["model"]][config] is None:
                    row.pop("audit", None)
                else:
                    row["audit"] = audits[row["model"]][config]
    board["refused"].append(REFUSED_BY_AUDIT)
    (board_dir / "leaderboard.json").write_text(json.dumps(board, indent=1))
    for record, audit in ((AUDIT_RECORD, AUDITED), (REFUSED_RECORD, REFUSED_BY_AUDIT["audit"])):
        (board_dir / record).parent.mkdir(exist_ok=True)
        (board_dir / record).write_text(json.dumps(audit))
    return board


def _check_plots_whole(driver) -> list[dict]:
    """Every plot's box has its picture's aspect ratio and lies inside the window and inside every ancestor that
    clips it, its caption beside it rather than over it."""
    plots = driver.execute_script(PLOTS_JS)
    assert plots
    for plot in plots:
        (width, height), box = plot["natural"], plot["box"]
        assert width > 0 and height > 0, plot
        assert abs(box["width"] / box["height"] - width / height) < 0.01 * width / height, plot
        window_width, window_height = plot["window"]
        assert box["left"] >= -0.5 and box["top"] >= -0.5, plot
        assert box["right"] <= window_width + 0.5 and box["bottom"] <= window_height + 0.5, plot
        for clip in plot["clips"]:
            assert clip["left"] - 0.5 <= box["left"] and box["right"] <= clip["right"] + 0.5, (clip, box)
            assert clip["top"] - 0.5 <= box["top"] and box["bottom"] <= clip["bottom"] + 0.5, (clip, box)
        caption = plot["caption"]
        if caption:
            assert (caption["top"] >= box["bottom"] - 0.5 or caption["bottom"] <= box["top"] + 0.5
                    or caption["left"] >= box["right"] - 0.5 or caption["right"] <= box["left"] + 0.5), plot
    return plots


def _check_headers_whole(driver) -> list[dict]:
    """Every header breaks between words only: each word's characters lie on one line and its cell is at least as
    wide as the word."""
    headers = driver.execute_script(HEADERS_JS)
    assert len(headers) == COLUMNS
    for header in headers:
        assert header["words"], header
        for word in header["words"]:
            assert word["lines"] == 1, (header["header"], word)
            assert header["text"] >= word["width"] - 0.5 and header["cell"] >= word["width"], (header, word)
    return headers


def test_the_leaderboard_space_in_a_browser(hub, client_env, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
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
    board = _with_audits(board_dir)  # what --audit adds, published as --publish would
    upload = (f"from huggingface_hub import HfApi\n"
              f"HfApi().upload_folder(folder_path={str(board_dir)!r}, path_in_repo='leaderboard', "
              f"repo_id={RESULTS_REPO!r}, repo_type='dataset', allow_patterns=['leaderboard.json', 'audits/*'])\n")
    done = subprocess.run([sys.executable, "-c", upload], env=client_env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]

    space = copy_space(SPACE, tmp_path)
    port = free_port()
    env = {**client_env, "LEADERBOARD_REPO": RESULTS_REPO, "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "PYTHONPATH": "",
           "HF_HOME": str(tmp_path / "space-home")}
    with running_app(space, env) as url, chromium() as driver:
        driver.set_window_size(WIDTH, 1800)
        assert driver.execute_script("return window.innerWidth") == WIDTH
        driver.get(url)
        wait = WebDriverWait(driver, 90)
        wait.until(lambda d: "timm:resnet50" in d.find_element(By.ID, "board").text)
        rows = _rendered_rows(driver)
        assert [r[0] for r in rows] == [str(row["rank"]) for row in overall]
        assert [r[1] for r in rows] == [row["model"] for row in overall]
        assert [r[4] for r in rows] == ["✓ audited (200 rows, seed 123)",
                                        "not audited: unauditable: the checkpoint's sha256 differs",
                                        "not audited"]  # the last row has no audit key
        assert [r[5] for r in rows] == [_percent(row["edited_top1"]) for row in overall]
        low, high = overall[0]["edited_top1"]["ci_low"], overall[0]["edited_top1"]["ci_high"]
        assert rows[0][6] == f"[{100 * low:.1f}, {100 * high:.1f}]"
        assert [r[7] for r in rows] == [_percent(row["clean_top1"]) for row in overall]
        links = {a.get_attribute("textContent").strip(): a.get_attribute("href")
                 for a in driver.find_elements(By.CSS_SELECTOR, "#board a")}
        assert links == {"hf:org/vit-b": "https://huggingface.co/org/vit-b"}  # timm registry names have no page
        next(e for e in driver.find_elements(By.XPATH, "//*[normalize-space(text())='Refused results']")
             if e.is_displayed()).click()
        wait.until(lambda d: refused["problems"][0][:60] in d.find_element(By.ID, "refused").text)
        shown = " ".join(driver.find_element(By.ID, "refused").text.split())
        assert refused["file"] in shown and REFUSED_BY_AUDIT["file"] in shown
        audit_refusal = shown[shown.index(REFUSED_BY_AUDIT["file"]):]
        for said in ("refused by its audit", "3 of 200 sampled rows disagree with the submitted predictions",
                     "seed 99", "agreement 98.5%", REFUSED_RECORD, *REFUSED_BY_AUDIT["problems"]):
            assert said in audit_refusal, (said, shown)  # the disagreeing row among the problems
        _tab(driver, "About").click()
        wait.until(lambda d: "recomputes your metrics from the predictions" in d.find_element(By.ID, "about").text)
        about = " ".join(driver.find_element(By.ID, "about").text.split())
        assert "random stratified sample of N rows, drawn with a seed the submitter could not know" in about
        assert "with probability at least 98%" in about and "does not prove the rows it did not sample" in about
        assert "behaves differently on other hardware" in about and "says nothing about the training data" in about
        _tab(driver, "Leaderboard").click()
        wait.until(lambda d: d.find_element(By.ID, "board").is_displayed())
        assert len(driver.find_elements(By.CSS_SELECTOR, "#plots img")) == 6  # the report's plots, not the stale one
        wait.until(lambda d: all(d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i)
                                 for i in d.find_elements(By.CSS_SELECTOR, "#plots img")))
        _check_plots_whole(driver)
        _check_headers_whole(driver)
        driver.execute_script("window.scrollTo(0, 0)")
        screenshot = Path(os.environ.get("IMAGENET_TC_SCREENSHOT", tmp_path / "leaderboard.png"))
        assert driver.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000

        search = driver.find_element(By.CSS_SELECTOR, "#search textarea, #search input")
        search.send_keys("vit")
        wait.until(lambda d: len(_rendered_rows(d)) == 1)
        assert _rendered_rows(driver)[0][1] == "hf:org/vit-b"
        search.clear()
        search.send_keys("no such model")
        wait.until(lambda d: _rendered_rows(d) == [])
        search.send_keys(Keys.CONTROL, "a")
        search.send_keys(Keys.BACKSPACE)  # typed away: clear() fires no input event
        wait.until(lambda d: len(_rendered_rows(d)) == 3)
        driver.find_element(By.CSS_SELECTOR, "#config input").click()  # the animals config's ranking
        wait.until(lambda d: _option(d, "animals")).click()
        animals = board["sections"][0]["configs"]["animals"]
        wait.until(lambda d: _rendered_column(d, 5) == [_percent(row["edited_top1"]) for row in animals])
        assert {r[1]: r[4] for r in _rendered_rows(driver)} == {
            "timm:convnext_base": "✓ audited (200 rows, seed 123)",
            "hf:org/vit-b": "not audited: unauditable: the checkpoint's sha256 differs",
            "timm:resnet50": "not audited yet"}  # its reason, not "not audited: not audited yet"
