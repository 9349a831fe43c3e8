"""The review page on the smoke build: the folder reader, the server's refusals over HTTP, and a reviewer in
headless Chromium who answers with the keyboard, loses the server mid-way and finds every answer kept and the next
row offered after a restart. A screenshot is written for the README (IMAGENET_TC_SCREENSHOT names the file)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

from builder.review.folder import ReviewError, is_text_guided, open_folder, read_images, read_metadata
from builder.review.verdicts import load_reviews, read_verdicts


# ------------------------------------------------------------------------------------------------------ folder
@pytest.fixture(scope="module")
def build_copy(smoke_build, tmp_path_factory) -> Path:
    """The smoke build copied (review writes into the folder it reviews; the shared build stays untouched)."""
    out = tmp_path_factory.mktemp("review") / "build"
    shutil.copytree(smoke_build, out, ignore=shutil.ignore_patterns("reviews"))
    return out


def test_the_folder_reader_on_a_build(build_copy):
    folder = open_folder(build_copy)
    table = read_metadata(folder)
    domains = Counter(table.column("domain").to_pylist())
    assert folder.kind == "build" and table.num_rows == 290 and "image" not in table.column_names
    assert sum(n for d, n in domains.items() if is_text_guided(d)) == 75  # 5 photos x 5 domains x 3 severities
    images = read_images(folder, ["sample-chelsea", "sample-chelsea-color-p000-s3"])
    assert all(data.startswith(b"\x89PNG") for data in images.values())
    with pytest.raises(ReviewError, match="rows not found: nope"):
        read_images(folder, ["nope"])


def test_the_folder_reader_refuses(tmp_path, build_copy):
    with pytest.raises(ReviewError, match="neither a build folder"):
        open_folder(tmp_path)
    with pytest.raises(ReviewError, match="no such folder"):
        open_folder(tmp_path / "missing")
    partial = tmp_path / "partial"
    partial.mkdir()
    manifest = json.loads((build_copy / "manifest.json").read_text())
    (partial / "manifest.json").write_text(json.dumps({**manifest, "complete": False, "shards": manifest["shards"][:2]}))
    with pytest.raises(ReviewError, match=r"not complete \(2 of 5 shards done\)"):
        open_folder(partial)


# ------------------------------------------------------------------------------------------------ server (HTTP)
@pytest.fixture()
def client(build_copy, tmp_path):
    from fastapi.testclient import TestClient

    from builder.review.server import create_app, open_session

    folder = tmp_path / "build"
    shutil.copytree(build_copy, folder, ignore=shutil.ignore_patterns("reviews"))
    session = open_session(folder, "carol", 6, None, log=lambda text: None)
    origin = "http://127.0.0.1:7870"
    app = create_app(session, {origin})
    with TestClient(app, base_url="http://127.0.0.1:7870") as http:
        yield http, session, origin


def test_the_page_and_its_data(client):
    http, session, _ = client
    page = http.get("/")
    assert page.status_code == 200 and session.token in page.text and "carol" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    state = http.get("/api/rows").json()
    assert [r["id"] for r in state["rows"]] == list(session.sample.ids) and state["next"] == 0
    row = state["rows"][0]
    assert row["class_name"] and row["definition"] and row["prompt"] and row["answer"] is None
    image = http.get(f"/image/{row['source_id']}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert http.get("/image/sample-elsewhere").status_code == 404
    assert http.get("/static/page.js").headers["content-type"].startswith("text/javascript")
    assert http.get("/static/..%2Fserver.py").status_code == 404


def test_answers_only_from_the_page(client):
    http, session, origin = client
    first = session.rows[0]["id"]
    body = {"id": first, "answer": "same"}
    token = {"X-Review-Token": session.token}
    refused = [
        (http.post("/api/verdict", json=body, headers=token), 403, "from the review page only (origin None"),
        (http.post("/api/verdict", json=body, headers={**token, "Origin": "http://evil.example"}), 403,
         "origin 'http://evil.example' is not one of http://127.0.0.1:7870"),
        (http.post("/api/verdict", json=body, headers={"Origin": origin, "X-Review-Token": "guess"}), 403,
         "token does not match"),
        (http.post("/api/verdict", json={"id": "sample-nope-color-p000-s1", "answer": "same"},
                   headers={**token, "Origin": origin}), 404, "row id 'sample-nope-color-p000-s1' is not in the sample"),
        (http.post("/api/verdict", json={"id": first, "answer": "yes"}, headers={**token, "Origin": origin}), 422,
         "answer 'yes': use one of"),
    ]
    for response, status, message in refused:
        assert response.status_code == status and message in response.json()["detail"]
    assert not session.verdicts.exists()
    assert http.get("/api/rows", headers={"Host": "rebound.example"}).status_code == 400  # DNS rebinding
    saved = http.post("/api/verdict", json=body, headers={**token, "Origin": origin})
    assert saved.json() == {"saved": first, "answer": "same", "next": 1, "done": 1}
    assert [(r["id"], r["answer"]) for r in read_verdicts(session.verdicts)] == [(first, "same")]


# ----------------------------------------------------------------------------------------------- the browser
def test_reviewing_with_the_keyboard_survives_a_killed_server(build_copy, tmp_path):
    from browser import app_environment, chromium, free_port, running_server
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    folder = tmp_path / "build"
    shutil.copytree(build_copy, folder, ignore=shutil.ignore_patterns("reviews"))
    port = free_port()
    argv = [sys.executable, "-m", "builder", "review", str(folder), "--sample", "10", "--reviewer", "dana",
            "--port", str(port)]
    env = app_environment(tmp_path / "home", port, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    sample = None

    def text(driver, element_id):
        return driver.find_element(By.ID, element_id).text

    def wait_for(driver, element_id, expected):
        WebDriverWait(driver, 30).until(lambda d: text(d, element_id) == expected,
                                        f"#{element_id} never read {expected!r} (it reads {text(driver, element_id)!r})")

    def press(driver, key, progress):
        driver.find_element(By.TAG_NAME, "body").send_keys(key)
        wait_for(driver, "progress", progress)

    with chromium() as driver:
        with running_server(argv, tmp_path, env, port) as (url, process):
            sample = json.loads((folder / "reviews" / "sample.json").read_text())["ids"]
            driver.set_window_size(1100, 1000)  # the README's screenshot
            driver.get(url)
            wait_for(driver, "progress", "0 of 10 answered · row 1 of 10")
            assert text(driver, "row-id") == sample[0]
            assert driver.find_element(By.ID, "original").get_attribute("naturalWidth") == "256"
            assert text(driver, "class-name") and text(driver, "definition") and text(driver, "prompt")
            press(driver, "1", "1 of 10 answered · row 2 of 10")
            press(driver, "2", "2 of 10 answered · row 3 of 10")
            press(driver, "3", "3 of 10 answered · row 4 of 10")
            press(driver, Keys.ARROW_LEFT, "3 of 10 answered · row 3 of 10")  # back: the answer shows
            assert text(driver, "row-id") == sample[2]
            chosen = driver.find_elements(By.CSS_SELECTOR, ".answers button.chosen")
            assert [b.get_attribute("id") for b in chosen] == ["answer-cant_tell"]
            press(driver, "1", "3 of 10 answered · row 4 of 10")  # replaces it, goes on to the first unanswered
            press(driver, "1", "4 of 10 answered · row 5 of 10")
            screenshot = Path(os.environ.get("IMAGENET_TC_SCREENSHOT", tmp_path / "review.png"))
            assert driver.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000
            process.send_signal(signal.SIGKILL)  # no shutdown: only what was synced survives
            process.wait()
        records = read_verdicts(folder / "reviews" / "dana.jsonl", known_ids=set(sample))
        assert [(r["id"], r["answer"]) for r in records] == [
            (sample[0], "same"), (sample[1], "not"), (sample[2], "cant_tell"), (sample[2], "same"),
            (sample[3], "same")]
        with running_server(argv, tmp_path, env, port) as (url, _):
            driver.get(url)
            wait_for(driver, "progress", "4 of 10 answered · row 5 of 10")
            assert text(driver, "row-id") == sample[4]
            press(driver, Keys.ARROW_LEFT, "4 of 10 answered · row 4 of 10")
            assert [b.get_attribute("id") for b in driver.find_elements(
                By.CSS_SELECTOR, ".answers button.chosen")] == ["answer-same"]
    assert load_reviews(folder, set(sample)) == {sample[0]: {"dana": "same"}, sample[1]: {"dana": "not"},
                                                 sample[2]: {"dana": "same"}, sample[3]: {"dana": "same"}}
