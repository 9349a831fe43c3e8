"""ImageNet-TC: ImageNet validation images edited by text-guided diffusion into other domains.

The core package is light (PyYAML only): the ImageNet-1k class index (`classes`), the WordNet hierarchy and the
groups that become the dataset's configs (`hierarchy`), and the prompt hierarchy (`prompts`). Heavier parts
(evaluation, the release builder) import their dependencies lazily.
"""

__version__ = "0.1.0"
