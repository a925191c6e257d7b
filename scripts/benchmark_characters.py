"""The characters model (issue #11) against its targets, beside a kNN and an SVM; prints markdown tables.

    .venv/bin/python scripts/benchmark_characters.py [--data-dir DIR] [--checkpoints DIR] [--out FILE] [--split test|val]

Every number is measured in this run, raw input to answer through `Recognizer.load(model="characters")`:
- FEMNIST writers of the split (core.sets.writer_split: test = bucket 1, never trained on nor used for
  choices): raw 28x28 NIST boxes as images; letters case merged (the "letters" view), 62 classes, the
  digits view on digits;
- UNIPEN writers of the split (the same writer_split of writer ids): letters and digits as canvas strokes
  (strokes alone: target row), and drawn on the canvas (picture and strokes of one drawing, as the Draw tab);
- latency per character (median of single calls), checkpoint sizes;
- honest confidence: how often a test character is answered "sure" (at the model's own threshold, chosen
  on validation writers) and how often a sure answer is right; and how often things that are no
  character (core/negatives.py: noise, blobs, scribbles, printed words; zigzags, spirals, hatching) are
  "not sure". The characters model has no out-of-distribution check: only its confidence says so;
- the usual confusions (0/O/o, 1/l/I, 5/S/s, 2/Z/z, 9/g/q) and per-writer accuracy;
- peers on the same features: a kNN and an RBF SVM (scikit-learn) on the 28x28 images the CNN sees (FEMNIST)
  and on the stroke input vectors the stroke branch sees (UNIPEN), after PCA to PEER_PCA dimensions, trained
  on PEER_TRAIN items of training writers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from core import InputError, Recognizer, checkpoint, data, negatives, sets  # noqa: E402
from core.classes import CHARACTERS, view  # noqa: E402
from core.timing import median_ms_per_item  # noqa: E402
from core.train_characters import unipen_sets  # noqa: E402
from scripts.benchmark_core import pct, publish  # noqa: E402

BATCH = 500  # items per predict_batch call
LATENCY_ITEMS = 300  # single calls timed per input kind
GROUPS = (("0", "O", "o"), ("1", "l", "I"), ("5", "S", "s"), ("2", "Z", "z"), ("9", "g", "q"))
PEER_TRAIN = 15000  # training-writer items each peer learns from
PEER_PCA = 60  # dimensions the peers see (PCA of the model's own input features)
KNN_K = 5
N_NEGATIVE = 100  # non-characters per kind
NEGATIVE_SEED = 20261201  # the characters model never saw a generated non-character, any seed is fresh
TARGETS = {
    "femnist_letters": 0.95,
    "femnist_62": 0.88,
    "unipen_letters": 0.93,
    "latency_ms": 3.0,
    "total_mb": 30.0,
    "char_mb": 10.0,
}


def is_letter(y: np.ndarray) -> np.ndarray:
    return y >= 10


def merged(y: np.ndarray) -> np.ndarray:
    """Class indices 0-61 -> case-merged names ("A" for A and a; digits stay)."""
    return np.array([CHARACTERS[int(i)].upper() for i in y])


def probs_of(r: Recognizer, images=None, strokes=None) -> np.ndarray:
    """(n, 62) probabilities from `Recognizer.predict_batch` (raw inputs, every preprocessing step included)."""
    n = len(images if images is not None else strokes)
    out = []
    for i in range(0, n, BATCH):
        sl = slice(i, i + BATCH)
        ps = r.predict_batch(images=None if images is None else images[sl], strokes=None if strokes is None else strokes[sl])
        out += [p.probs for p in ps]
    return np.stack(out)


def scores(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """62-class probabilities -> accuracy over 62 classes, letters case merged (the "letters" view, on letters),
    digits (the "digits" view, on digits)."""
    L, D = is_letter(y), ~is_letter(y)
    names, pl = view(p[L], CHARACTERS, "letters")
    _, pd = view(p[D], CHARACTERS, "digits")
    return {
        "62": float((p.argmax(1) == y).mean()),
        "letters": float((np.array(names)[pl.argmax(1)] == merged(y[L])).mean()) if L.any() else float("nan"),
        "digits": float((pd.argmax(1) == y[D]).mean()) if D.any() else float("nan"),
    }


def sure_row(name: str, p: np.ndarray, y: np.ndarray, threshold: float) -> str:
    """(n, 62) probabilities -> a table row: share answered sure, accuracy of the sure answers, of all."""
    sure, hit = p.max(1) >= threshold, p.argmax(1) == y
    right = pct(float(hit[sure].mean())) if sure.any() else "-"
    return f"| {name} ({len(y)}) | {pct(float(sure.mean()))} | {right} | {pct(float(hit.mean()))} |"


def negative_rows(r: Recognizer) -> list[str]:
    """Per kind of non-character: share answered "not sure" (a refusal, InputError, counts as not sure)."""
    rng = np.random.default_rng(NEGATIVE_SEED)
    kinds = [("picture", k, lambda k: {"image": negatives.negative_image(k, rng)}) for k in negatives.IMAGE_KINDS]
    kinds += [("strokes", k, lambda k: {"strokes": negatives.negative_strokes(k, rng)}) for k in negatives.STROKE_KINDS]
    rows = []
    for modality, kind, make in kinds:
        unsure = []
        for _ in range(N_NEGATIVE):
            try:
                unsure.append(not r.predict(**make(kind)).sure)
            except InputError:
                unsure.append(True)
        rows.append(f"| {kind} {modality} ({N_NEGATIVE}) | {pct(float(np.mean(unsure)))} |")
    return rows


def peer_scores(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """A peer's 62-class answers -> the same measures (letters: its answer's case-merged name)."""
    L, D = is_letter(y), ~is_letter(y)
    return {
        "62": float((pred == y).mean()),
        "letters": float((merged(pred[L]) == merged(y[L])).mean()),
        "digits": float((pred[D] == y[D]).mean()) if D.any() else float("nan"),
    }


def peers(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> dict[str, dict]:
    """kNN and RBF SVM on PCA of the given features -> {name: scores}."""
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC

    pca = PCA(PEER_PCA, random_state=0).fit(train_x)
    a, b = pca.transform(train_x), pca.transform(test_x)
    out = {}
    for name, clf in ((f"kNN (k={KNN_K})", KNeighborsClassifier(KNN_K)), ("SVM (RBF)", SVC(C=10.0, gamma="scale"))):
        t0 = time.time()
        out[name] = peer_scores(clf.fit(a, train_y).predict(b), test_y)
        print(f"peer {name}: {time.time() - t0:.0f} s", file=sys.stderr)
    return out


def peer_row(name: str, femnist: dict, unipen: dict) -> str:
    a, b = femnist, unipen
    return f"| {name} | {pct(a['letters'])} | {pct(a['62'])} | {pct(a['digits'])} | {pct(b['letters'])} | {pct(b['62'])} |"


def confusions(p: np.ndarray, y: np.ndarray, source: str) -> list[str]:
    """For each usual group, each member's items: the share answered as each member and as anything else."""
    rows = []
    pred = p.argmax(1)
    for g in GROUPS:
        ids = [CHARACTERS.index(c) for c in g]
        for c, i in zip(g, ids):
            m = y == i
            if not m.any():
                continue
            shares = " / ".join(f"{c2} {pct(float((pred[m] == j).mean()))}" for c2, j in zip(g, ids))
            other = float((~np.isin(pred[m], ids)).mean())
            rows.append(f"| {source} | {'/'.join(g)} | {c} | {int(m.sum())} | {shares} | {pct(other)} |")
    return rows


