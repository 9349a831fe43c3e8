"""Release assembly: throughput, and what a second release uploads to the Hub.

1. Throughput (MB/s of build shards in): `release.assemble` (per-config routing, rollover, card, eval.yaml,
   LICENSE, files written as `datasets` writes them) against a bare loop that reads every shard with pyarrow and
   writes it once to a single file with the same writer options. Goal: assemble / plain >= 0.8.
2. Upload of a second release that changes 1% of the rows (their images re-made, as a new editor run would, and
   their QC scores), measured with the Hub's own Xet client (hf_xet) against a local content-addressed store: the
   first release is uploaded, then the second, and the second's new bytes are what the Hub would receive. Files
   written with content-defined chunking (ours, as `datasets` writes) against the same writer without it, and
   against the ZSTD, fixed-row-group files releases were written as before. Goal: with CDC, the second upload is
   under 10% of its size.

The build is made once (the smoke recipe, its shards copied N times under new ids to get a size worth timing).

    python bench/release.py [--copies 60] [--repeats 3]

Ends with one line: BENCH {json}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


CHANGES = ("edited", "removed", "added")


def make_build(root: Path, copies: int) -> Path:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from builder.cli import main
    from imagenet_textcorrupt.checksums import sha256_file

    smoke = root / "smoke"
    assert main(["build", "--recipe", "smoke", "--out", str(smoke), "--no-progress"]) == 0
    manifest = json.loads((smoke / "manifest.json").read_text())
    shards = []
    for copy in range(copies):  # the same rows under new ids: a bigger build with the same content mix
        for entry in manifest["shards"]:
            table = pq.read_table(smoke / entry["file"])
            for column in ("id", "source_id"):
                renamed = pc.binary_join_element_wise(table.column(column), pa.scalar(f"-c{copy}"), "")
                table = table.set_column(table.schema.get_field_index(column), column, renamed)
            name = f"shards/shard-{len(shards):05d}.parquet"
            pq.write_table(table, smoke / name, row_group_size=100, compression="zstd")  # as built: any layout
            shards.append({**entry, "shard": len(shards), "file": name, "sha256": sha256_file(smoke / name)})
    manifest.update(shards=shards, shards_total=len(shards), rows=manifest["rows"] * copies)
    (smoke / "manifest.json").write_text(json.dumps(manifest))
    return smoke


def plain_copy(build: Path, out: Path) -> None:
    import pyarrow.parquet as pq

    from builder.generation.parquet_files import open_writer
    from imagenet_textcorrupt.schema import features

    files = sorted((build / "shards").glob("shard-*.parquet"))
    writer = open_writer(out, features())
    for file in files:
        writer.write_table(pq.read_table(file))
    writer.close()


def second_release(table, share: float, change: str, seed: int = 0):
    """`table` with `share` of its rows changed, and how many. `change`: "edited" (a new run of the editor: other
    image bytes, the image turned half a turn and encoded again, and other QC scores; ids and order as before),
    "removed" (the rows dropped, as new QC thresholds drop edits) or "added" (as many new rows inserted after
    them: the changed copies under new ids)."""
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    from PIL import Image

    rng = np.random.default_rng(seed)
    changed = set(rng.choice(table.num_rows, size=max(1, round(table.num_rows * share)), replace=False).tolist())
    if change == "removed":
        keep = pa.array([row not in changed for row in range(table.num_rows)])
        return table.filter(keep), len(changed)
    images = table.column("image").to_pylist()
    probs = table.column("clip_label_prob").to_pylist()
    for row in changed:
        picture = Image.open(io.BytesIO(images[row]["bytes"]))
        buffer = io.BytesIO()
        picture.rotate(180).save(buffer, format=picture.format or "PNG")
        images[row] = {**images[row], "bytes": buffer.getvalue()}
        probs[row] = probs[row] * 0.5
    edited = table.set_column(table.schema.get_field_index("image"), table.schema.field("image"),
                              pa.array(images, type=table.schema.field("image").type))
    field = table.schema.field("clip_label_prob")
    edited = edited.set_column(table.schema.get_field_index(field.name), field, pa.array(probs, type=field.type))
    if change == "edited":
        return edited, len(changed)
    new = edited.set_column(table.schema.get_field_index("id"), "id",
                            pc.binary_join_element_wise(table.column("id"), pa.scalar("-new"), ""))
    order = [index for row in range(table.num_rows)
             for index in ([row, table.num_rows + row] if row in changed else [row])]
    return pa.concat_tables([table, new]).take(pa.array(order)), len(changed)


def xet_upload(store: Path, path: Path) -> dict[str, int]:
    """Upload `path` into the local Xet store `store` with the Hub's client; the bytes it adds and sends."""
    import hf_xet

    commit = hf_xet.XetSession().new_upload_commit(endpoint=f"local://{store}")
    commit.start_upload_file(str(path), sha256=hf_xet.SKIP_SHA256)
    metrics = commit.wait_to_finish().dedup_metrics
    return {"file_bytes": path.stat().st_size, "new_bytes": metrics.new_bytes,
            "sent_bytes": metrics.total_bytes_uploaded}


