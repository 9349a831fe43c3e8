"""The wording rules of prompts: filling a template for a class with the right indefinite articles ("an
espresso", "a unicorn", "an hour"; none before plural and mass nouns), and telling whether a target prompt says
again a word the class name already holds ("a red red eft").
"""

from __future__ import annotations

import functools
import re
import string

from imagenet_textcorrupt.classes import ImageNetClass

# Words a template may share with a class name without repeating it: articles and prepositions.
_FUNCTION_WORDS = {"a", "an", "the", "of", "in", "on", "at", "by", "for", "from", "to", "with", "and", "under"}

# Words that end the class's noun phrase when they stand between {a} and {name} ("a statue OF a cat").
_PHRASE_BREAKS = {"of", "in", "on", "with", "made", "from", "for", "at", "by", "under", "and", "dressed", "carved",
                  "sculpted"}
_A_BEFORE_VOWEL = ("uni", "use", "usu", "uti", "ure", "uro", "eu", "ewe", "one", "once", "ouija")
_AN_BEFORE_CONSONANT = ("hour", "honest", "honor", "honour", "heir")
_ARTICLE_MARK = "\x00a\x00"
_NAME_MARK = "\x00name\x00"


def indefinite_article(word: str) -> str:
    """ "a" or "an" for an English word, by its spelling (with the usual exceptions: "a unicorn", "an hour")."""
    lower = word.lower()
    if lower.startswith(_AN_BEFORE_CONSONANT):
        return "an"
    if lower.startswith(_A_BEFORE_VOWEL):
        return "a"
    return "an" if lower[:1] in "aeiou" else "a"


@functools.cache
def slots_of(template: str) -> tuple[str, ...]:
    names = []
    for _, field_name, _, _ in string.Formatter().parse(template):
        if field_name is not None and field_name not in names:
            names.append(field_name)
    return tuple(names)


def content_words(text: str) -> list[str]:
    """The lowercase words of a text that carry meaning (letters only, hyphens split, function words out)."""
    return [w for w in re.findall(r"[a-z]+", text.lower()) if w not in _FUNCTION_WORDS]


def repeated_word(target: str, name: str) -> str | None:
    """A word the target adds around the class name that the name already holds, or None."""
    outside = re.sub(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", " ", target, count=1)
    name_words = set(content_words(name))
    return next((w for w in content_words(outside) if w in name_words), None)


def render(template: str, cls: ImageNetClass, values: dict[str, str]) -> str:
    """Fill a template for a class, then choose each {a} by the word that follows it."""
    text = template.format(a=_ARTICLE_MARK, name=_NAME_MARK, **values)

    def article(match: re.Match[str]) -> str:
        rest = text[match.end():]
        before_name = rest.split(_NAME_MARK, 1)[0] if _NAME_MARK in rest else None
        in_class_phrase = before_name is not None and not (set(before_name.split()) & _PHRASE_BREAKS)
        if in_class_phrase and not cls.article:
            return ""  # plural or mass noun: "red hay", "golden sunglasses"
        if rest.startswith(_NAME_MARK):
            return cls.article + " "
        next_word = rest.split(None, 1)[0] if rest.strip() else ""
        return indefinite_article(next_word) + " "

    text = re.sub(re.escape(_ARTICLE_MARK) + r"\s*", article, text)
    return " ".join(text.replace(_NAME_MARK, cls.name).split())
