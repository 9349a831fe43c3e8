"""ImageNet-TC: ImageNet validation images edited by text-guided diffusion into other domains.

The library researchers install to score models. Its data modules need PyYAML and numpy only: the ImageNet-1k
class index (`classes`), the WordNet hierarchy and the groups that become the dataset's configs (`hierarchy`), the
prompt hierarchy (`prompts`), the metrics (`metrics`) and the results file read as one typed object (`results`).
Evaluation, reports, submissions and leaderboards import
torch, datasets, matplotlib and huggingface_hub lazily. It never imports `builder`, the maintainers' tooling,
except where its command line dispatches `imagenet-tc demo` (tests/test_layers.py).
"""

__version__ = "0.1.0"
