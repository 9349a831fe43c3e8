"""The Hugging Face Space that serves the metric module (gradio widget)."""

import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("imagenet_tc")
launch_gradio_widget(module)
