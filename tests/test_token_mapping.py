"""Prompt-to-prompt's token mapping, against a reference of the source study's aligner, with CLIP's real tokenizer.

The source study (RobuText) refines with prompt-to-prompt's `seq_aligner.get_refinement_mapper`, unchanged. The
reference below is written here from that algorithm, not from `builder.editors.attention`: both prompts encoded
with their start and end tokens; a score matrix with gap 0, match 1, mismatch -1 and borders of gap multiples;
each cell remembers the first of (left, up, diagonal) that reaches its maximum; the traceback from the bottom-right
corner records (target position, source position) on a diagonal step and (target position, -1) on a left step,
and skips the source token on an up step. The target's positions take the recorded source positions (alpha 0 where
-1), and every position after the target's end token maps to itself (alpha 1).

The pairs are every (source prompt, target prompt) of every third class of the shipped hierarchy: about 9,000
pairs, a fifth of them with a word the source holds twice or the target again.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from builder.editors.attention import align_tokens, token_mapping
from imagenet_textcorrupt.prompts import for_class

from clip_models import clip_tokenizer

LENGTH = 77


def reference_alignment(x: list[int], y: list[int]) -> list[int]:
    """Per target token, the source position the authors' traceback pairs it with, or -1."""
    score = np.zeros((len(x) + 1, len(y) + 1), dtype=np.int64)
    trace = np.zeros_like(score)
    trace[0, 1:], trace[1:, 0], trace[0, 0] = 1, 2, 4
    for i in range(1, len(x) + 1):
        for j in range(1, len(y) + 1):
            left, up = score[i, j - 1], score[i - 1, j]
            diagonal = score[i - 1, j - 1] + (1 if x[i - 1] == y[j - 1] else -1)
            score[i, j] = max(left, up, diagonal)
            trace[i, j] = 1 if score[i, j] == left else 2 if score[i, j] == up else 3
    pairs, i, j = [], len(x), len(y)
    while trace[i, j] != 4:
        if trace[i, j] == 3:
            i, j = i - 1, j - 1
            pairs.append((j, i))
        elif trace[i, j] == 1:
            j -= 1
            pairs.append((j, -1))
        else:
            i -= 1
    pairs.reverse()
    assert [t for t, _ in pairs] == list(range(len(y)))
    return [s for _, s in pairs]


