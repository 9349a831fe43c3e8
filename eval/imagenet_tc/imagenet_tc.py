"""ImageNet-TC as an `evaluate` metric module: a thin layer that declares the input features (which `evaluate`
checks) and calls the metrics' `compute` (which validates the values, naming the field and row), so
`evaluate.load(...)` and `imagenet-tc evaluate` give the same numbers from one implementation.
imagenet_tc_core.py beside it is `imagenet_textcorrupt/metrics/paired.py`, and imagenet_tc_inputs.py and
imagenet_tc_bootstrap.py the metrics modules it builds on, copied standalone by `python -m builder metric-space`
(imagenet-textcorrupt is not on PyPI, so a Space cannot install it); the tests check the copies.

evaluate copies into its module cache only the files this one imports itself (it reads this file's imports, not
theirs), locally and from the Hub alike: so each copy is imported here by name."""

import datasets
import evaluate

# imagenet_tc_core imports the other two: they are named here so that evaluate copies them (no comment may follow
# an import line: evaluate reads the rest of the line as the URL of the file)
from .imagenet_tc_bootstrap import Bootstrap
from .imagenet_tc_core import DEFAULT_RESAMPLES
from .imagenet_tc_core import compute
from .imagenet_tc_inputs import MetricInputError

_DESCRIPTION = """\
Robustness metrics of ImageNet-TC (text-guided corruptions of ImageNet): top-1 and top-5 accuracy of the clean
images and of the edits, overall and per domain, severity, group and template; the paired accuracy drop (each edit
against its own clean image), relative robustness and flip rate; every figure with a 95% bootstrap interval that
resamples source images.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: per row the predicted class index (0-999), or the ranked top-k class indices (top-5 needs k >= 5).
    references: per row the true class index.
    domains: per row "original", the edit's domain (drawing, weather, color, texture, context), or for an
        ImageNet-C row rendered on the same source image its corruption (gaussian_noise, ..., jpeg_compression).
    severities: per row 0 for originals, 1-3 for edits.
    source_ids: per row the id of the clean image the row comes from (its own id for originals).
    groups: per row the hierarchy group (dataset config) of the class.
    templates (optional): per row the edit's prompt template, for the per-template figures.
    config_predictions (optional): per row the ranked classes with logits masked to the config's classes.
    resamples (optional, default 1000): bootstrap resamples; 0 disables the intervals.
    seed (optional, default 0): seed of the bootstrap.
Returns:
    The dictionary of `imagenet_textcorrupt.metrics.compute`: "clean", "edited", "by_domain", "by_severity",
    "by_domain_severity", "by_group", "by_template", "errors", "counts"; each estimate is
    {"value", "ci_low", "ci_high"} as a fraction.
Examples:
    >>> metric = evaluate.load("eval/imagenet_tc")  # a folder named imagenet_tc, this file, or the Space id
    >>> out = metric.compute(predictions=[281, 281, 285], references=[281, 281, 281],
    ...                      domains=["original", "drawing", "weather"], severities=[0, 1, 2],
    ...                      source_ids=["a", "a", "a"], groups=["animals"] * 3, resamples=0)
    >>> round(out["edited"]["top1"]["value"], 2)
    0.5
"""

_CITATION = """\
@inproceedings{mofayezi2023benchmarking,
  title={Benchmarking Robustness to Text-Guided Corruptions},
  author={Mofayezi, Mohammadreza and Medghalchi, Yasamin},
  booktitle={CVPR Workshops},
  year={2023}
}
"""

_COMMON = {
    "references": datasets.Value("int64"),
    "domains": datasets.Value("string"),
    "severities": datasets.Value("int64"),
    "source_ids": datasets.Value("string"),
    "groups": datasets.Value("string"),
}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ImagenetTc(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features({"predictions": datasets.Sequence(datasets.Value("int64")), **_COMMON}),
                datasets.Features({"predictions": datasets.Value("int64"), **_COMMON}),
            ],
            reference_urls=["https://arxiv.org/abs/2304.02963", "https://arxiv.org/abs/1903.12261"],
        )

    def _compute(self, predictions, references, domains, severities, source_ids, groups, templates=None,
                 config_predictions=None, resamples=DEFAULT_RESAMPLES, seed=0):
        return compute(predictions, references, domains, severities, source_ids, groups, templates,
                       config_predictions, resamples=resamples, seed=seed)
