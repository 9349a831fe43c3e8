"""Exceptions with messages that name what is wrong and where, and suggest the closest valid names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ImageNetTCError(Exception):
    """Base class of every error this package raises on purpose."""


def closest(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The `n` choices closest to `name` (case-insensitive), best first."""
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), choice)
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[m] for m in matches]


class UnknownNameError(ImageNetTCError, KeyError):
    """A wnid, class name, group or domain that does not exist (or is ambiguous); suggests the closest ones."""

    def __init__(self, kind: str, name: str, suggestions: Iterable[str] = (), problem: str = "unknown"):
        self.kind = kind
        self.name = name
        self.suggestions = list(suggestions)
        message = f"{problem} {kind} {name!r}"
        if self.suggestions:
            message += "; did you mean " + ", ".join(self.suggestions) + "?"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class DataFileError(ImageNetTCError, ValueError):
    """Invalid content in a data file; names the file and the key (a dotted path) that is wrong."""

    def __init__(self, file: str, key: str, problem: str):
        self.file = file
        self.key = key
        self.problem = problem
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")
