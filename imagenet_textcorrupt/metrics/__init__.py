"""The metrics of ImageNet-TC: the paired metrics of one model on one config with bootstrap intervals (`paired`,
what `imagenet-tc evaluate` and the evaluate module compute), ImageNet-C's corruption errors against a reference
model (`corruption`), and effective robustness over a population of models (`effective`). The paired metrics'
inputs are checked in `inputs` and their intervals drawn in `bootstrap`.
"""

from imagenet_textcorrupt.metrics.corruption import (CorruptionErrors, corruption_error, corruption_errors,
                                                     mean_corruption_error, relative_mean_corruption_error,
                                                     shared_errors)
from imagenet_textcorrupt.metrics.effective import effective_robustness, fitted_curve
from imagenet_textcorrupt.metrics.inputs import MetricInputError, validate_rows
from imagenet_textcorrupt.metrics.paired import (DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, METRICS_VERSION, compute,
                                                 errors_by_domain)

__all__ = ["DEFAULT_CONFIDENCE", "DEFAULT_RESAMPLES", "METRICS_VERSION", "CorruptionErrors", "MetricInputError",
           "compute", "corruption_error", "corruption_errors", "effective_robustness", "errors_by_domain",
           "fitted_curve", "mean_corruption_error", "relative_mean_corruption_error", "shared_errors",
           "validate_rows"]
