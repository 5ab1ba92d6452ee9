"""Text normalisation and word error rate for the end-to-end tests and the benchmark.

normalise(): lower-case, hyphens become spaces, punctuation is deleted ("i.e." -> "ie") except apostrophes inside
words ("don't" stays, "'quoted'" loses them), whitespace collapsed. Letters of any script are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_HYPHENS = re.compile(r"[-\u2010\u2011\u2012\u2013\u2014\u2212]")
_APOSTROPHES = re.compile(r"[\u2018\u2019\u02bc`]")
# Anything that is not a letter/digit, whitespace or an apostrophe.
_PUNCT = re.compile(r"[^\w\s']|_")
# Apostrophes not between two word characters.
_LOOSE_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    text = text.lower()
    text = _HYPHENS.sub(" ", text)
    text = _APOSTROPHES.sub("'", text)
    text = _PUNCT.sub("", text)
    text = _LOOSE_APOSTROPHE.sub("", text)
    return _SPACES.sub(" ", text).strip()


def words(text: str) -> list[str]:
    n = normalise(text)
    return n.split(" ") if n else []


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance between two word sequences (substitutions, insertions, deletions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of one utterance, as a fraction (0.05 = 5 %)."""
    ref, hyp = words(reference), words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


def corpus_wer(pairs: Iterable[tuple[str, str]]) -> float:
    """Corpus WER of (reference, hypothesis) pairs: total edits / total reference words, as a fraction."""
    edits = total = 0
    for reference, hypothesis in pairs:
        ref, hyp = words(reference), words(hypothesis)
        edits += edit_distance(ref, hyp)
        total += len(ref)
    return edits / total if total else 0.0
