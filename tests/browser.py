"""What the web-page tests share: a server (a gradio app started from a copy of its folder, or any command) on a
loopback port, and headless Chromium (Debian's chromium and chromium-driver) driven by Selenium.

The browser is the system's: `apt-get install chromium chromium-driver` (CI's `.ci/run` does). A machine without it
fails these tests with that hint rather than skipping them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = os.environ.get("IMAGENET_TC_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("IMAGENET_TC_CHROMEDRIVER", "/usr/bin/chromedriver")
INSTALL_HINT = "install Debian's browser for the page tests: apt-get install chromium chromium-driver"
# Chromium must not reach out: this machine has no network, and each refused connection costs time
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-extensions", "--window-size=1400,1800")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_environment(home: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of an app under test: offline, no telemetry, loopback on `port`, its own HF home."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(home),
            "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(port), "PYTHONPATH": "", **extra}


@contextlib.contextmanager
def running_app(folder: Path, env: dict[str, str], timeout: float = 240.0) -> Iterator[str]:
    """`python app.py` in `folder` until the block ends; yields its URL once it answers."""
    with running_server([sys.executable, "app.py"], folder, env, int(env["GRADIO_SERVER_PORT"]), timeout) as (url, _):
        yield url


@contextlib.contextmanager
def running_server(argv: list[str], cwd: Path, env: dict[str, str], port: int,
                   timeout: float = 240.0) -> Iterator[tuple[str, subprocess.Popen]]:
    """The command `argv` until the block ends; yields its URL on `port` (once it answers) and its process, which
    the block may kill."""
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise AssertionError(f"{' '.join(map(str, argv))} did not start (exit {process.poll()}):\n"
                                     f"{log.read().decode(errors='replace')[-3000:]}")
            time.sleep(0.25)
        yield f"http://127.0.0.1:{port}/", process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def copy_space(source: Path, destination: Path) -> Path:
    """The Space as the Hub clones it: its folder, named app, nothing else beside it."""
    return Path(shutil.copytree(source, destination / "app", ignore=shutil.ignore_patterns("__pycache__")))


@contextlib.contextmanager
def chromium() -> Iterator["object"]:
    """A headless Chromium driven by Selenium; fails with the install hint when the system has none."""
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        raise AssertionError(f"{CHROMIUM} or {CHROMEDRIVER} is missing: {INSTALL_HINT}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(120)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def constraint_pins() -> dict[str, str]:
    """constraints.txt as {normalised package name: version}: what the Spaces' pins must agree with."""
    pins = {}
    for line in (Path(__file__).resolve().parent.parent / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def space_pins(folder: Path) -> dict[str, str]:
    """A Space's requirements.txt as {normalised package name: version}; every line must pin one version."""
    pins = {}
    for line in (folder / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert "==" in line, f"{folder}/requirements.txt: {line!r} is not pinned"
            name, version = line.split("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins
