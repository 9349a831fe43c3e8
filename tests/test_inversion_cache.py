"""The inversion cache: in memory (least recently used first out) and on disk as safetensors, and its key.

Each kind of inversion must come back from disk as it went in: a direct inversion (`p2p-direct`: a DDIM
trajectory only) and a null-text one (the trajectory, the per-step null embeddings, the inner steps each step
took, and the sampled path). The inversions here are random tensors of the shapes the editors store, taken as
the editors take them (per image from a batch, so not contiguous); one test runs `p2p-direct` through the disk.
"""

from __future__ import annotations

import numpy as np
import torch

from builder.editors import create_editor
from builder.editors.inversion import Inversion, InversionCache, inversion_key

STEPS = 4


def batch_slice(shape, seed):
    """Image 1 of a batch of 2 along dim 1 ([T+1, B, C, h, w] as `ddim_invert` returns): a non-contiguous view."""
    generator = torch.Generator().manual_seed(seed)
    full = torch.randn(shape[0], 2, *shape[1:], generator=generator)
    return full[:, 1]


def direct_inversion():
    return Inversion(batch_slice((STEPS + 1, 4, 8, 8), 0))


def null_text_inversion():
    nulls = torch.randn(STEPS, 77, 32, generator=torch.Generator().manual_seed(1))
    return Inversion(batch_slice((STEPS + 1, 4, 8, 8), 2), nulls, [3, 1, 10, 0], batch_slice((STEPS + 1, 4, 8, 8), 3))


def from_disk(directory, key, inversion):
    """Put an inversion into a cache over `directory`, and read it back through a fresh cache (nothing in memory);
    also read it onto the meta device, to see that every tensor goes where it is asked to."""
    InversionCache(directory).put(key, inversion)
    fresh = InversionCache(directory)
    loaded = fresh.get(key, "cpu")
    assert (fresh.hits, fresh.misses) == (1, 0)
    elsewhere = InversionCache(directory).get(key, "meta")
    for name in ("trajectory", "null_embeddings", "sampled_path"):
        tensor = getattr(elsewhere, name)
        assert (tensor is None) == (getattr(inversion, name) is None) and (tensor is None or tensor.is_meta), name
    return loaded


def test_a_direct_inversion_comes_back_from_disk(tmp_path):
    """A trajectory alone (what `p2p-direct` stores) is read back as such: no null embeddings, no inner steps, and
    the source follows the trajectory backwards."""
    from safetensors.torch import load_file

    inversion = direct_inversion()
    assert not inversion.trajectory.is_contiguous()
    loaded = from_disk(tmp_path, "direct", inversion)
    assert torch.equal(loaded.trajectory, inversion.trajectory)
    assert loaded.null_embeddings is None and loaded.inner_steps is None and loaded.sampled_path is None
    assert torch.equal(loaded.source_path, inversion.trajectory.flip(0))
    uncond = torch.zeros(1, 77, 32)
    assert loaded.null_at(2, uncond) is uncond
    assert set(load_file(tmp_path / "direct.safetensors")) == {"trajectory"}


def test_a_null_text_inversion_comes_back_with_its_inner_steps(tmp_path):
    """The null embeddings, the inner steps each sampling step took (3, 1, 10, 0: integers, in order) and the
    sampled path all survive the disk; the source follows the sampled path."""
    inversion = null_text_inversion()
    loaded = from_disk(tmp_path, "null-text", inversion)
    assert torch.equal(loaded.trajectory, inversion.trajectory)
    assert torch.equal(loaded.null_embeddings, inversion.null_embeddings)
    assert torch.equal(loaded.sampled_path, inversion.sampled_path)
    assert loaded.inner_steps == [3, 1, 10, 0] and all(type(n) is int for n in loaded.inner_steps)
    assert torch.equal(loaded.source_path, inversion.sampled_path)
    assert not torch.equal(loaded.source_path, inversion.trajectory.flip(0))
    assert torch.equal(loaded.null_at(2, torch.zeros(1, 77, 32)), inversion.null_embeddings[2:3])


def test_tensors_name_what_they_hold():
    """`to_tensors` keeps to what an inversion has; null embeddings without a record of inner steps store none."""
    assert set(direct_inversion().to_tensors()) == {"trajectory"}
    assert set(null_text_inversion().to_tensors()) == {"trajectory", "null_embeddings", "inner_steps",
                                                       "sampled_path"}
    unrecorded = Inversion(torch.zeros(STEPS + 1, 4, 2, 2), torch.zeros(STEPS, 77, 32))
    tensors = unrecorded.to_tensors()
    assert set(tensors) == {"trajectory", "null_embeddings", "inner_steps"}
    assert tensors["inner_steps"].dtype == torch.int64 and tensors["inner_steps"].numel() == 0
    assert Inversion.from_tensors(tensors, "cpu").inner_steps == []


