"""Opening Princeton WordNet 3.0 through nltk, from nltk's data path or from a WordNet dict folder.

ImageNet wnids are WordNet 3.0 noun offsets, so any other WordNet version is refused. A dict folder (the files
data.noun, index.noun, ... as Princeton ships them) is copied with LF line endings into a temporary nltk data
root: nltk's reader seeks by byte offset, which CRLF files (as in some redistributions) silently break, and nltk
only reads corpora under a root in `nltk.data.path`.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.errors import ImageNetTCError

WORDNET_VERSION = "3.0"
REQUIRED_FILES = ("data.noun", "index.noun", "lexnames")


class WordNetUnavailableError(ImageNetTCError):
    """nltk or the WordNet 3.0 data cannot be found."""


def _require_nltk() -> Any:
    try:
        import nltk
    except ImportError as error:  # pragma: no cover - depends on the install
        raise WordNetUnavailableError(
            "nltk is needed to read WordNet: pip install 'imagenet-textcorrupt[build]'"
        ) from error
    return nltk


def _declared_version(data_noun: Path) -> str | None:
    """The version in a data.noun file's license header ("WordNet 3.0 Copyright 2006 ...")."""
    with open(data_noun, "rb") as handle:
        head = handle.read(4096).decode("latin-1")
    match = re.search(r"WordNet (\d+(?:\.\d+)*) Copyright", head)
    return match.group(1) if match else None


def _reader(root: Any) -> Any:
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    with warnings.catch_warnings():  # without the multilingual data nltk warns; we read English synsets only
        warnings.simplefilter("ignore", UserWarning)
        return WordNetCorpusReader(root, None)


def _check_version(reader: Any, origin: str) -> Any:
    version = reader.get_version()
    if version != WORDNET_VERSION:
        raise WordNetUnavailableError(
            f"{origin} holds WordNet {version}; ImageNet wnids are WordNet {WORDNET_VERSION} offsets"
        )
    return reader


@contextmanager
def open_wordnet(dict_dir: str | Path | None = None) -> Iterator[Any]:
    """Yield an nltk WordNet corpus reader for WordNet 3.0.

    With `dict_dir`, read that folder of WordNet files; without, use nltk's installed corpus
    (`nltk.download("wordnet")` puts it there).
    """
    nltk = _require_nltk()

    if dict_dir is None:
        try:
            root = nltk.data.find("corpora/wordnet")
        except LookupError as error:
            raise WordNetUnavailableError(
                "nltk's WordNet corpus is not installed: run python -c \"import nltk; nltk.download('wordnet')\""
                " or pass --wordnet-dir with a WordNet 3.0 dict folder"
            ) from error
        yield _check_version(_reader(root), "nltk's wordnet corpus")
        return

    source = Path(dict_dir)
    missing = [name for name in REQUIRED_FILES if not (source / name).is_file()]
    if missing:
        raise WordNetUnavailableError(f"{source} is not a WordNet dict folder: missing {', '.join(missing)}")
    declared = _declared_version(source / "data.noun")
    if declared != WORDNET_VERSION:
        raise WordNetUnavailableError(f"{source / 'data.noun'} holds WordNet {declared or '(unknown version)'}; "
                                      f"ImageNet wnids are WordNet {WORDNET_VERSION} offsets")
    with tempfile.TemporaryDirectory(prefix="imagenet-tc-wordnet-") as tmp:
        target = Path(tmp) / "corpora" / "wordnet"
        target.mkdir(parents=True)
        for path in sorted(source.iterdir()):
            if path.is_file():
                (target / path.name).write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
        nltk.data.path.insert(0, tmp)
        try:
            root = nltk.data.find("corpora/wordnet", paths=[tmp])
            yield _check_version(_reader(root), str(source))
        finally:
            nltk.data.path.remove(tmp)
