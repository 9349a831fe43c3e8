"""ImageNet-TC maintainers' tooling: regenerate shipped data, plan, build, validate and publish releases.

Run as `python -m builder <command>`. Heavy dependencies (nltk, diffusers, ...) are imported inside the commands
that need them, so `python -m builder --help` works on a core install.
"""
