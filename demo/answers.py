"""How the app shows an answer: the big digit on the tabs, the JSON of the endpoints, the annotated
photo at a size a browser can take, and the model card on the Model tab. Pure functions of core's answers.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.reading import Reading
from core.recognizer import Prediction

DISPLAY_SIDE = 1600  # px: the annotated photo is shown at most this large (encoding a 24 MP picture costs seconds)


def big(p: Prediction | None, strokes: int = 0) -> str:
    """The large answer; when the recognizer is not sure (`p.sure`) it says so and shows the guess faded.
    `strokes`: how many strokes it read (data-strokes: a test knows the answer to its last pen-up has come)."""
    if p is None:
        return "<div class='big-digit'>·</div><div class='big-conf'>&nbsp;</div>"
    if not p.sure:
        guess = f"not sure — best guess {p.text} ({100 * p.confidence:.0f}%)"
        return f"<div class='big-digit not-sure' data-strokes='{strokes}'>{p.text}</div><div class='big-conf'>{guess}</div>"
    sure = f"{100 * p.confidence:.1f}% sure"
    return f"<div class='big-digit' data-strokes='{strokes}'>{p.text}</div><div class='big-conf'>{sure}</div>"


def big_number(r: Reading, strokes: int = 0) -> str:
    """A number read from a drawing: the number large, each digit's answer and confidence under it (not-sure
    digits faded)."""
    if not r.digits:
        return big(None)
    chips = " ".join(
        f"<span class='digit-chip{'' if d.sure else ' not-sure'}'><b>{d.label}</b> {100 * d.confidence:.0f}%</span>"
        for d in r.digits
    )
    sure = all(d.sure for d in r.digits)
    note = "" if sure else "<div class='big-conf'>not sure of the faded digits</div>"
    return (
        f"<div class='big-digit number{'' if sure else ' not-sure'}' data-strokes='{strokes}'>{r.text}</div>"
        f"<div class='big-conf digit-chips'>{chips}</div>{note}"
    )


def as_json(p: Prediction) -> dict:
    return {
        "label": p.label,
        "confidence": round(p.confidence, 6),
        "sure": bool(p.sure),
        "probs": [round(float(x), 6) for x in p.probs],
        "by_modality": {m: [round(float(x), 6) for x in q] for m, q in p.by_modality.items()},
    }


def fit(image: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    if max(image.shape[:2]) <= side:
        return image
    f = side / max(image.shape[:2])
    return cv2.resize(image, (round(image.shape[1] * f), round(image.shape[0] * f)), interpolation=cv2.INTER_AREA)


def model_card_markdown(card: dict) -> str:
    m = card.get("metrics", {})
    rows = [
        ("MNIST test, image branch", m.get("mnist_test")),
        ("pendigits test (unseen writers), stroke branch", m.get("pendigits_test")),
        ("UNIPEN held-out donors, stroke branch", m.get("unipen_test_donors")),
        ("FSDD customary test, audio branch", m.get("fsdd_test")),
        ("FSDD leave-one-speaker-out mean, audio", (m.get("fsdd_leave_one_speaker_out") or {}).get("mean")),
    ]
    rows += [(f"fused test tuples: {k}", v) for k, v in (m.get("fused_test_tuples") or {}).items()]
    lines = ["| measure | accuracy |", "| --- | --- |"]
    lines += [f"| {a} | {100 * b:.2f}% |" for a, b in rows if isinstance(b, (int, float))]
    info = (
        f"Trained {card.get('date', '?')} from commit `{str(card.get('git_commit', '?'))[:10]}`, "
        f"{card.get('parameters', 0):,} parameters, in {card.get('train_seconds', 0) / 60:.0f} min on CPU. "
        f"Checkpoint sha256 `{card.get('checkpoint', {}).get('sha256', '?')[:16]}…` (verified at load)."
    )
    return info + "\n\n" + "\n".join(lines)
