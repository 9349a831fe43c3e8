"""The files an evaluation leaves: the results JSON (provenance and metrics), read as one typed `Results`
(`format`), the predictions file beside it (`predictions`), and the check that the one matches the other
(`verify`).
"""

from imagenet_textcorrupt.results.format import (FORMAT_VERSION, RESULTS_FORMAT, DatasetRef, Figures, Metrics,
                                                 ModelRef, Results, ResultsError, check_results, load_results,
                                                 write_results)
from imagenet_textcorrupt.results.predictions import (PREDICTION_FIELDS, PREDICTIONS_SUFFIX, metrics_from_predictions,
                                                      predictions_path, read_predictions, write_predictions)
from imagenet_textcorrupt.results.verify import CHECKED, NO_PREDICTIONS, OTHER_METRICS_VERSION, verify_results

__all__ = ["CHECKED", "FORMAT_VERSION", "NO_PREDICTIONS", "OTHER_METRICS_VERSION", "PREDICTIONS_SUFFIX",
           "PREDICTION_FIELDS", "RESULTS_FORMAT", "DatasetRef", "Figures", "Metrics", "ModelRef", "Results",
           "ResultsError", "check_results", "load_results", "metrics_from_predictions", "predictions_path",
           "read_predictions", "verify_results", "write_predictions", "write_results"]
