"""The ImageNet-C editor against a bare loop of the same corruption functions, for releases at 224 and 512 pixels.

For each corruption and release side: rows per second of `create_editor("imagenet-c", corruption=...).edit(...)` on
the photo prepared at that side, all rows of one source image in one call as a build passes them (argument checks,
input checks, one resize to ImageNet-C's 224 pixels, metadata, uint8 PIL output), and of a bare loop that does
the same resize once and calls the registry's function on the pixels as a uint8 array with a seeded generator and
casts the result. editor/bare is what the
editor's bookkeeping costs; the bare rates say which corruptions dominate a build (glass blur's per-pixel loop).
Frost is measured only where its pictures are installed (`pip install --no-deps imagecorruptions`).

    python bench/corruptions.py [--rows 4] [--sides 224 512]

Goal: editor/bare >= 0.9 for every corruption. Ends with one line: BENCH {json}.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from PIL import Image


def rate(run, rows: int) -> float:
    """Rows per second of the best of three passes of `rows` rows (the machine is noisy)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        run(rows)
        best = min(best, time.perf_counter() - start)
    return rows / best


def main() -> None:
    from skimage import data

    from builder.editors.corruptions import (CORRUPTIONS, IMAGENET_C_SIDE, CorruptionError, corruption_names,
                                             frost_images)
    from builder.editors import create_editor, prepare_image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4, help="rows per pass (default 4)")
    parser.add_argument("--sides", type=int, nargs="+", default=[224, 512], help="image sides (default 224 512)")
    args = parser.parse_args()
    names = corruption_names()
    try:
        frost_images()
    except CorruptionError:
        names.remove("frost")
        print("frost skipped: its pictures are not installed")
    photo = Image.fromarray(data.chelsea())
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for side in args.sides:
        prepared = prepare_image(photo, side)
        figures[str(side)] = {}
        for name in names:
            editor = create_editor("imagenet-c", corruption=name, resolution=side)

            def edited(rows: int) -> None:
                editor.edit([prepared] * rows, ["a photo"] * rows, [name] * rows, [3] * rows, list(range(rows)))

            def bare(rows: int) -> None:  # one resize per source image, as a build does, then its rows
                picture = prepared.image if side == IMAGENET_C_SIDE else \
                    prepared.image.resize((IMAGENET_C_SIDE, IMAGENET_C_SIDE), Image.LANCZOS)
                for seed in range(rows):
                    np.uint8(np.clip(CORRUPTIONS[name](np.array(picture), 3, np.random.default_rng(seed)), 0, 255))

            bare_rate, editor_rate = rate(bare, args.rows), rate(edited, args.rows)
            figures[str(side)][name] = {"bare_rows_per_s": round(bare_rate, 2),
                                        "editor_rows_per_s": round(editor_rate, 2),
                                        "ratio": round(editor_rate / bare_rate, 3)}
            print(f"{side:4d} px  {name:18s} bare {bare_rate:8.2f} rows/s   editor {editor_rate:8.2f} rows/s   "
                  f"ratio {editor_rate / bare_rate:.3f}")
    worst = min(f["ratio"] for by_name in figures.values() for f in by_name.values())
    print(f"worst editor/bare ratio: {worst:.3f}")
    print("BENCH " + json.dumps({"rows": args.rows, "severity": 3, "worst_ratio": worst, "sides": figures}))


if __name__ == "__main__":
    main()
