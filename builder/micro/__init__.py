"""The micro world (procedural captioned images), its classifier, and the micro text-to-image model trained on it."""
