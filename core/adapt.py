"""Teach mode (issue #10): adapt the recognizer to one user from a few labelled examples.

    me = Recognizer.load().adapt(audios=[Path("3_a.wav"), None], strokes=[None, s], labels=[3, 7])
    me.save_profile("me.pt")                                       # Recognizer.load(profile="me.pt")
    python -m core.adapt --data my_digits/ --out me.pt             # files {digit}_*.wav|png|jpg|json

What is fitted: per modality, a linear correction of the branch's calibrated logits read from its
frozen embedding (core/profile.py), i.e. the branch's classifier fine-tuned on the user's examples,
with an L2 penalty that keeps it near the shipped one; and the spoken examples are kept as templates
that later speech is matched against (core/voice.py). The problem is convex and small (at most
MAX_TEACH_EXAMPLES examples, 128 x 10 weights), so L-BFGS solves it to convergence in tens of
milliseconds: deterministic, no learning rate or step count to tune.

Why this and not class prototypes (the mean embedding of each taught digit, its cosine similarity
added to the logits; tried first): on validation users, averaged over 1-5 examples per digit, the
correction had the lower log-loss and calibration error in every branch and the higher accuracy for
speech and pictures (prototypes read strokes 0.4 points better). L2 was chosen on the same
validation users only (FSDD speaker theo, flite voices, writers of UNIPEN donor ibm), never on the
speakers and writers the benchmark reports (scripts/benchmark_adapt.py prints both).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core import limits as L
from core import voice as V
from core.errors import DataError, InputError
from core.model import MODALITIES
from core.profile import Correction, Profile
from core.recognizer import Recognizer, encode, preprocess, preprocess_batch

L2 = 0.03  # penalty on the correction (mean log-loss + L2 * |w|^2): lowest validation log-loss of 0.001..0.1
MAX_ITER = 200  # L-BFGS iterations; it converges in 10-30 on 30 examples
SUFFIXES = {".wav": "audio", ".png": "image", ".jpg": "image", ".jpeg": "image", ".json": "strokes"}
FILE_NAME = re.compile(r"^([0-9])_")


@dataclass
class Examples:
    """A user's examples after preprocessing: what `fit` and `leave_one_out` read."""

    labels: np.ndarray  # (n,) int64, 0-9
    seen: dict[str, list]  # modality -> n entries: the preprocessed array, or None where that example lacks it
    voice: list = field(default_factory=list)  # n entries: the speech's cepstra (core/voice.py) or None; [] for none

    def __len__(self) -> int:
        return len(self.labels)


def check_labels(labels) -> np.ndarray:
    """A list of ints 0-9 (one per example, at most MAX_TEACH_EXAMPLES) -> (n,) int64."""
    if labels is None or not isinstance(labels, (list, tuple, np.ndarray)):
        raise InputError(f"labels must be a list of digits 0-9, one per example; got {type(labels).__name__}")
    if len(labels) == 0:
        raise InputError("no examples: give at least one labelled example")
    if len(labels) > L.MAX_TEACH_EXAMPLES:
        raise InputError(f"{len(labels)} examples given; at most {L.MAX_TEACH_EXAMPLES} are accepted")
    for k, d in enumerate(labels):
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)) or not 0 <= d <= 9:
            raise InputError(f"label {k} is {d!r}; expected an int from 0 to 9")
    y = np.asarray([int(d) for d in labels], dtype=np.int64)
    counts = np.bincount(y, minlength=10)
    if counts.max() > L.MAX_TEACH_PER_DIGIT:
        d = int(counts.argmax())
        raise InputError(f"{counts[d]} examples of {d}; at most {L.MAX_TEACH_PER_DIGIT} per digit are accepted (1-5 is plenty)")
    return y


def prepare(images=None, strokes=None, audios=None, labels=None, sample_rate: int | None = None) -> Examples:
    """Raw examples (as for `Recognizer.adapt`) -> Examples, with every check before the work."""
    y = check_labels(labels)
    if images is None and strokes is None and audios is None:
        raise InputError("no examples: give images, strokes or audios, lists aligned with labels")
    for m, v in zip(MODALITIES, (images, strokes, audios)):
        if isinstance(v, (list, tuple)) and len(v) != len(y):
            raise InputError(f"{m}: {len(v)} entries for {len(y)} labels; give one per example (None where it has no {m})")
    waves: dict[int, np.ndarray] = {}
    seen, _ = preprocess_batch(images, strokes, audios, sample_rate, L.MAX_TEACH_EXAMPLES, "adapt", name_items=True, waves=waves)
    return Examples(labels=y, seen=seen, voice=[V.cepstra(waves[k]) if k in waves else None for k in range(len(y))])


