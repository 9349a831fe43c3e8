"""The 1000 ImageNet-1k classes in the standard index order: wnid, display name, article, WordNet lemmas.

The display name is what goes into prompts and tables. It reads as natural English ("tabby cat", not
"tabby, tabby cat") and is unique across the 1000 classes, so classes that share a WordNet lemma ("crane" the bird
and "crane" the machine) or whose first lemma usually means something else ("kite", "drake") are told apart.
`article` is the indefinite article that goes before the name ("a", "an", or "" for plural and mass nouns).

The index order, wnids and names live in `data/imagenet_classes.tsv`; lemmas and definitions come from the
shipped WordNet 3.0 hierarchy file, so nothing here needs nltk.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from imagenet_textcorrupt.errors import DataFileError, UnknownNameError, closest
from imagenet_textcorrupt.resources import CLASSES_FILE, read_text, wordnet_records

NUM_CLASSES = 1000
WNID_PATTERN = re.compile(r"^n\d{8}$")
ARTICLES = {"a": "a", "an": "an", "-": ""}


@dataclass(frozen=True)
class ClassIndexRow:
    """One row of the class index file."""

    index: int
    wnid: str
    name: str
    article: str


@dataclass(frozen=True)
class ImageNetClass:
    """One ImageNet-1k class."""

    index: int
    wnid: str
    name: str
    article: str
    synset: str
    lemmas: tuple[str, ...]
    definition: str

    @property
    def name_with_article(self) -> str:
        """The name with its indefinite article: "an axolotl", "sunglasses"."""
        return f"{self.article} {self.name}" if self.article else self.name


def parse_class_index(text: str, source: str = CLASSES_FILE) -> tuple[ClassIndexRow, ...]:
    """Parse and validate a class index (a header, then index, wnid, name, article per line, tab-separated)."""
    lines = text.splitlines()
    expected_header = ["index", "wnid", "name", "article"]
    if not lines or lines[0].split("\t") != expected_header:
        raise DataFileError(source, "line 1", f"header must be {chr(9).join(expected_header)!r}")
    rows: list[ClassIndexRow] = []
    seen_wnids: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for line_number, line in enumerate(lines[1:], start=2):
        where = f"line {line_number}"
        fields = line.split("\t")
        if len(fields) != 4:
            raise DataFileError(source, where, f"expected 4 tab-separated fields, found {len(fields)}")
        index_text, wnid, name, article = fields
        if index_text != str(len(rows)):
            raise DataFileError(source, where, f"index {index_text!r} out of order; expected {len(rows)}")
        if not WNID_PATTERN.match(wnid):
            raise DataFileError(source, where, f"wnid {wnid!r} is not of the form n########")
        if article not in ARTICLES:
            raise DataFileError(source, where, f"article {article!r} must be one of a, an, -")
        if not name or name != name.strip() or "," in name:
            raise DataFileError(source, where, f"name {name!r} must be non-empty, trimmed, without commas")
        for key, seen, what in ((wnid, seen_wnids, "wnid"), (name.lower(), seen_names, "name")):
            if key in seen:
                raise DataFileError(source, where, f"duplicate {what} {key!r} (first on line {seen[key]})")
            seen[key] = line_number
        rows.append(ClassIndexRow(len(rows), wnid, name, ARTICLES[article]))
    if len(rows) != NUM_CLASSES:
        raise DataFileError(source, "", f"expected {NUM_CLASSES} classes, found {len(rows)}")
    return tuple(rows)


@functools.cache
def read_class_index() -> tuple[ClassIndexRow, ...]:
    """The validated rows of the shipped `imagenet_classes.tsv`."""
    return parse_class_index(read_text(CLASSES_FILE))


@functools.cache
def load_classes() -> tuple[ImageNetClass, ...]:
    """All 1000 classes in index order."""
    _, records = wordnet_records()
    classes = []
    for row, record in zip(read_class_index(), records, strict=True):
        if record["wnid"] != row.wnid:
            raise DataFileError(CLASSES_FILE, f"line {row.index + 2}", f"wnid {row.wnid} does not match the "
                                f"WordNet hierarchy file's class {row.index} ({record['wnid']})")
        classes.append(ImageNetClass(row.index, row.wnid, row.name, row.article, record["synset"],
                                     tuple(record["lemmas"]), record["definition"]))
    return tuple(classes)


@functools.cache
def _by_wnid() -> dict[str, ImageNetClass]:
    return {c.wnid: c for c in load_classes()}


@functools.cache
def _lemma_owners() -> dict[str, tuple[ImageNetClass, ...]]:
    """Every lowercased lemma and the classes that have it (some lemmas belong to two classes: "crane")."""
    owners: dict[str, list[ImageNetClass]] = {}
    for c in load_classes():
        for lemma in dict.fromkeys(lemma.lower() for lemma in c.lemmas):
            owners.setdefault(lemma, []).append(c)
    return {lemma: tuple(classes) for lemma, classes in owners.items()}


@functools.cache
def _by_name() -> dict[str, ImageNetClass]:
    """Display names first, then lemmas that belong to a single class."""
    table = {lemma: owners[0] for lemma, owners in _lemma_owners().items() if len(owners) == 1}
    table.update({c.name.lower(): c for c in load_classes()})
    return table


def shared_lemmas() -> dict[str, tuple[ImageNetClass, ...]]:
    """WordNet lemmas that two or more classes share: lookups by them are ambiguous."""
    return {lemma: owners for lemma, owners in _lemma_owners().items() if len(owners) > 1}


def class_names() -> list[str]:
    """The 1000 display names in index order (the `label` ClassLabel names of the dataset)."""
    return [c.name for c in load_classes()]


def wnids() -> list[str]:
    return [c.wnid for c in load_classes()]


def get_class(key: str | int) -> ImageNetClass:
    """A class by index, wnid, display name or unambiguous WordNet lemma; unknown keys suggest the closest."""
    classes = load_classes()
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        index = int(key)
        if 0 <= index < len(classes):
            return classes[index]
        raise UnknownNameError("class index", str(key), [f"0..{len(classes) - 1}"])
    found = _by_wnid().get(key) or _by_name().get(key.lower())
    if found is not None:
        return found
    if key.lower() in shared_lemmas():
        raise UnknownNameError("class", key, [_describe(c) for c in shared_lemmas()[key.lower()]], "ambiguous")
    if WNID_PATTERN.match(key) or key.startswith("n0"):
        kind, candidates = "wnid", list(_by_wnid())
    else:
        kind, candidates = "class", list(_by_name())
    suggestions = [_describe(_by_wnid().get(m) or _by_name()[m.lower()]) for m in closest(key, candidates)]
    raise UnknownNameError(kind, key, suggestions)


def _describe(c: ImageNetClass) -> str:
    return f"{c.wnid} ({c.name})"
