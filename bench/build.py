"""The build loop against a bare loop that calls the same editor on the same items, and memory against size.

Each measurement runs in a fresh process over an ImageFolder of N images (crops of the sample photos): first a
bare loop (open, preprocess, one editor.edit with all of an image's edits; nothing scored, encoded or written),
then the full `Builder.run` (plus QC scoring, PNG encoding, parquet shards, manifest), both on the same items in
the same process. items/s full / bare is what rejects, QC bookkeeping and shard writing cost; it is given with QC scoring
off too (QC is model work of its own). Peak RSS at 2N and 3N images over N says whether memory grows with the
release.

    python bench/build.py [--images 8]

Goals: full/bare >= 0.95 with QC off; peak memory flat in N. Ends with one line: BENCH {json}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


RECIPE = {
    "name": "bench", "version": "0.0.1", "seed": 0,
    "selection": {"classes": ["n02123045", "n07920052", "n04485082", "n03773504"], "images_per_class": 1000},
    "prompts": {"version": "1.1.0", "domains": ["drawing", "color"], "templates_per_domain": 1},
    "severities": [1, 2],
    "editor": {"name": "p2p-direct", "model": "tiny:sd", "dtype": "float32", "steps": 4, "batch_size": 4},
    "output": {"resolution": 64, "format": "png", "shard_size": 20},
    "qc": {"model": "tiny:clip", "label_rank_max": 1000, "edit_direction_min": -1.0, "ssim_min": 0.0},
}
PHOTOS = {"n02123045": "chelsea", "n07920052": "coffee", "n04485082": "camera", "n03773504": "rocket"}


def make_folder(root: Path, images: int) -> Path:
    import numpy as np
    from PIL import Image
    from skimage import data

    val = root / "val"
    for i in range(images):
        wnid = list(PHOTOS)[i % len(PHOTOS)]
        photo = Image.fromarray(np.asarray(getattr(data, PHOTOS[wnid])()))
        left = (i * 7) % max(1, photo.width // 4)
        (val / wnid).mkdir(parents=True, exist_ok=True)
        photo.crop((left, 0, left + photo.width * 3 // 4, photo.height)).save(val / wnid / f"img_{i:04d}.JPEG")
    return val


def child(images: int, qc: bool) -> dict:
    from builder.editors.preprocess import prepare_image
    from builder.generation.generate import Builder
    from builder.planning.plan import make_shards
    from builder.planning.recipes import parse_recipe

    with tempfile.TemporaryDirectory() as tmp:
        raw = {**RECIPE, "source": {"type": "imagefolder", "path": str(make_folder(Path(tmp), images))},
               "qc": {**RECIPE["qc"], "enabled": qc}}
        recipe = parse_recipe(raw, "bench.yaml")
        builder = Builder(recipe, Path(tmp) / "build", progress=False)
        shards = make_shards(recipe, builder.source.select(recipe))
        items = sum(len(s.items) for s in shards)
        editor = builder.editor
        if qc:
            builder.scorer  # load before timing, as the bare loop's editor is
        start = time.perf_counter()
        for shard in shards:  # the bare loop: the same editor calls (all edits of an image in one)
            for image, picture in builder.source.iter_open(list(shard.images)):
                original = prepare_image(picture, recipe.output.resolution)
                edits = [i for i in shard.items if i.source_id == image.source_id and i.severity > 0]
                editor.edit([original] * len(edits), [i.source_prompt for i in edits], [i.prompt for i in edits],
                            [i.severity for i in edits], [i.seed for i in edits])
        bare = time.perf_counter() - start
        editor.cache.clear()
        start = time.perf_counter()
        builder.run()
        full = time.perf_counter() - start
    return {"images": images, "items": items, "qc": qc, "bare_items_per_s": items / bare,
            "full_items_per_s": items / full, "full_over_bare": bare / full,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_child(images: int, qc: bool) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", str(images), "--qc", str(int(qc))],
                          capture_output=True, text=True, env={**os.environ}, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--qc", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, bool(args.qc))))
        return
    n = args.images
    runs = [run_child(n, False), run_child(n, True), run_child(2 * n, False), run_child(3 * n, False)]
    for r in runs:
        print(f"images={r['images']:3d} items={r['items']:4d} qc={'on ' if r['qc'] else 'off'} "
              f"bare={r['bare_items_per_s']:.2f}/s full={r['full_items_per_s']:.2f}/s "
              f"full/bare={r['full_over_bare']:.3f} peak={r['peak_rss_mb']:.0f} MB")
    figures = {"runs": runs, "full_over_bare_qc_off": runs[0]["full_over_bare"],
               "full_over_bare_qc_on": runs[1]["full_over_bare"],
               "peak_rss_2n_over_n": runs[2]["peak_rss_mb"] / runs[0]["peak_rss_mb"],
               "peak_rss_3n_over_n": runs[3]["peak_rss_mb"] / runs[0]["peak_rss_mb"]}
    print(f"full/bare qc off {figures['full_over_bare_qc_off']:.3f}, qc on {figures['full_over_bare_qc_on']:.3f}; "
          f"peak memory 2N/N {figures['peak_rss_2n_over_n']:.3f}, 3N/N {figures['peak_rss_3n_over_n']:.3f}")
    print("BENCH " + json.dumps(figures))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
