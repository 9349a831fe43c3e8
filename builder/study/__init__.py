"""The source study, reproduced: its selection of ImageNet validation images and its target prompts.

Mofayezi & Medghalchi's code (github ckoorosh/RobuText, `generate_data.py`) seeds Python's `random` and draws,
in one sequence: 15 animal, 12 plant, ... classes from its own sub-class lists; 10 colour images of each chosen
class; then, image by image and domain by domain, one prompt template (and for Color one colour). Given the same
validation folder, the same seed and the same lists, the same draws give the same images and prompts.

- `data/robutext.yaml`: the study's lists (sub-classes, quotas, prompt templates, colours, class names, the
  domains in the order its main loop draws them), copied from its repository with the commit and licence named.
- `lists`: reads and checks that file.
- `replay`: the study's draws, written from its algorithm (none of its code is copied here); tests/test_study.py
  runs the study's own functions beside it over a fake validation folder.
- `layout`: the validation folder's layout checked (every class folder, ImageNet file names, enough colour images)
  and listed the way the study walks it.
- `source`: the `study` source of a recipe (`builder/recipes/study.yaml`): the replayed images, each carrying its
  drawn prompts, for the build and the plan.
"""
