"""ImageNet-TC maintainers' tooling: regenerate shipped data, plan, build, review, validate and publish releases.

Run as `python -m builder <command>`. Heavy dependencies (nltk, diffusers, ...) are imported inside the commands
that need them, so `python -m builder --help` works on a core install.

The subpackages, in the order the data goes through them:

- `planning`: what a release holds and what it will cost: recipes, sources, the plan, model pins, WordNet.
- `study`: the source study reproduced: its selection of ImageNet images and its prompts (a source of `planning`).
- `generation`: the build loop: shards of edited rows, quality scores, deterministic kernels, parquet files.
- `editors`: the text-guided editors behind one interface, and the ImageNet-C corruptions.
- `review`: people judge whether edits keep their label; rates, agreement, calibration, the hard subset.
- `release`: a build assembled into a release folder, its card and eval.yaml, validated, published; the metric
  Space's copy of the metrics (`metric_space`).
- `micro`: the micro world, its classifier, the micro text-to-image model and the tiny test pipelines.
- `editor_bench`: editors judged on the micro world against its ground truth.
- `cli`: the command line, one module per group of commands; `demo`: `imagenet-tc demo`'s orchestration.
"""