def fit_correction(embed: torch.Tensor, z: torch.Tensor, y: torch.Tensor, prior: Correction | None, l2: float) -> Correction:
    """(n, embed) embeddings, (n, classes) calibrated logits (logits / T), (n,) labels -> the correction
    minimizing mean log-loss + l2 * |change|^2, on top of `prior` (what an adapted recognizer already knew).

    scipy's L-BFGS-B on the exact gradient, in float64 numpy: a few milliseconds (torch.optim's first
    optimizer imports torch._dynamo, seconds once per process; autograd costs more than the maths here)."""
    from scipy.optimize import minimize

    x, z, y = embed.double().numpy(), z.double().numpy(), y.numpy()
    n, d, c = x.shape[0], x.shape[1], z.shape[1]
    w0 = prior.weight.double().numpy() if prior is not None else np.zeros((d, c))
    b0 = prior.bias.double().numpy() if prior is not None else np.zeros(c)
    counts = torch.bincount(torch.from_numpy(y), minlength=c) + (prior.counts if prior is not None else 0)
    taught = counts.numpy() > 0
    cols = np.flatnonzero(taught)
    onehot = np.eye(c)[y]

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        dw, db = theta[: d * c].reshape(d, c), theta[d * c :]
        corr = x @ (w0 + dw) + (b0 + db)
        if not taught.all():  # core.profile.fill: an untaught digit gets the row's best taught correction
            best = cols[corr[:, cols].argmax(1)]
            corr[:, ~taught] = corr[np.arange(n), best][:, None]
        logits = z + corr
        logits -= logits.max(1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        g = (np.exp(logp) - onehot) / n  # d loss / d corr
        if not taught.all():
            extra = g[:, ~taught].sum(1)
            g[:, ~taught] = 0.0
            np.add.at(g, (np.arange(n), best), extra)
        loss = -float((logp * onehot).sum()) / n + l2 * float(theta @ theta)
        return loss, np.concatenate([(x.T @ g).ravel(), g.sum(0)]) + 2 * l2 * theta

    res = minimize(loss_and_grad, np.zeros(d * c + c), jac=True, method="L-BFGS-B", options={"maxiter": MAX_ITER})
    weight, bias = w0 + res.x[: d * c].reshape(d, c), b0 + res.x[d * c :]
    return Correction(weight=torch.from_numpy(weight).float(), bias=torch.from_numpy(bias).float(), counts=counts.long())


def fit(
    r: Recognizer, parts: dict, labels: np.ndarray, l2: float = L2, leave_out: int | None = None, voice: list | None = None
) -> Profile:
    """Branch outputs of the examples (`encode`) and their speech's cepstra (`voice`, None entries where an
    example has none) -> the profile of `r` adapted to them (all but example `leave_out`, when given): the
    corrections refitted, the new recordings added to the voice templates."""
    temps = r.model.calibration.log_temp.exp()
    corrections = dict(r.profile.corrections) if r.profile is not None else {}
    for i, m in enumerate(MODALITIES):
        if m not in parts:
            continue
        rows, e, lg = parts[m]
        keep = rows != leave_out if leave_out is not None else torch.ones(len(rows), dtype=torch.bool)
        if keep.any():
            y = torch.from_numpy(labels)[rows[keep]]
            corrections[m] = fit_correction(e[keep], lg[keep] / temps[i], y, corrections.get(m), l2)
    templates = r.profile.voice if r.profile is not None else None
    new = [k for k, c in enumerate(voice or []) if c is not None and k != leave_out]
    if new:
        templates = (templates or V.Templates((), np.zeros(0, np.int64))).plus([voice[k] for k in new], labels[new].tolist())
    return Profile(base_sha256=r.base_sha256 or "", corrections=corrections, l2=l2, voice=templates)


def adapt(r: Recognizer, images=None, strokes=None, audios=None, labels=None, sample_rate: int | None = None, l2: float = L2):
    """`Recognizer.adapt`: a new recognizer; `r` is unchanged."""
    return adapt_examples(r, prepare(images, strokes, audios, labels, sample_rate), l2)


def adapt_examples(r: Recognizer, ex: Examples, l2: float = L2) -> Recognizer:
    """Already preprocessed examples (the app keeps them so) -> a new recognizer."""
    return r.with_profile(fit(r, encode(r.model, ex.seen, len(ex)), ex.labels, l2, voice=ex.voice))


# ---------------------------------------------------------------- how well it reads the user's own examples


def views(present: list[str]) -> dict[str, tuple[str, ...]]:
    """The modalities an example has -> the ways it is read: its drawing (image and strokes together,
    as the Draw tab reads them), its speech, and all of it together when it has both."""
    out = {}
    drawing = tuple(m for m in ("image", "strokes") if m in present)
    if drawing:
        out["drawing" if len(drawing) == 2 else drawing[0]] = drawing
    if "audio" in present:
        out["speech"] = ("audio",)
    if len(out) > 1:
        out[" + ".join(out)] = tuple(m for m in MODALITIES if m in present)
    return out


def _item(seen: dict, parts: dict, k: int, modalities: tuple[str, ...]) -> tuple[dict, dict]:
    """Example k's preprocessed inputs and branch outputs, restricted to `modalities`, as a batch of one."""
    one_seen, one_parts = {}, {}
    for m in modalities:
        rows, e, lg = parts[m]
        j = int((rows == k).nonzero()[0, 0])
        one_seen[m] = [seen[m][k]]
        one_parts[m] = (torch.tensor([0]), e[j : j + 1], lg[j : j + 1])
    return one_seen, one_parts


def leave_one_out(r: Recognizer, ex: Examples, l2: float = L2) -> dict[str, tuple[int, int, int]]:
    """Each example read by `r` (before) and by `r` adapted to all the *other* examples (after):
    {view: (examples, right before, right after)}, views as in `views`. An honest small-sample
    measure of what teaching does for this user: no example is read by a profile that saw it."""
    parts = encode(r.model, ex.seen, len(ex))
    out: dict[str, list[int]] = {}
    for k in range(len(ex)):
        present = [m for m in MODALITIES if m in ex.seen and ex.seen[m][k] is not None]
        after = r.with_profile(fit(r, parts, ex.labels, l2, leave_out=k, voice=ex.voice))
        heard = {0: ex.voice[k]} if k < len(ex.voice) and ex.voice[k] is not None else None
        for name, mods in views(present).items():
            one_seen, one_parts = _item(ex.seen, parts, k, mods)
            voices = heard if "audio" in mods else None
            row = out.setdefault(name, [0, 0, 0])
            row[0] += 1
            row[1] += r.answer(one_seen, one_parts, 1, voices=voices)[0].label == ex.labels[k]
            row[2] += after.answer(one_seen, one_parts, 1, voices=voices)[0].label == ex.labels[k]
    return {name: (n, before, after) for name, (n, before, after) in out.items()}


def loo_table(scores: dict[str, tuple[int, int, int]]) -> str:
    """leave_one_out's result -> a markdown table."""
    lines = ["| input | examples | right before | right after |", "| --- | --- | --- | --- |"]
    for name, (n, before, after) in scores.items():
        lines.append(f"| {name} | {n} | {before} ({100 * before / n:.0f}%) | {after} ({100 * after / n:.0f}%) |")
    return "\n".join(lines)


def counts_table(counts: dict[str, list[int]]) -> str:
    """modality -> examples per digit -> a markdown table."""
    lines = ["| examples | " + " | ".join(str(d) for d in range(10)) + " | all |", "| --- " * 12 + "|"]
    for m, row in counts.items():
        lines.append(f"| {m} | " + " | ".join(str(c) for c in row) + f" | {sum(row)} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- command line


def read_example(path: Path, modality: str) -> dict[str, np.ndarray]:
    """One file -> its preprocessed inputs. A .json drawing is read as the Draw tab reads one: its
    strokes, and its picture drawn the way the canvas draws it; a .wav gives its cepstra too ("voice")."""
    if modality == "audio":
        waves: list = []
        x = preprocess("audio", path, waves=waves)
        return {"audio": x, "voice": V.cepstra(waves[0])}
    if modality != "strokes":
        return {modality: preprocess(modality, path)}
    from core import sets
    from core import strokes as S

    x = preprocess("strokes", path)  # checks and bounds the file first
    picture = sets.draw_canvas(sets.to_canvas([p * np.array([1.0, -1.0]) for p in S.parse_strokes(path)]))  # to_canvas: y up
    return {"strokes": x, "image": preprocess("image", picture)}


def read_folder(folder: Path) -> tuple[Examples, list[str], list[str]]:
    """{digit}_*.wav|png|jpg|json files -> (Examples, files read, "name: why" for each file skipped)."""
    rows, names, skipped = [], [], []
    per_digit = np.zeros(10, dtype=np.int64)
    for path in sorted(folder.iterdir()):
        m, kind = FILE_NAME.match(path.name), SUFFIXES.get(path.suffix.lower())
        if not path.is_file():
            skipped.append(f"{path.name}: not a file")
        elif kind is None:
            skipped.append(f"{path.name}: not a .wav, .png, .jpg or .json file")
        elif m is None:
            skipped.append(f"{path.name}: the name must start with its digit and an underscore, like 3_first.wav")
        elif per_digit[int(m.group(1))] >= L.MAX_TEACH_PER_DIGIT:
            skipped.append(f"{path.name}: already {L.MAX_TEACH_PER_DIGIT} examples of {m.group(1)} (the most used per digit)")
        elif len(rows) >= L.MAX_TEACH_EXAMPLES:
            skipped.append(f"{path.name}: already {L.MAX_TEACH_EXAMPLES} examples (the most used)")
        else:
            try:
                rows.append((int(m.group(1)), read_example(path, kind)))
                names.append(path.name)
                per_digit[int(m.group(1))] += 1
            except (InputError, DataError) as e:
                skipped.append(f"{path.name}: {e}")
    seen = {mod: [r[1].get(mod) for r in rows] for mod in MODALITIES if any(mod in r[1] for r in rows)}
    labels = np.array([r[0] for r in rows], dtype=np.int64)
    return Examples(labels=labels, seen=seen, voice=[r[1].get("voice") for r in rows]), names, skipped


def get_args_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m core.adapt",
        description="Teach the recognizer one user's digits from a folder of examples; write a profile "
        "(load it with Recognizer.load(profile=...) or the app's Teach tab).",
    )
    ap.add_argument(
        "--data", required=True, help="folder of examples named {digit}_anything.wav|png|jpg|json, e.g. 3_take1.wav (required)"
    )
    ap.add_argument("--out", default="profile.pt", help="profile file to write (default: profile.pt)")
    ap.add_argument("--checkpoints", default=None, help="checkpoint directory (default: checkpoints/)")
    ap.add_argument("--no-check", action="store_true", help="skip the leave-one-out check of the examples (default: run it)")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = get_args_parser()
    args = ap.parse_args(argv)
    folder, out = Path(args.data), Path(args.out)
    if not folder.is_dir():
        ap.error(f"--data {folder} is not a folder")
    if not out.parent.is_dir():
        ap.error(f"--out {out}: folder {out.parent} does not exist")
    if out.is_dir():  # refused before the examples are read and fitted, not after
        ap.error(f"--out {out} is a folder; give the profile file's name, e.g. {out / 'profile.pt'}")
    try:
        r = Recognizer.load(args.checkpoints)
        ex, names, skipped = read_folder(folder)
        for line in skipped:
            print(f"skipped {line}", file=sys.stderr)
        if len(ex) == 0:
            print(
                f"error: no readable examples in {folder}; name them like 3_take1.wav, 3_take1.png, 3_take1.json", file=sys.stderr
            )
            return 2
        me = adapt_examples(r, ex)
        print(f"learned from {len(ex)} examples in {folder} ({len(skipped)} files skipped):\n")
        print(counts_table(me.profile.counts()) + "\n")
        if not args.no_check:
            print("each example read by a profile taught from the others (leave-one-out):\n")
            print(loo_table(leave_one_out(r, ex)) + "\n")
        size = me.save_profile(out)
    except (InputError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({size / 1024:.0f} KB), for checkpoint {r.base_sha256[:12]}…")
    return 0


def cli() -> None:
    sys.exit(main())


if __name__ == "__main__":
    cli()
