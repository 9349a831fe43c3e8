"""Parquet files written the way `datasets` writes them for the Hub (`Dataset.push_to_hub`, `to_parquet`).

- Content-defined chunking (`datasets.config.DEFAULT_CDC_OPTIONS`): data pages end where the content says, not at
  fixed offsets, so a later release that changes a few rows rewrites a few pages and the Hub's Xet storage
  deduplicates the rest (`bench/release.py` measures what a second upload sends).
- A page index (column and offset indexes), which readers use to fetch only the pages they need.
- The image column uncompressed and PLAIN-encoded (JPEG/PNG bytes do not compress; compressing them would also hide
  unchanged bytes from the deduplication); every other column snappy with dictionaries: the per-column options
  come from `datasets.arrow_writer.get_parquet_column_options`, so they follow the installed `datasets`.
- Row groups capped by bytes (`datasets.config.MAX_ROW_GROUP_SIZE`, 100 MB uncompressed) rather than rows.

The chunking options are recorded in the file's key-value metadata under `content_defined_chunking`, as `datasets`
records them.
"""

from __future__ import annotations

import json
from typing import Any

CDC_METADATA_KEY = "content_defined_chunking"
# datasets.config.MAX_ROW_GROUP_SIZE ("100MB", decimal): the uncompressed size at which a row group is closed
# (tests/test_release.py checks they agree)
ROW_GROUP_BYTES = 100 * 1000 * 1000


def writer_options(features: Any, schema: Any, content_defined_chunking: bool = True) -> dict[str, Any]:
    """The keyword arguments of `pyarrow.parquet.ParquetWriter` that `datasets` passes for these features."""
    from datasets import config
    from datasets.arrow_writer import get_parquet_column_options

    return {"use_content_defined_chunking": dict(config.DEFAULT_CDC_OPTIONS) if content_defined_chunking else False,
            "write_page_index": True, **get_parquet_column_options(features, schema)}


def open_writer(where: Any, features: Any, content_defined_chunking: bool = True) -> Any:
    """A `pyarrow.parquet.ParquetWriter` on `where` (a path or a binary file object) for rows of `features`."""
    import pyarrow.parquet as pq

    schema = features.arrow_schema
    options = writer_options(features, schema, content_defined_chunking)
    writer = pq.ParquetWriter(where, schema, **options)
    if options["use_content_defined_chunking"]:
        writer.add_key_value_metadata({CDC_METADATA_KEY: json.dumps(options["use_content_defined_chunking"])})
    return writer


def write_table(table: Any, where: Any, features: Any, content_defined_chunking: bool = True) -> None:
    """Write `table` to `where` in one file, in row groups of at most ROW_GROUP_BYTES uncompressed."""
    writer = open_writer(where, features, content_defined_chunking)
    try:
        for group in row_groups(table, ROW_GROUP_BYTES):
            writer.write_table(group)
    finally:
        writer.close()


def row_groups(table: Any, limit: int) -> list[Any]:
    """`table` cut into consecutive slices of at most `limit` uncompressed bytes each (at least one row each), as
    `datasets` sizes them: rows per group from the table's average row size."""
    if table.num_rows == 0:
        return [table]
    rows = max(1, table.num_rows * limit // max(1, table.nbytes))
    return [table.slice(start, rows) for start in range(0, table.num_rows, rows)]