def per_writer(p: np.ndarray, y: np.ndarray, writers: np.ndarray, min_items: int = 10) -> str:
    """62-class accuracy per writer (writers with at least `min_items`): count, min, 10th pct, median, 90th pct, max."""
    accs = [
        float((p[writers == w].argmax(1) == y[writers == w]).mean())
        for w in np.unique(writers)
        if (writers == w).sum() >= min_items
    ]
    q = np.percentile(accs, [0, 10, 50, 90, 100])
    return f"{len(accs)} | " + " | ".join(pct(v) for v in q)


def femnist_items(f: data.Femnist, split: str, limit: int, rng: np.random.Generator) -> tuple:
    """FEMNIST writers of `split` (at most `limit` items; 0: all) -> (raw 28x28 boxes, their MNIST-convention
    images, labels, writers). Blank boxes (no ink) are left out, as in training."""
    idx = sets.writer_split(f.writers, split)
    idx = idx[sets.subsample(len(idx), limit, rng)]
    fx, kept = sets.femnist_images(f.images[idx])
    return f.images[idx][kept], fx, f.labels[idx][kept], f.writers[idx][kept]


def unipen_items(root: Path, split: str, limit: int, rng: np.random.Generator) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """UNIPEN letters and digits of one writer split -> (pen paths, stroke inputs, labels, writers); samples
    with nothing to read (one repeated point) are left out, as in training."""
    parts, feats, ys, ws = [], [], [], []
    for u in (data.load_unipen_letters(root), data.load_unipen(root)):
        idx = sets.writer_split(u.segfile, split)
        p, f, y, kept = sets.unipen_samples(u, idx[sets.subsample(len(idx), limit, rng)], f"unipen {split}")
        parts += p
        feats.append(f)
        ys.append(y)
        ws.append(u.segfile[kept])
    return parts, np.concatenate(feats), np.concatenate(ys), np.concatenate(ws)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None, help="data root (default: $DIGITS_DATA or ./data)")
    ap.add_argument("--checkpoints", default=None, help="checkpoint directory (default: checkpoints/)")
    ap.add_argument("--out", default=None, help="also write the tables to this markdown file")
    ap.add_argument("--split", choices=("test", "val"), default="test", help="writers measured (default: test)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many items per set (0: all; smoke runs)")
    ap.add_argument("--no-peers", dest="peers", action="store_false", help="skip the kNN and SVM")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default: 1; on a shared machine 2 threads made a character 320 ms, not 6)")  # fmt: skip
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = data.data_root(args.data_dir)
    rng = np.random.default_rng(0)
    r = Recognizer.load(args.checkpoints, model="characters")

    f = data.load_femnist(root)
    raw, fx, fy, fw = femnist_items(f, args.split, args.limit, rng)
    fp = probs_of(r, images=list(raw))
    fs = scores(fp, fy)

    parts, ux, uy, uw = unipen_items(root, args.split, args.limit, rng)
    canvas = [sets.to_canvas(q) for q in parts]
    up = probs_of(r, strokes=canvas)
    us = scores(up, uy)
    pictures = [sets.draw_canvas(c) for c in canvas]  # what the Draw tab's canvas exports (RGBA, black ink)
    dp = probs_of(r, images=pictures, strokes=canvas)
    ds = scores(dp, uy)

    lat_img = median_ms_per_item(lambda x: r.predict(image=x), raw[:LATENCY_ITEMS])
    lat_str = median_ms_per_item(lambda s: r.predict(strokes=s), canvas[:LATENCY_ITEMS])
    lat_draw = median_ms_per_item(
        lambda k: r.predict(image=pictures[k], strokes=canvas[k]), range(min(LATENCY_ITEMS, len(canvas)))
    )
    folder = Path(args.checkpoints) if args.checkpoints else checkpoint.DEFAULT_DIR
    sizes = {p.name: p.stat().st_size / 1e6 for p in sorted(folder.glob("*.pt"))}
    total = sum(sizes.values())

    T = TARGETS
    who = f"{args.split} writers"
    rows = [
        "| measure | target | measured |",
        "| --- | --- | --- |",
        f"| FEMNIST {who} ({len(fy)} characters, {len(np.unique(fw))} writers): letters, case merged, image | ≥ {pct(T['femnist_letters'])} | {pct(fs['letters'])} |",  # noqa: E501
        f"| FEMNIST {who}: 62 classes, image | ≥ {pct(T['femnist_62'])} | {pct(fs['62'])} |",
        f"| FEMNIST {who}: digits view, on digits | | {pct(fs['digits'])} |",
        f"| UNIPEN {who} ({len(uy)} characters): letters, case merged, strokes alone | ≥ {pct(T['unipen_letters'])} | {pct(us['letters'])} |",  # noqa: E501
        f"| UNIPEN {who}: 62 classes, strokes alone | | {pct(us['62'])} |",
        f"| UNIPEN {who}: digits view, on digits, strokes alone | | {pct(us['digits'])} |",
        f"| UNIPEN {who} drawn on the canvas (picture + strokes): letters, case merged / 62 classes | | {pct(ds['letters'])} / {pct(ds['62'])} |",  # noqa: E501
        f"| latency per character, raw to answer (median, {args.threads} thread): image / strokes / canvas drawing | ≤ {T['latency_ms']:.0f} ms | {lat_img:.2f} / {lat_str:.2f} / {lat_draw:.2f} ms |",  # noqa: E501
        f"| characters.pt | ≤ {T['char_mb']:.0f} MB | {sizes.get('characters.pt', float('nan')):.2f} MB |",
        f"| all checkpoints ({', '.join(f'{k} {v:.2f}' for k, v in sizes.items())} MB) | ≤ {T['total_mb']:.0f} MB | {total:.2f} MB |",  # noqa: E501
    ]
    out = ["## Characters model: targets", "", *rows, ""]
    if args.peers:
        n_peer = min(PEER_TRAIN, args.limit) if args.limit else PEER_TRAIN
        tr = sets.femnist_split(f, "train", n_peer, np.random.default_rng(1))
        fpeer = peers(tr[0].reshape(len(tr[0]), -1) / 255.0, tr[1], fx.reshape(len(fx), -1) / 255.0, fy)
        _, tx, ty = unipen_sets(root, "train", n_peer, True, np.random.default_rng(2))
        upeer = peers(tx, ty, ux, uy)
        out += ["## Peers on the same features (PCA, trained on training writers)", "",
                "| reader | FEMNIST letters merged | FEMNIST 62 | FEMNIST digits | UNIPEN letters merged | UNIPEN 62 |",
                "| --- | --- | --- | --- | --- | --- |",
                peer_row("characters model", fs, us)]  # fmt: skip
        out += [peer_row(f"{name}, {PEER_TRAIN} items", fpeer[name], upeer[name]) for name in fpeer]
        out.append("")
    tau = r.threshold
    out += [f"## Honest confidence (threshold {tau:.2f}, chosen on validation writers' drawings)", "",
            "| test characters | answered sure | sure answers right | all answers right |", "| --- | --- | --- | --- |",
            sure_row("FEMNIST pictures", fp, fy, tau), sure_row("UNIPEN strokes", up, uy, tau),
            sure_row("UNIPEN drawn on the canvas", dp, uy, tau), "",
            "| no character at all | answered not sure |", "| --- | --- |", *negative_rows(r), ""]  # fmt: skip
    out += ["## The usual confusions (62 classes: share of each true class answered as each member)", "",
            "| source | group | true | n | answered as | other |", "| --- | --- | --- | --- | --- | --- |",
            *confusions(fp, fy, "FEMNIST image"), *confusions(up, uy, "UNIPEN strokes"), ""]  # fmt: skip
    out += ["## Per-writer accuracy, 62 classes (writers with at least 10 characters)", "",
            "| source | writers | min | 10th pct | median | 90th pct | max |", "| --- | --- | --- | --- | --- | --- | --- |",
            f"| FEMNIST image | {per_writer(fp, fy, fw)} |"]  # fmt: skip
    out.append(f"| UNIPEN strokes | {per_writer(up, uy, uw)} |")
    text = "\n".join(out)
    return publish(text, args.out)


if __name__ == "__main__":
    main()
