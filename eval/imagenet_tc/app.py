"""The Hugging Face Space that serves the ImageNet-TC metric in evaluate's gradio widget.

The module is loaded by the path of the file beside this one: a bare name ("imagenet_tc") makes `evaluate.load`
look for evaluate-metric/imagenet_tc on the Hub, and the folder's path would make it look for <folder name>.py,
which in a Space (cloned into a folder named app) is this file.
"""

from pathlib import Path

import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load(str(Path(__file__).resolve().with_name("imagenet_tc.py")))
launch_gradio_widget(module)
