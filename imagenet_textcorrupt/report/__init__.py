"""Reports that compare evaluated models: `imagenet-tc report RESULTS... --out DIR [--reference RESULTS]`.

Results are only compared when they were scored on the same images with the same formulas: `sections` groups them
(dataset id, split, config, dataset sha, fingerprint and version, metrics version) and titles the columns;
`tables` writes the Markdown tables (mCE against a reference and effective robustness come from `metrics`);
`plots` draws the PNG plots; `write` assembles report.md and writes the folder.
"""

from imagenet_textcorrupt.report.sections import Column, Section, group_results, model_labels
from imagenet_textcorrupt.report.tables import markdown_table
from imagenet_textcorrupt.report.write import REPORT_FILE, render_markdown, report_main, write_report

__all__ = ["REPORT_FILE", "Column", "Section", "group_results", "markdown_table", "model_labels", "render_markdown",
           "report_main", "write_report"]