def reference_mapper(tokenizer, source: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    """(mapper, alphas) of prompt-to-prompt's refinement for one pair; new tokens keep the authors' -1."""
    x, y = tokenizer.encode(source), tokenizer.encode(target)
    base = np.array(reference_alignment(x, y))
    mapper = np.concatenate([base, len(y) + np.arange(LENGTH - len(y))])
    alphas = np.ones(LENGTH)
    alphas[:len(base)] = base != -1
    return mapper, alphas


@pytest.fixture(scope="module")
def tokenizer():
    return clip_tokenizer()


def hierarchy_pairs(step: int = 3) -> list[tuple[str, str]]:
    pairs = []
    for index in range(0, 1000, step):
        prompts = for_class(index)
        pairs += [(prompts.source_prompt, p.text) for domain in prompts.domains.values() for p in domain]
    return pairs


def test_matches_the_studys_aligner_on_the_hierarchy(tokenizer):
    pairs = hierarchy_pairs()
    repeated = 0
    for source, target in pairs:
        expected_mapper, expected_alphas = reference_mapper(tokenizer, source, target)
        mapper, alphas, mode = token_mapping(tokenizer, source, target)
        assert mode == "refine"
        assert np.array_equal(alphas.numpy(), expected_alphas), (source, target)
        # a new token's -1 indexes the last position in the authors' `attn[:, :, mapper]`, as ours does
        assert np.array_equal(mapper.numpy(), expected_mapper % LENGTH), (source, target)
        ids = tokenizer.encode(target)
        repeated += len(set(ids)) < len(ids)  # a word (or part of one) said twice in the target
    assert len(pairs) > 8000
    assert repeated > len(pairs) // 10  # the tie order decides which of the repeated words takes the map


def test_a_repeated_word_takes_the_first_match(tokenizer):
    """The issue's example: the source's "a" goes to the target's first "a", its "typewriter keyboard" to the
    same words, and "watercolor painting of a" are new; the padding maps to itself."""
    source, target = "a typewriter keyboard", "a watercolor painting of a typewriter keyboard"
    src, tgt = tokenizer.encode(source), tokenizer.encode(target)
    assert len(src) == 5 and len(tgt) == 9  # <start> a typewriter keyboard <end>; 4 more words in the target
    mapper, alphas, _ = token_mapping(tokenizer, source, target)
    assert alphas[:9].tolist() == [1, 1, 0, 0, 0, 0, 1, 1, 1]
    assert mapper[:9].tolist() == [0, 1, 76, 76, 76, 76, 2, 3, 4]
    assert torch.equal(mapper[9:], torch.arange(9, LENGTH)) and bool((alphas[9:] == 1).all())


def test_padding_maps_to_itself_when_the_target_is_shorter(tokenizer):
    mapper, alphas, _ = token_mapping(tokenizer, "a tabby cat on the moon", "a tabby cat")
    assert mapper[:5].tolist() == [0, 1, 2, 3, 7] and alphas[:5].tolist() == [1] * 5  # end token to end token
    assert torch.equal(mapper[5:], torch.arange(5, LENGTH))


def test_equal_lengths_refine_unless_replace_is_asked(tokenizer):
    source, target = "a tabby cat", "a tabby dog"
    mapper, alphas, mode = token_mapping(tokenizer, source, target)
    assert mode == "refine" and alphas[:5].tolist() == [1, 1, 1, 0, 1] and mapper[3] == 76
    mapper, alphas, mode = token_mapping(tokenizer, source, target, "replace")
    assert mode == "replace" and torch.equal(mapper, torch.arange(LENGTH)) and bool((alphas == 1).all())
    with pytest.raises(ValueError, match="p2p_mode replace needs prompts of equally many tokens; 'a tabby cat' "
                                         "has 3 and 'a red tabby cat' 4"):
        token_mapping(tokenizer, source, "a red tabby cat", "replace")
    with pytest.raises(ValueError, match="unknown p2p_mode 'swap'; expected one of refine, replace"):
        token_mapping(tokenizer, source, target, "swap")


@pytest.mark.parametrize(("source", "target", "expected"), [
    ([5, 6], [5, 6], [0, 1]),
    ([5, 6], [6, 5], [1, None]),  # a tie between the two pairings: the traceback skips the target's last first
    ([5, 5], [5], [0]),  # of two equal source tokens, the first takes it: the later one is skipped ("up")
    ([5], [5, 5], [0, None]),  # of two equal target tokens, the first: the later one is skipped ("left")
    ([5, 7, 5], [5, 9, 5], [0, None, 2]),  # a mismatch is never paired: a gap is free
    ([], [5], [None]),
])
def test_align_tokens_small_cases(source, target, expected):
    assert align_tokens(source, target) == expected
    assert reference_alignment(source, target) == [-1 if e is None else e for e in expected]


def test_a_prompt_too_long_for_the_text_encoder(tokenizer):
    """75 tokens and the start and end tokens fill the encoder's 77 positions; 76 do not fit. The message names
    the prompt that is too long, source or target."""
    fits, too_long = " ".join(["cat"] * 75), " ".join(["cat"] * 76)
    assert len(tokenizer.encode(fits, add_special_tokens=False)) == 75
    mapper, alphas, _ = token_mapping(tokenizer, fits, "a " + " ".join(["cat"] * 74))
    assert mapper[76] == 76 and alphas[1] == 0  # the end token of both at the last position
    with pytest.raises(ValueError, match=f"prompt '{too_long}' has 76 tokens; the text encoder takes 75"):
        token_mapping(tokenizer, "a cat", too_long)
    with pytest.raises(ValueError, match=f"prompt '{too_long}' has 76 tokens; the text encoder takes 75"):
        token_mapping(tokenizer, too_long, "a cat")