def upload_delta(build: Path, root: Path, share: float, change: str) -> dict[str, dict[str, float]]:
    """New bytes of the second release's upload, per way of writing the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from builder.generation import parquet_files
    from imagenet_textcorrupt.schema import features

    row_features = features()
    first = pa.concat_tables(pq.read_table(f) for f in sorted((build / "shards").glob("shard-*.parquet")))
    first = first.cast(row_features.arrow_schema)
    second, changed = second_release(first, share, change)
    writers = {
        "cdc": lambda table, path: parquet_files.write_table(table, path, row_features),
        "no_cdc": lambda table, path: parquet_files.write_table(table, path, row_features,
                                                                content_defined_chunking=False),
        "zstd_100_rows": lambda table, path: pq.write_table(table, path, row_group_size=100, compression="zstd"),
    }
    out = {}
    for name, write in writers.items():
        store = root / f"xet-{change}-{name}"
        files = [root / f"{change}-{name}-v1.parquet", root / f"{change}-{name}-v2.parquet"]
        write(first, files[0])
        write(second, files[1])
        xet_upload(store, files[0])
        again = xet_upload(store, files[1])
        out[name] = {**again, "share_uploaded": again["new_bytes"] / again["file_bytes"], "rows": first.num_rows,
                     "rows_changed": changed}
        for file in files:
            file.unlink()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--changed", type=float, default=0.01, help="share of rows the second release changes")
    args = parser.parse_args()
    from builder.release.assemble import assemble

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build = make_build(root, args.copies)
        megabytes = sum(p.stat().st_size for p in (build / "shards").glob("shard-*.parquet")) / 1e6
        ours, plain = [], []
        for i in range(args.repeats):
            start = time.perf_counter()
            assemble(build, root / f"release-{i}", target_bytes=50 * 1024 * 1024)
            ours.append(time.perf_counter() - start)
            shutil.rmtree(root / f"release-{i}")
            start = time.perf_counter()
            plain_copy(build, root / "plain.parquet")
            plain.append(time.perf_counter() - start)
        ours_mb_s = megabytes / statistics.median(ours)
        plain_mb_s = megabytes / statistics.median(plain)
        deltas = {change: upload_delta(build, root, args.changed, change) for change in CHANGES}
    print(f"{megabytes:.1f} MB of shards: assemble {ours_mb_s:.1f} MB/s, plain pyarrow {plain_mb_s:.1f} MB/s, "
          f"ratio {ours_mb_s / plain_mb_s:.3f}")
    for change, delta in deltas.items():
        for name, figures in delta.items():
            print(f"second release, {figures['rows_changed']} of {figures['rows']} rows {change}, written {name}: "
                  f"{figures['new_bytes'] / 1e6:.2f} MB new of {figures['file_bytes'] / 1e6:.2f} MB "
                  f"({figures['share_uploaded']:.1%}), {figures['sent_bytes'] / 1e6:.2f} MB sent")
        print(f"  rows {change}: CDC uploads {delta['cdc']['new_bytes'] / delta['no_cdc']['new_bytes']:.3f} of what "
              f"the same writer without CDC uploads, "
              f"{delta['cdc']['new_bytes'] / delta['zstd_100_rows']['new_bytes']:.3f} of the former ZSTD files'")
    print("BENCH " + json.dumps({
        "megabytes": megabytes, "assemble_mb_s": ours_mb_s, "plain_mb_s": plain_mb_s,
        "ratio": ours_mb_s / plain_mb_s, "repeats": args.repeats, "second_release": deltas,
        "cdc_vs_no_cdc": {c: d["cdc"]["new_bytes"] / d["no_cdc"]["new_bytes"] for c, d in deltas.items()}}))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
