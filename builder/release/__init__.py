"""From a finished build to a published benchmark.

`assemble` turns a build into a release folder in the Hub's layout (`python -m builder release`); `card` renders
its dataset card, licence and eval.yaml (with `eval_ts_entry.ts`, the evaluation framework entry we propose to
huggingface.js); `benchmark` checks eval.yaml against the Hub's spec; `validate` checks a release folder; `publish`
uploads a validated release and tags its version; `metric_space` writes the metric Space's standalone copy
of the metrics (`python -m builder metric-space`).
"""
