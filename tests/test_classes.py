"""Class names and views of a probability array (core/classes.py)."""

import numpy as np
import pytest

from core.classes import CHARACTERS, DIGITS, VIEWS, view, views
from core.errors import InputError


def test_names_in_emnist_byclass_order():
    assert len(CHARACTERS) == 62 and len(set(CHARACTERS)) == 62
    assert CHARACTERS[:10] == DIGITS == [str(d) for d in range(10)]
    assert CHARACTERS[10] == "A" and CHARACTERS[35] == "Z" and CHARACTERS[36] == "a" and CHARACTERS[61] == "z"


def probs(n: int = 4) -> np.ndarray:
    p = np.random.default_rng(0).random((n, 62))
    return p / p.sum(axis=1, keepdims=True)


def test_views_keep_the_mass_outside_unless_asked():
    p = probs()
    names, all_ = view(p, CHARACTERS)
    assert names == CHARACTERS and np.array_equal(all_, p)
    names, d = view(p, CHARACTERS, "digits")
    assert names == DIGITS and np.allclose(d, p[:, :10])
    names, up = view(p, CHARACTERS, "upper")
    assert names[0] == "A" and np.allclose(up, p[:, 10:36])
    names, lo = view(p, CHARACTERS, "lower")
    assert names[-1] == "z" and np.allclose(lo, p[:, 36:])
    names, le = view(p, CHARACTERS, "letters")
    assert names == [c.upper() for c in CHARACTERS[36:]] and np.allclose(le, p[:, 10:36] + p[:, 36:])
    assert np.allclose(le.sum(1), 1 - p[:, :10].sum(1))  # the digits' share is not spread over the letters
    _, cond = view(p, CHARACTERS, "letters", renormalize=True)
    assert np.allclose(cond.sum(1), 1) and np.allclose(cond, le / le.sum(1, keepdims=True))
    _, one = view(p[0], CHARACTERS, "letters")  # a single row works too
    assert one.shape == (26,) and np.allclose(one, le[0])
    _, zero = view(np.zeros(62), CHARACTERS, "digits", renormalize=True)
    assert np.array_equal(zero, np.zeros(10))  # no mass in the view: zeros, not NaN


def test_digits_model_views_and_errors():
    p = np.full((2, 10), 0.1)
    assert views(DIGITS) == (None, "digits") and views(CHARACTERS) == VIEWS
    names, d = view(p, DIGITS, "digits")
    assert names == DIGITS and np.array_equal(d, p)
    with pytest.raises(InputError, match=r"'letters' needs classes this model lacks.*expected one of None, 'digits'"):
        view(p, DIGITS, "letters")
    with pytest.raises(InputError, match=r"unknown classes view 'klingon'; expected one of None, 'digits', 'letters'"):
        view(probs(), CHARACTERS, "klingon")
    with pytest.raises(ValueError, match="do not match 62 classes"):
        view(p, CHARACTERS, "digits")
