"""Release assembly throughput (MB/s of build shards in) against a plain pyarrow read-and-write of the same shards.

The build is made once (the smoke recipe, its shards copied N times under new ids to get a size worth timing);
then, in the same run, `release.assemble` (per-config routing, rollover, card, eval.yaml) and a bare loop that
reads every shard with pyarrow and writes it once to a single file with the same compression.

    python bench/release.py [--copies 60] [--repeats 3]

Goal: assemble / plain >= 0.8 in MB/s. Ends with one line: BENCH {json}.
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


def make_build(root: Path, copies: int) -> Path:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from builder.__main__ import main

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
            pq.write_table(table, smoke / name, row_group_size=100, compression="zstd")
            shards.append({**entry, "shard": len(shards), "file": name})
    manifest.update(shards=shards, shards_total=len(shards), rows=manifest["rows"] * copies)
    (smoke / "manifest.json").write_text(json.dumps(manifest))
    return smoke


def plain_copy(build: Path, out: Path) -> None:
    import pyarrow.parquet as pq

    files = sorted((build / "shards").glob("shard-*.parquet"))
    writer = None
    for file in files:
        table = pq.read_table(file)
        if writer is None:
            writer = pq.ParquetWriter(out, table.schema, compression="zstd")
        writer.write_table(table, row_group_size=100)
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from builder.release import assemble

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
    print(f"{megabytes:.1f} MB of shards: assemble {ours_mb_s:.1f} MB/s, plain pyarrow {plain_mb_s:.1f} MB/s, "
          f"ratio {ours_mb_s / plain_mb_s:.3f}")
    print("BENCH " + json.dumps({"megabytes": megabytes, "assemble_mb_s": ours_mb_s, "plain_mb_s": plain_mb_s,
                                 "ratio": ours_mb_s / plain_mb_s, "repeats": args.repeats}))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
