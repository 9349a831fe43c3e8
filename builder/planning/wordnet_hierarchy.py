"""Regenerates the shipped WordNet hierarchy file (`imagenet_textcorrupt/data/wordnet_hierarchy.jsonl`).

One JSON line of header, then one line per ImageNet-1k class in index order with its synset name, lemmas,
definition and every hypernym path (root first; WordNet has multiple inheritance, so a class may have several),
sorted so the file is byte-for-byte reproducible.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.atomic import atomic_write_text
from imagenet_textcorrupt.classes import read_class_index
from imagenet_textcorrupt.errors import ImageNetTCError

from builder.planning.wordnet import WORDNET_VERSION, open_wordnet

FORMAT = "imagenet-tc/wordnet-hierarchy"


def _lemma(name: str) -> str:
    return name.replace("_", " ")


def class_record(wordnet: Any, index: int, wnid: str) -> dict[str, Any]:
    """The hierarchy record of one class, read from an nltk WordNet reader."""
    try:
        with warnings.catch_warnings():  # nltk warns, then returns None, for an offset it does not know
            warnings.simplefilter("ignore", UserWarning)
            synset = wordnet.synset_from_pos_and_offset("n", int(wnid[1:]))
    except Exception as error:  # nltk raises WordNetError or returns None on bad offsets
        raise ImageNetTCError(f"class {index} ({wnid}) is not a WordNet {WORDNET_VERSION} noun: {error}") from error
    if synset is None:
        raise ImageNetTCError(f"class {index} ({wnid}) is not a WordNet {WORDNET_VERSION} noun")
    paths = sorted([s.name() for s in path] for path in synset.hypernym_paths())
    return {
        "index": index,
        "wnid": wnid,
        "synset": synset.name(),
        "lemmas": [_lemma(lemma.name()) for lemma in synset.lemmas()],
        "definition": synset.definition(),
        "paths": paths,
    }


def render_hierarchy(wordnet: Any) -> str:
    """The full file content for every class of the shipped class index."""
    wnids = [row.wnid for row in read_class_index()]
    header = {"format": FORMAT, "wordnet_version": WORDNET_VERSION, "classes": len(wnids)}
    lines = [json.dumps(header, ensure_ascii=False)]
    lines += [json.dumps(class_record(wordnet, i, wnid), ensure_ascii=False) for i, wnid in enumerate(wnids)]
    return "\n".join(lines) + "\n"


def write_hierarchy(out: str | Path, wordnet_dir: str | Path | None = None) -> Path:
    """Regenerate the hierarchy file at `out` (atomically) from nltk's WordNet or a WordNet dict folder."""
    with open_wordnet(wordnet_dir) as wordnet:
        text = render_hierarchy(wordnet)
    return atomic_write_text(out, text)
