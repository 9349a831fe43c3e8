"""The build loop: a recipe's shards of rows, generated, scored and written, resumable on one process or many.

`generate` runs the build (`python -m builder build`); `quality` scores every row (CLIP label rank and edit
direction, SSIM) and applies the recipe's thresholds; `determinism` sets the deterministic kernels; `parquet_files`
writes parquet the way `datasets` does for the Hub.
"""
