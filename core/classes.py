"""The models' class names and views of a probability array over them.

`CHARACTERS` is EMNIST's byclass order (0-9, A-Z, a-z), the characters model's 62 classes and the
label order of core/data.py's FEMNIST and UNIPEN letters; `DIGITS` is the digits model's 10 classes.

A *view* answers a narrower question than the model was trained on: "digits", "letters" (26, case
merged: p(A) + p(a), named upper case), "upper", "lower", or None (all of the model's classes).

Probabilities are NOT renormalized by default. A view's probabilities are the model's own
p(class and in the view); their sum is the mass the model puts inside the view, so a "0" read under
"letters" shows as a weak "O" instead of a confident one, and calibrated confidence stays calibrated.
`renormalize=True` gives p(class | in the view): right when the caller *knows* the input is in the view
(a letters-only form field); it is a choice the caller writes down, never a silent default.
"""

from __future__ import annotations

import string

import numpy as np

from core.errors import InputError

DIGITS = list(string.digits)  # the digits model's classes
UPPER = list(string.ascii_uppercase)
LOWER = list(string.ascii_lowercase)
CHARACTERS = DIGITS + UPPER + LOWER  # EMNIST byclass order: labels 0-9, 10-35, 36-61
VIEWS = (None, "digits", "letters", "upper", "lower")

Group = tuple[str, tuple[str, ...]]  # (the view's class name, the model's classes it adds up)


def groups(name: str) -> list[Group]:
    """A view's classes and the model classes each one adds up (the view's name must be known)."""
    if name == "digits":
        return [(d, (d,)) for d in DIGITS]
    if name == "upper":
        return [(c, (c,)) for c in UPPER]
    if name == "lower":
        return [(c, (c,)) for c in LOWER]
    if name == "letters":
        return [(u, (u, l)) for u, l in zip(UPPER, LOWER)]
    raise InputError(f"unknown classes view {name!r}; expected one of {', '.join(map(repr, VIEWS))}")


def views(classes: list[str]) -> tuple[str | None, ...]:
    """The views a model with `classes` can give: None always, the others where it has all their classes."""
    have = set(classes)
    return (None,) + tuple(v for v in VIEWS[1:] if all(set(members) <= have for _, members in groups(v)))


def view(
    probs: np.ndarray, classes: list[str], name: str | None = None, renormalize: bool = False
) -> tuple[list[str], np.ndarray]:
    """(..., len(classes)) probabilities -> (the view's class names, (..., len(names)) probabilities).

    Not renormalized unless asked (see the module's docstring): the returned probabilities sum to the
    model's probability that the input is in the view. Raises InputError naming the allowed views for an
    unknown view or one the model lacks ("letters" on the digits model).
    """
    p = np.asarray(probs)
    if p.shape[-1:] != (len(classes),):
        raise ValueError(f"probabilities of shape {p.shape} do not match {len(classes)} classes")
    if name is None:
        names, out = list(classes), p.copy()
    else:
        allowed = views(classes)
        if name not in allowed:
            groups(name)  # an unknown name says so
            raise InputError(
                f"classes view {name!r} needs classes this model lacks (it has {len(classes)}: "
                f"{''.join(classes) if len(classes) <= 62 else '...'}); expected one of {', '.join(map(repr, allowed))}"
            )
        col = {c: i for i, c in enumerate(classes)}
        gs = groups(name)
        merge = np.zeros((len(classes), len(gs)), dtype=p.dtype if np.issubdtype(p.dtype, np.floating) else np.float64)
        for j, (_, members) in enumerate(gs):
            merge[[col[c] for c in members], j] = 1.0
        names, out = [g for g, _ in gs], p @ merge
    if renormalize:
        total = out.sum(axis=-1, keepdims=True)
        out = np.divide(out, total, out=np.zeros_like(out, dtype=np.result_type(out, np.float32)), where=total > 0)
    return names, out
