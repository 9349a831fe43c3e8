"""The byte-level vocabulary of CLIP's tokenizer, which the tiny models and the micro model both build on.

CLIP's byte-level BPE maps each of the 256 bytes to a printable unicode character; a vocabulary over those
characters (plus the start and end tokens, and each character as a word end, `</w>`) tokenizes any text.
"""

from __future__ import annotations

START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"


def byte_chars() -> list[str]:
    """The 256 byte characters in the order CLIP's tokenizer maps bytes to unicode."""
    visible = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
               + list(range(ord("®"), ord("ÿ") + 1)))
    chars, extra = [], 0
    for b in range(256):
        if b in visible:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def byte_tokens() -> list[str]:
    """The start and end tokens, then every byte character, then every byte character as a word end: ids 0, 1, ..."""
    chars = byte_chars()
    return [START_TOKEN, END_TOKEN] + chars + [c + "</w>" for c in chars]
