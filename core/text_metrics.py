"""How far a reading is from the truth: edit distance, and the character error rate built on it.
One place for the reader's training, its benchmark and the webcam benchmark."""

from __future__ import annotations


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions that turn `a` into `b`."""
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, cb in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (ca != cb))
    return d[-1]


def character_error_rate(got: list[str], truth: list[str]) -> float:
    """Total edit distance over total characters of the truth (0 when the truth is empty and so is `got`)."""
    return sum(edit_distance(g, t) for g, t in zip(got, truth)) / max(1, sum(len(t) for t in truth))
