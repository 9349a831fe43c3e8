"""The Hugging Face Space that serves the ImageNet-TC metric: a form over the module's `compute`.

evaluate's own widget (`evaluate.utils.launch_gradio_widget`) builds its form with `gr.inputs`/`gr.outputs`, which
gradio 4 removed, so the Space builds its own `gr.Interface` on current gradio. Each list column is pasted as a
JSON list (one value per row); the result is the metric's dictionary. Bad input comes back as the module's own
message, naming the field and row.

The module is loaded by the path of the file beside this one: a bare name ("imagenet_tc") makes `evaluate.load`
look for evaluate-metric/imagenet_tc on the Hub, and the folder's path would make it look for <folder name>.py,
which in a Space (cloned into a folder named app) is this file.

Run locally with `python app.py`: gradio binds 127.0.0.1 (port 7860, or GRADIO_SERVER_PORT) unless
GRADIO_SERVER_NAME says otherwise, as the Spaces runtime does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import evaluate
import gradio as gr

module = evaluate.load(str(Path(__file__).resolve().with_name("imagenet_tc.py")))

# (argument of compute, label, example, whether the metric needs it)
LIST_INPUTS = (
    ("predictions", "predictions: top-1 class per row, or the ranked top-k classes", "[[281, 282, 285, 287, 283], "
     "[285, 281, 282, 287, 283]]", True),
    ("references", "references: the true class per row", "[281, 281]", True),
    ("domains", "domains: original or the edit's domain", '["original", "drawing"]', True),
    ("severities", "severities: 0 for originals, 1-3 for edits", "[0, 2]", True),
    ("source_ids", "source_ids: the clean image each row comes from", '["n02123045_0001", "n02123045_0001"]', True),
    ("groups", "groups: the hierarchy group (config) of each row", '["animals", "animals"]', True),
    ("templates", "templates (optional): the edit's prompt template per row", "", False),
    ("config_predictions", "config_predictions (optional): ranked classes within the config", "", False),
)
MAX_RESAMPLES = 10_000  # a public form: bound the work one request can ask for


def parse_list(name: str, text: str, required: bool) -> list[Any] | None:
    """One pasted column: a JSON list, or None for an empty optional one."""
    if not text or not text.strip():
        if required:
            raise gr.Error(f"{name}: required (a JSON list with one value per row)")
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise gr.Error(f"{name}: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None
    if not isinstance(value, list):
        raise gr.Error(f"{name}: expected a JSON list with one value per row, got {type(value).__name__}")
    return value


def score(*values: Any) -> dict[str, Any]:
    """The metric's dictionary for the pasted columns, resamples and seed (the form's fields, in order)."""
    columns, (resamples, seed) = values[:len(LIST_INPUTS)], values[len(LIST_INPUTS):]
    inputs = {}
    for (name, _, _, required), text in zip(LIST_INPUTS, columns):
        parsed = parse_list(name, text, required)
        if parsed is not None:
            inputs[name] = parsed
    try:  # gradio has held resamples to the field's 0-MAX_RESAMPLES
        return module.compute(**inputs, resamples=int(resamples or 0), seed=int(seed or 0))
    except (ValueError, TypeError) as error:  # the module's own checks name the field and the row
        raise gr.Error(str(error)) from None


def card_text() -> str:
    """The metric card below the form (README.md without its YAML header)."""
    text = Path(__file__).with_name("README.md").read_text(encoding="utf-8")
    return text.split("\n---\n", 1)[1] if text.startswith("---\n") else text


demo = gr.Interface(
    fn=score,
    inputs=[gr.Textbox(label=label, value=example, lines=2, elem_id=f"input-{name}")
            for name, label, example, _ in LIST_INPUTS]
    + [gr.Number(label="resamples (bootstrap; 0: no intervals)", value=1000, precision=0, minimum=0,
                 maximum=MAX_RESAMPLES, elem_id="input-resamples"),
       gr.Number(label="seed", value=0, precision=0, elem_id="input-seed")],
    outputs=gr.JSON(label="ImageNet-TC metrics", elem_id="result", open=True),
    title="Metric: imagenet_tc",
    description="Paste each column as a JSON list with one value per row (the example is two rows: a clean image "
                "and one edit of it), then submit.",
    article=card_text(),
    flagging_mode="never",
    api_name="score",
)

if __name__ == "__main__":
    demo.launch()
