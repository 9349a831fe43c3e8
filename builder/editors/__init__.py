"""Text-guided image editors behind one interface: `create_editor(name, ...)`, then `editor.edit(...)`.

    from builder.editors import create_editor
    editor = create_editor("p2p-nulltext", model="CompVis/stable-diffusion-v1-4", device="cuda")
    results = editor.edit(images, source_prompts, target_prompts, severity=2, seeds=[0, 1])

Registered editors: `p2p-nulltext` (the source study's null-text inversion + prompt-to-prompt), `p2p-direct`
(the same attention control over a direct inversion that needs no optimisation), `instruct-pix2pix` and `sdedit`,
and `imagenet-c`, the 15 ImageNet-C corruptions (`builder.editors.corruptions`) behind the same interface.
"""

from builder.editors.base import EDITORS, EditResult, Editor, EditorError, create_editor, list_editors
from builder.editors.preprocess import ImageInputError, prepare_image

__all__ = ["EDITORS", "EditResult", "Editor", "EditorError", "ImageInputError", "create_editor", "list_editors",
           "prepare_image"]
