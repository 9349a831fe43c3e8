"""The micro world (procedural captioned images), its classifier, and the micro text-to-image model trained on it.

`world` draws the scenes, `classify` reads their shape, `model` builds the micro model's parts, `train` trains it
(`python -m builder train-micro`) and `weights/` holds the shipped one (`tiny:micro`), `benchmark` measures editors
on it; `tiny_models` builds the tiny random-weight pipelines the tests and smoke runs use (`tiny:sd`, `tiny:ip2p`,
`tiny:clip`); `byte_vocab` is CLIP's byte-level vocabulary that both models' tokenizers start from.
"""
