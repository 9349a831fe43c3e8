"""A miniature ImageNet-TC release of real photographs, for the evaluation tests and benchmarks.

The five sample photos scikit-image ships (the builder's `samples` source, with their ImageNet labels) are the
originals; classical image operations stand in for the diffusion edits (grayscale for color, blur for weather,
an edge drawing for drawing), so a real pretrained classifier gives predictions one can reason about. Rows follow
the release schema and the Hub layout (`data/<group>/test-00000-of-00001.parquet`, a README with configs).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image, ImageFilter, ImageOps

# (domain, template, severity, operation)
STAND_IN_EDITS = (
    ("color", "a grayscale photo of {a} {class}", 1, lambda im: ImageOps.grayscale(im).convert("RGB")),
    ("weather", "{a} {class} in fog", 1, lambda im: im.filter(ImageFilter.GaussianBlur(2))),
    ("weather", "{a} {class} in fog", 2, lambda im: im.filter(ImageFilter.GaussianBlur(8))),
    ("drawing", "a pencil drawing of {a} {class}", 1,
     lambda im: ImageOps.invert(ImageOps.grayscale(im).filter(ImageFilter.FIND_EDGES)).convert("RGB")),
)


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt.upper(), **({"quality": 95} if fmt == "jpeg" else {}))
    return buffer.getvalue()


def photo_rows(size: int = 256, copies: int = 1, fmt: str = "png", edits: bool = True) -> list[dict[str, Any]]:
    """Originals and stand-in edits of the sample photos, centre-cropped to `size` and stored as `fmt` (png or
    jpeg, as releases do); `copies` repeats each photo as further source images (for throughput measurements)."""
    from builder.editors.preprocess import prepare_image
    from builder.planning.sources import SAMPLE_PHOTOS

    from imagenet_textcorrupt.classes import get_class
    from imagenet_textcorrupt.hierarchy import load_hierarchy

    hierarchy = load_hierarchy()
    rows = []
    photos = {name: prepare_image(load(), size).image for name, (_, load) in SAMPLE_PHOTOS.items()}
    for copy in range(copies):
        for name, (wnid, _) in SAMPLE_PHOTOS.items():
            source_id = f"sample-{name}" + (f"-{copy}" if copy else "")
            original = photos[name]
            cls = get_class(wnid)
            base = {"source_id": source_id, "label": cls.index, "wnid": wnid, "group": hierarchy.group_of(wnid),
                    "source_prompt": f"a photo of {cls.name_with_article}", "editor": "",
                    "model": "", "seed": 0, "steps": 0, "guidance": 0.0, "edit_parameters": "{}",
                    "prompts_version": "1.0.0", "clip_label_rank": 1, "clip_label_prob": 1.0,
                    "clip_edit_direction": 0.0, "ssim": 1.0, "passed_qc": True}
            rows.append({**base, "id": source_id, "image": {"bytes": _encode(original, fmt), "path": None},
                         "domain": "original", "template": "", "prompt": "", "severity": 0})
            for index, (domain, template, severity, operation) in enumerate(STAND_IN_EDITS if edits else ()):
                rows.append({**base, "id": f"{source_id}-{domain}-p{index:03d}-s{severity}",
                             "image": {"bytes": _encode(operation(original), fmt), "path": None}, "domain": domain,
                             "template": template,
                             "prompt": template.replace("{a} {class}", cls.name_with_article),
                             "severity": severity, "editor": "stand-in", "model": "PIL"})
    return rows


def write_photo_release(root: str | Path, size: int = 256, copies: int = 1, version: str = "0.0.1",
                        fmt: str = "png", edits: bool = True) -> Path:
    """Writes the miniature release: one parquet file per group, a README whose YAML lists the configs (every
    group and "all"), and a release.json with the version."""
    from datasets import Dataset

    from imagenet_textcorrupt.schema import COLUMNS, features, shard_file

    root = Path(root)
    rows = photo_rows(size, copies, fmt, edits)
    groups = sorted({r["group"] for r in rows})
    for group in groups:
        subset = [r for r in rows if r["group"] == group]
        table = {column: [r[column] for r in subset] for column in COLUMNS}
        path = root / shard_file(group, 0, 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        Dataset.from_dict(table, features=features()).to_parquet(str(path))
    configs = [{"config_name": "all", "data_files": [{"split": "test", "path": "data/*/test-*.parquet"}],
                "default": True}]
    configs += [{"config_name": g, "data_files": [{"split": "test", "path": f"data/{g}/test-*.parquet"}]}
                for g in groups]
    (root / "README.md").write_text("---\n" + json.dumps({"configs": configs}) + "\n---\n# photo release\n")
    (root / "release.json").write_text(json.dumps({"name": "photo-release", "version": version}))
    return root
