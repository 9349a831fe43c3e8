"""Audits: a submitted results file checked by rerunning its model on a random sample of its rows.

`sample` draws the rows and says what a sample of that size can catch, `rerun` loads the recorded model and
dataset and reruns rows, `run` is the audit itself, `record` the audit record it writes, `cli` the
`imagenet-tc audit` command.
"""

from imagenet_textcorrupt.audit.record import (AUDITED, REFUSED, UNAUDITABLE, AuditError, AuditRecord, Unauditable,
                                               read_record, write_record)
from imagenet_textcorrupt.audit.run import DEFAULT_ROWS, audit_results
from imagenet_textcorrupt.audit.sample import detection_probability, draw_rows, rows_needed

AUDIT_SUFFIX = ".audit.json"  # the record beside a results file: results.json -> results.audit.json

__all__ = ["AUDITED", "AUDIT_SUFFIX", "DEFAULT_ROWS", "REFUSED", "UNAUDITABLE", "AuditError", "AuditRecord",
           "Unauditable", "audit_results", "detection_probability", "draw_rows", "read_record", "rows_needed",
           "write_record"]