def test_memory_keeps_the_most_recently_used():
    """With room for two, reading an entry makes it the most recent: the next put drops the least recent one.
    Hits and misses are counted; a hit in memory is the object put there. By default there is room for 64."""
    cache = InversionCache(max_items=2)
    a, b, c = direct_inversion(), null_text_inversion(), direct_inversion()
    cache.put("a", a)
    cache.put("b", b)
    assert cache.get("a", "cpu") is a  # "a" is now the most recent
    cache.put("c", c)
    assert cache.get("b", "cpu") is None
    assert cache.get("a", "cpu") is a and cache.get("c", "cpu") is c
    assert (cache.hits, cache.misses) == (3, 1)
    cache.put("a", b)  # a put replaces the entry and makes it the most recent
    cache.put("d", c)
    assert cache.get("a", "cpu") is b and cache.get("c", "cpu") is None
    assert (cache.hits, cache.misses) == (4, 2)
    default = InversionCache()  # room for 64
    for i in range(65):
        default.put(str(i), a)
    assert default.get("0", "cpu") is None and default.get("1", "cpu") is a and len(default._memory) == 64


def test_disk_outlives_memory(tmp_path):
    """`clear` forgets what is in memory; the files stay and are read back, then kept in memory again (evicted
    entries too). No directory ("" or None): memory only."""
    cache = InversionCache(tmp_path / "inversions", max_items=1)
    first, second = direct_inversion(), null_text_inversion()
    cache.put("first", first)
    cache.put("second", second)  # evicts "first" from memory, not from disk
    assert sorted(p.name for p in (tmp_path / "inversions").iterdir()) == ["first.safetensors",
                                                                         "second.safetensors"]
    loaded = cache.get("first", "cpu")
    assert loaded is not first and torch.equal(loaded.trajectory, first.trajectory)
    assert cache.get("first", "cpu") is loaded  # remembered
    cache.clear()
    again = cache.get("second", "cpu")
    assert again is not second and again.inner_steps == second.inner_steps
    assert cache.get("third", "cpu") is None
    assert (cache.hits, cache.misses) == (3, 1)
    for nowhere in ("", None):
        assert InversionCache(nowhere).directory is None


def test_the_key_holds_everything_an_inversion_depends_on(monkeypatch):
    """32 hex digits over the cache format, the image, the prompt, the model, the method, the steps, the guidance
    (as a float: 7 and 7.0 are one) and the settings; the parts are delimited, so moving text across a boundary
    changes the key."""
    import hashlib

    from builder.editors.inversion import CACHE_FORMAT

    args = (b"pixels", "a tabby cat", "local:model", "null-text", 50, 7.5, "settings")
    key = inversion_key(*args)
    # the derivation, written out: files written under it stay readable until CACHE_FORMAT says otherwise
    parts = [CACHE_FORMAT, hashlib.sha256(b"pixels").hexdigest(), "a tabby cat", "local:model", "null-text", "50",
             "7.5", "settings"]
    assert key == hashlib.sha256(b"".join(p.encode() + b"\0" for p in parts)).hexdigest()[:32]
    for i, other in enumerate((b"pixelz", "a tabby cow", "local:other", "direct", 10, 5.0, "other")):
        changed = list(args)
        changed[i] = other
        assert inversion_key(*changed) != key, i
    assert inversion_key(b"pixels", "a tabby cat", "local:model", "null-text", 50, 7, "settings") == \
        inversion_key(b"pixels", "a tabby cat", "local:model", "null-text", 50, 7.0, "settings")
    assert inversion_key(b"", "ab", "c", "m", 1, 1.0) != inversion_key(b"", "a", "bc", "m", 1, 1.0)
    assert inversion_key(b"", "a", "b", "m", 1, 1.0) == inversion_key(b"", "a", "b", "m", 1, 1.0, "")
    monkeypatch.setattr("builder.editors.inversion.CACHE_FORMAT", "older")
    assert inversion_key(*args) != key  # a new format recomputes the old files


def test_null_text_settings_are_part_of_the_key():
    """p2p-nulltext's part of the key: its settings as floats, in a fixed order and format (a changed format
    would orphan every cached null-text inversion, as a changed derivation would)."""
    from builder.editors.inversion import NullTextSettings

    assert NullTextSettings().key() == "7.5/10.0/1e-05/2e-05/0.01"
    assert NullTextSettings(7, 3, 0, 0.5, 0.02).key() == "7.0/3.0/0.0/0.5/0.02"


def test_direct_inversions_are_read_back_by_the_editor(tiny_sd, photos, tmp_path):
    """`p2p-direct` with a cache directory: a second editor reads the inversion from disk (one hit, no miss) and
    edits exactly as the first did; what it read is the trajectory alone."""
    kwargs = {"model": tiny_sd, "resolution": 64, "steps": STEPS, "cache_dir": str(tmp_path / "inversions")}
    args = ([photos["cat"]], ["a tabby cat"], ["a red tabby cat"], 2, [0])
    first = create_editor("p2p-direct", **kwargs)
    edited = first.edit(*args)[0]
    stored = next(iter(first.cache._memory.values()))
    second = create_editor("p2p-direct", **kwargs)
    again = second.edit(*args)[0]
    assert (second.cache.hits, second.cache.misses) == (1, 0) and again.metadata["inversion_cached"]
    loaded = next(iter(second.cache._memory.values()))
    assert loaded.null_embeddings is None and loaded.sampled_path is None
    assert torch.equal(loaded.trajectory, stored.trajectory)
    assert np.array_equal(np.asarray(again.image), np.asarray(edited.image))
