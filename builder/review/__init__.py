"""Human review of the edits: does an edited image still show its class?

`folder` reads the rows of a build or a release, `sample` draws the stratified seeded sample every reviewer sees,
`verdicts` appends and reads the answers (`reviews/<reviewer>.jsonl`), `server` is the review page, `stats` turns
verdicts into label-keeping rates with stratified intervals, agreement and calibrated QC thresholds, `stats_text`
prints them, `evidence` gives the figures in the forms the release and `plan` publish, and `hard` finds the hard
subset: QC-passing edits that most surrogate classifiers get wrong.
"""
