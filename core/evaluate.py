"""Everything the reference projects report, for this project's models, with peers beside them.

    python -m core.evaluate [--out reports] [--data-dir DIR] [--limit N] [--no-peers]

Writes into --out: metrics.json, predictions.csv, confusion_*.png, reliability.png, tsne.png,
mistakes_*.png, and README.md that reads top to bottom. Everything is measured on the test
splits (alternative fusion heads are fitted on the validation splits, never on test).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from tqdm import tqdm  # noqa: E402

from core import audio as A  # noqa: E402
from core import checkpoint, data, synth  # noqa: E402
from core import strokes as S  # noqa: E402
from core.errors import DataError, InputError  # noqa: E402
from core.model import MODALITIES  # noqa: E402
from core.train import SUBSETS, draw_tuples  # noqa: E402
from core.train import embed_items as embed  # noqa: E402

N_TUPLES = 3000  # label-matched test tuples
ECE_BINS = 15
TSNE_POINTS = 2000
FIT_EPOCHS = 30  # for the alternative fusion heads, on validation embeddings
SVM_MNIST_TRAIN = 10_000
TESSERACT_PAGES = 30
NOT_SURE = 0.8  # the default "not sure" threshold suggested to the app and CLI, checked here


# ---------------------------------------------------------------- data


def _bar(it, desc):
    return tqdm(it, desc=desc, leave=False, mininterval=1.0)


def load_split(root: Path, split: str, limit: int, rng: np.random.Generator) -> dict:
    """Per modality: {"x": encoder input, "y": labels, "ids": item names} for split test | val."""

    def cut(n):
        return np.sort(rng.choice(n, size=min(n, limit), replace=False)) if limit else np.arange(n)

    out = {}
    if split == "test":
        xi, yi = data.load_mnist(root, "test")
        ii = cut(len(xi))
        pp, py = data.load_pendigits(root, "test")
        pi = cut(len(pp))
        clips = data.fsdd_split(data.list_fsdd(root), "test")
    else:
        xi, yi = data.load_mnist(root, "train")
        ii = len(xi) - data.MNIST_VAL + cut(data.MNIST_VAL)
        pp, py = data.load_pendigits(root, "train")
        pi = len(pp) - data.PENDIGITS_VAL + cut(data.PENDIGITS_VAL)
        clips = data.fsdd_split(data.list_fsdd(root), "val", held_out=data.FSDD_VAL_SPEAKER)
    ci = cut(len(clips))
    out["image"] = {
        "x": torch.from_numpy(xi[ii].astype(np.float32) / 255),
        "y": yi[ii],
        "ids": [f"mnist-{split}:{i}" for i in ii],
    }
    out["strokes"] = {
        "x": torch.from_numpy(np.stack([S.pendigits_input(pp[i]) for i in _bar(pi, "pendigits")])),
        "y": py[pi],
        "ids": [f"pendigits-{split}:{i}" for i in pi],
    }
    feats = [A.audio_features(clips[i].path) for i in _bar(ci, "fsdd")]
    out["audio"] = {
        "x": torch.from_numpy(np.stack(feats)),
        "y": np.array([clips[i].digit for i in ci]),
        "ids": [clips[i].path.name for i in ci],
    }
    return out


def unipen_test(root: Path, limit: int, rng: np.random.Generator) -> dict:
    u = data.load_unipen(root)
    idx = u.split_indices("test")
    if limit:
        idx = np.sort(rng.choice(idx, size=min(len(idx), limit), replace=False))
    xs, keep = [], []
    for i in _bar(idx, "unipen"):
        try:
            xs.append(S.strokes_to_input(S.unipen_strokes(u.sample(i)), y_down=False))
            keep.append(i)
        except InputError:
            pass
    return {"x": torch.from_numpy(np.stack(xs)), "y": u.labels[keep], "ids": [f"unipen:{i}" for i in keep]}


# ---------------------------------------------------------------- metrics


def ece(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> tuple[float, list[tuple[float, float, int]]]:
    """Expected calibration error and per-bin (confidence, accuracy, count)."""
    conf = probs.max(1)
    right = probs.argmax(1) == y
    edges = np.linspace(0, 1, bins + 1)
    total, table = 0.0, []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(conf[m].mean() - right[m].mean())
            table.append((float(conf[m].mean()), float(right[m].mean()), int(m.sum())))
    return float(total), table


def scores(y: np.ndarray, probs: np.ndarray) -> dict:
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    pred = probs.argmax(1)
    p, r, _, _ = precision_recall_fscore_support(y, pred, labels=range(10), zero_division=0)
    e, _ = ece(probs, y)
    sure = probs.max(1) >= NOT_SURE
    return {
        "n": int(len(y)),
        "accuracy": float((pred == y).mean()),
        "macro_f1": float(f1_score(y, pred, average="macro")),
        "precision": [round(float(v), 4) for v in p],
        "recall": [round(float(v), 4) for v in r],
        "ece": e,
        "confusion": confusion_matrix(y, pred, labels=range(10)).tolist(),
        f"answered_at_{NOT_SURE}": float(sure.mean()),
        f"accuracy_when_answered_at_{NOT_SURE}": float((pred[sure] == y[sure]).mean()) if sure.any() else None,
    }


# ---------------------------------------------------------------- fusion methods


class ConcatHead(nn.Module):
    """Concatenate the (masked) embeddings and the mask; an MLP decides."""

    def __init__(self, dim: int, k: int = 3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(k * dim + k, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 10))

    def forward(self, embeds, logits, mask):
        return self.net(torch.cat([mask[:, i : i + 1] * e for i, e in enumerate(embeds)] + [mask], 1))


class AttentionHead(nn.Module):
    """Score each present modality's embedding, softmax over the present ones, classify the weighted sum."""

    def __init__(self, dim: int, k: int = 3):
        super().__init__()
        self.proj = nn.ModuleList([nn.Linear(dim, 128) for _ in range(k)])
        self.score = nn.Linear(128, 1)
        self.out = nn.Linear(128, 10)

    def forward(self, embeds, logits, mask):
        h = torch.stack([torch.tanh(p(e)) for p, e in zip(self.proj, embeds)], 1)  # (B, k, 128)
        s = self.score(h).squeeze(-1).masked_fill(mask == 0, -1e9)
        return self.out((torch.softmax(s, 1).unsqueeze(-1) * h).sum(1))


def product_of_posteriors(embeds, logits, mask):
    return sum(mask[:, i : i + 1] * F.log_softmax(lg, 1) for i, lg in enumerate(logits))


def fit_head(head: nn.Module, pools: dict, seed: int) -> nn.Module:
    """Train a fusion head on label-matched validation tuples with modality dropout."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(head.parameters(), lr=2e-3, weight_decay=1e-4)
    for _ in _bar(range(FIT_EPOCHS), f"fit {type(head).__name__}"):
        y, idx = draw_tuples({m: torch.from_numpy(pools[m]["y"]) for m in MODALITIES}, 4000, rng)
        sub = rng.integers(0, len(SUBSETS), size=len(y))
        mask = torch.tensor([[float(m in SUBSETS[s]) for m in MODALITIES] for s in sub])
        head.train()
        for i in range(0, len(y), 256):
            sl = slice(i, i + 256)
            e = [pools[m]["emb"][idx[m][sl]] for m in MODALITIES]
            lg = [pools[m]["logits"][idx[m][sl]] for m in MODALITIES]
            loss = F.cross_entropy(head(e, lg, mask[sl]), torch.from_numpy(y[sl]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return head.eval()


# ---------------------------------------------------------------- pictures


def plot_confusion(cm: list, title: str, path: Path) -> None:
    cm = np.array(cm)
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.imshow(cm / np.maximum(cm.sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    for i in range(10):
        for j in range(10):
            if cm[i, j]:
                ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=6, color="white" if i == j else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(curves: dict[str, tuple[float, list]], path: Path) -> None:
    fig, axes = plt.subplots(1, len(curves), figsize=(3.2 * len(curves), 3.2))
    for ax, (name, (e, table)) in zip(np.atleast_1d(axes), curves.items()):
        c = [t[0] for t in table]
        a = [t[1] for t in table]
        ax.plot([0, 1], [0, 1], "--", color="gray", lw=1)
        ax.plot(c, a, "o-", ms=3)
        ax.set_title(f"{name}\nECE {100 * e:.2f}%", fontsize=9)
        ax.set_xlabel("confidence")
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
    np.atleast_1d(axes)[0].set_ylabel("accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_tsne(emb: np.ndarray, y: np.ndarray, path: Path, seed: int) -> dict:
    from sklearn.cluster import KMeans
    from sklearn.manifold import TSNE
    from sklearn.metrics import normalized_mutual_info_score

    z = TSNE(n_components=2, init="pca", random_state=seed, perplexity=30).fit_transform(emb)
    clusters = KMeans(n_clusters=10, n_init=10, random_state=seed).fit_predict(emb)
    purity = sum(np.bincount(y[clusters == c], minlength=10).max() for c in range(10) if (clusters == c).any()) / len(y)
    nmi = normalized_mutual_info_score(y, clusters)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    sc = ax.scatter(z[:, 0], z[:, 1], c=y, cmap="tab10", s=4)
    for d in range(10):
        cx, cy = np.median(z[y == d], axis=0)
        ax.text(cx, cy, str(d), fontsize=14, weight="bold", ha="center", va="center")
    ax.set_title(f"t-SNE of fused embeddings (all three modalities)\nK-means(10): purity {purity:.3f}, NMI {nmi:.3f}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(sc, ax=ax, ticks=range(10))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"purity": float(purity), "nmi": float(nmi), "points": int(len(y))}


def plot_mistakes(modality: str, sets: dict, probs: np.ndarray, path: Path, k: int = 12) -> int:
    y = sets["y"]
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != y)
    wrong = wrong[np.argsort(-probs[wrong].max(1))][:k]
    if not len(wrong):
        return 0
    fig, axes = plt.subplots(1, len(wrong), figsize=(1.6 * len(wrong), 2.0), squeeze=False)
    for ax, i in zip(axes[0], wrong):
        x = sets["x"][i].numpy()
        if modality == "image":
            ax.imshow(x, cmap="gray")
        elif modality == "strokes":
            points, raster = S.unpack(x)
            ax.imshow(raster, cmap="gray", alpha=0.35, extent=(0, 100, 0, 100))
            ax.plot(points[:, 0], points[:, 1], "-o", ms=2, color="#d62728")
        else:
            ax.imshow(x[::-1], aspect="auto", cmap="viridis")
        ax.set_title(f"true {y[i]} → {pred[i]}\n{100 * probs[i].max():.0f}%", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"most confident {modality} mistakes", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return len(wrong)


# ---------------------------------------------------------------- peers


def per_item_ms(fn, items: list, repeat: int = 1) -> float:
    t = time.perf_counter()
    for _ in range(repeat):
        for it in items:
            fn(it)
    return 1000 * (time.perf_counter() - t) / (repeat * len(items))


def mfcc_features(path: Path) -> np.ndarray:
    import librosa

    y = A.trim(A.load_audio(path))
    m = librosa.feature.mfcc(y=y, sr=A.SAMPLE_RATE, n_mfcc=20, n_fft=A.N_FFT, hop_length=A.HOP_LENGTH)
    return np.concatenate([m.mean(1), m.std(1)])


def tesseract_read(image: np.ndarray) -> str | None:
    """Digits-only Tesseract on a photo; None when tesseract is not installed."""
    import shutil
    import tempfile

    from PIL import Image

    if not shutil.which("tesseract"):
        return None
    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        Image.fromarray(image).save(f.name)
        r = subprocess.run(
            ["tesseract", f.name, "-", "--psm", "6", "-c", "tessedit_char_whitelist=0123456789"],
            capture_output=True,
            text=True,
        )
    return "\n".join(line.replace(" ", "") for line in r.stdout.splitlines() if line.strip())


def peers(root: Path, model_recognizer, limit: int, rng: np.random.Generator, own: dict) -> list[dict]:
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    rows = []
    pp, py = data.load_pendigits(root, "train")
    pt, pty = data.load_pendigits(root, "test")
    if limit:
        pt, pty = pt[:limit], pty[:limit]
    xtr, xte = pp.reshape(len(pp), -1) / 100, pt.reshape(len(pt), -1) / 100
    for name, clf in (("3-NN", KNeighborsClassifier(3)), ("RBF-SVM", SVC(C=10, gamma="scale"))):
        clf.fit(xtr, py)
        acc = float((clf.predict(xte) == pty).mean())
        ms = per_item_ms(lambda v, c=clf: c.predict(v[None]), list(xte[:200]))
        rows.append(
            {
                "task": "pendigits test (strokes)",
                "method": f"{name} on the 16 pendigits numbers",
                "accuracy": acc,
                "ms_per_item": ms,
            }
        )
    rows.append({"task": "pendigits test (strokes)", "method": "this project, stroke branch", **own["pendigits"]})

    xi, yi = data.load_mnist(root, "train")
    xt, yt = data.load_mnist(root, "test")
    n_tr = SVM_MNIST_TRAIN if not limit else min(SVM_MNIST_TRAIN, 20 * limit)
    sel = rng.choice(len(xi) - data.MNIST_VAL, n_tr, replace=False)
    if limit:
        xt, yt = xt[:limit], yt[:limit]
    svm = SVC(C=5, gamma="scale").fit(xi[sel].reshape(n_tr, -1) / 255, yi[sel])
    acc = float((svm.predict(xt.reshape(len(xt), -1) / 255) == yt).mean())
    ms = per_item_ms(lambda v: svm.predict(v.reshape(1, -1) / 255), list(xt[:100]))
    rows.append(
        {"task": "MNIST test (image)", "method": f"RBF-SVM on pixels ({n_tr:,} train)", "accuracy": acc, "ms_per_item": ms}
    )
    rows.append({"task": "MNIST test (image)", "method": "this project, image branch", **own["mnist"]})

    clips = data.list_fsdd(root)
    feats = np.stack([mfcc_features(c.path) for c in _bar(clips, "mfcc")])
    lab = np.array([c.digit for c in clips])
    test = np.array([c.index in data.FSDD_TEST_INDICES for c in clips])
    spk = np.array([c.speaker for c in clips])

    def svm_audio(tr, te):
        sc = StandardScaler().fit(feats[tr])
        clf = SVC(C=10, gamma="scale").fit(sc.transform(feats[tr]), lab[tr])
        return float((clf.predict(sc.transform(feats[te])) == lab[te]).mean()), clf, sc

    acc, clf, sc = svm_audio(~test, test)
    ms = per_item_ms(lambda c: clf.predict(sc.transform(mfcc_features(c.path)[None])), [c for c, t in zip(clips, test) if t][:50])
    rows.append({"task": "FSDD customary split (audio)", "method": "MFCC + RBF-SVM", "accuracy": acc, "ms_per_item": ms})
    rows.append({"task": "FSDD customary split (audio)", "method": "this project, audio branch", **own["fsdd"]})
    loso = [svm_audio(spk != s, spk == s)[0] for s in data.FSDD_SPEAKERS]
    rows.append(
        {
            "task": "FSDD leave-one-speaker-out mean",
            "method": "MFCC + RBF-SVM",
            "accuracy": float(np.mean(loso)),
            "ms_per_item": None,
        }
    )
    card_loso = (model_recognizer.card.get("metrics", {}).get("fsdd_leave_one_speaker_out") or {}).get("mean")
    if card_loso:
        rows.append(
            {
                "task": "FSDD leave-one-speaker-out mean",
                "method": "this project (six trainings, from the model card)",
                "accuracy": card_loso,
                "ms_per_item": None,
            }
        )

    pages = [synth.compose(xt, yt, synth.random_numbers(rng, 2, 2, 5), rng) for _ in range(TESSERACT_PAGES if not limit else 5)]
    truth = ["\n".join(p.numbers) for p in pages]
    t0 = time.perf_counter()
    ours = [model_recognizer.read(p.image).text for p in pages]
    ours_ms = 1000 * (time.perf_counter() - t0) / len(pages)
    rows.append(
        {
            "task": "photos of numbers (exact page)",
            "method": "this project, Recognizer.read",
            "accuracy": float(np.mean([a == b for a, b in zip(ours, truth)])),
            "ms_per_item": ours_ms,
        }
    )
    t0 = time.perf_counter()
    tess = [tesseract_read(p.image) for p in pages]
    if tess[0] is not None:
        ms = 1000 * (time.perf_counter() - t0) / len(pages)
        rows.append(
            {
                "task": "photos of numbers (exact page)",
                "method": "Tesseract 5, digits only (psm 6)",
                "accuracy": float(np.mean([a == b for a, b in zip(tess, truth)])),
                "ms_per_item": ms,
            }
        )
    else:
        rows.append(
            {
                "task": "photos of numbers (exact page)",
                "method": "Tesseract (not installed: apt-get install tesseract-ocr)",
                "accuracy": None,
                "ms_per_item": None,
            }
        )
    return rows


# ---------------------------------------------------------------- report


def pct(v) -> str:
    return "—" if v is None else f"{100 * v:.2f}%"


def write_readme(out: Path, m: dict) -> None:
    single = m["single"]
    lines = [
        "# Evaluation report",
        "",
        f"Generated by `python -m core.evaluate` on {m['date']} in {m['seconds'] / 60:.1f} min, checkpoint sha256 "
        f"`{m['checkpoint_sha256'][:16]}…`. All numbers on test splits; {m['n_tuples']:,} label-matched test tuples "
        "(image from MNIST t10k, strokes from pendigits .tes, audio from FSDD indices 0-4) for the fused results.",
        "",
        "## Each branch alone",
        "",
        "| test set | n | accuracy | macro-F1 | ECE |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, s in single.items():
        lines.append(f"| {name} | {s['n']:,} | {pct(s['accuracy'])} | {s['macro_f1']:.4f} | {pct(s['ece'])} |")
    lines += ["", "Per-class precision and recall are in `metrics.json`.", ""]
    lines += [f"![{n}](confusion_{n}.png)" for n in single]
    lines += [
        "",
        "## Ablation and fusion methods (same tuples)",
        "",
        "| modalities | " + " | ".join(m["methods"]) + " |",
        "| --- | " + " | ".join("---" for _ in m["methods"]) + " |",
    ]
    for subset, row in m["ablation"].items():
        lines.append(
            f"| {subset} | " + " | ".join(f"{pct(row[k]['accuracy'])} (F1 {row[k]['macro_f1']:.4f})" for k in m["methods"]) + " |"
        )
    lines += [
        "",
        "*shipped*: the checkpoint's fusion head (product of posteriors plus a learned correction). *product*: late fusion, "
        "the product of the single-modality posteriors. *concat*: an MLP on the concatenated embeddings. *attention*: "
        "softmax gating over the present modalities' embeddings. concat and attention are fitted here on validation tuples.",
        "",
        "![fused confusion](confusion_fused.png)",
        "",
        "## Calibration",
        "",
        f'Expected calibration error ({ECE_BINS} bins). With a "not sure" threshold of {NOT_SURE} '
        "(`python -m core.predict --threshold`, `python -m demo.app --threshold`), the share answered and their accuracy:",
        "",
        "| | ECE | answered | accuracy when answered |",
        "| --- | --- | --- | --- |",
    ]
    for name, s in m["calibration"].items():
        lines.append(f"| {name} | {pct(s['ece'])} | {pct(s['answered'])} | {pct(s['accuracy_when_answered'])} |")
    lines += ["", "![reliability](reliability.png)", "", "## Learned features", ""]
    t = m["tsne"]
    lines += [
        f"K-means with 10 clusters on {t['points']:,} fused embeddings: purity {t['purity']:.3f}, NMI {t['nmi']:.3f}.",
        "",
        "![t-SNE](tsne.png)",
        "",
        "## Most confident mistakes",
        "",
    ]
    lines += [f"![{n} mistakes](mistakes_{n}.png)" for n in m["mistakes"] if m["mistakes"][n]]
    if m.get("peers"):
        lines += [
            "",
            "## Peers, measured in the same run",
            "",
            "| task | method | accuracy | ms per item |",
            "| --- | --- | --- | --- |",
        ]
        for r in m["peers"]:
            ms = "—" if r.get("ms_per_item") is None else f"{r['ms_per_item']:.2f}"
            lines.append(f"| {r['task']} | {r['method']} | {pct(r['accuracy'])} | {ms} |")
    lines += ["", "Every test item with its predictions: `predictions.csv`. All numbers: `metrics.json`.", ""]
    (out / "README.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m core.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="reports", help="output directory (default: reports/)")
    ap.add_argument("--data-dir", default=None, help="data root (default: $DIGITS_DATA or ./data)")
    ap.add_argument("--checkpoints", default=None)
    ap.add_argument("--limit", type=int, default=0, help="at most this many items per test set (quick runs)")
    ap.add_argument("--tuples", type=int, default=N_TUPLES)
    ap.add_argument("--no-peers", action="store_true", help="skip the peer methods")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    t_start = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = data.data_root(args.data_dir)
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    try:
        model, card = checkpoint.load(args.checkpoints)
        test = load_split(root, "test", args.limit, rng)
        val = load_split(root, "val", args.limit, rng)
        uni = unipen_test(root, args.limit, rng)
    except (DataError, InputError) as e:
        raise SystemExit(f"error: {e}") from None
    for sets in (test, val):
        for m in MODALITIES:
            sets[m]["emb"], sets[m]["logits"] = embed(model, m, sets[m]["x"])
    _, uni_logits = embed(model, "strokes", uni["x"])

    single = {}
    probs_of = {}
    for name, sets, lg in (
        ("image", test["image"], test["image"]["logits"]),
        ("strokes", test["strokes"], test["strokes"]["logits"]),
        ("unipen", uni, uni_logits),
        ("audio", test["audio"], test["audio"]["logits"]),
    ):
        probs = torch.softmax(lg, 1).numpy()
        probs_of[name] = probs
        single[name] = scores(sets["y"], probs)
        plot_confusion(single[name]["confusion"], f"{name} branch, test ({len(probs):,})", out / f"confusion_{name}.png")

    heads = {
        "shipped": model.fusion.eval(),
        "product": product_of_posteriors,
        "concat": fit_head(ConcatHead(model.dims.embed), val, args.seed),
        "attention": fit_head(AttentionHead(model.dims.embed), val, args.seed),
    }
    y, idx = draw_tuples(
        {m: torch.from_numpy(test[m]["y"]) for m in MODALITIES}, args.tuples, np.random.default_rng(args.seed + 2)
    )
    ablation, calibration, curves = {}, {}, {}
    with torch.inference_mode():
        for subset in SUBSETS:
            mask = torch.tensor([[float(m in subset) for m in MODALITIES]]).repeat(len(y), 1)
            e = [test[m]["emb"][idx[m]] for m in MODALITIES]
            lg = [test[m]["logits"][idx[m]] for m in MODALITIES]
            row = {}
            for name, head in heads.items():
                probs = torch.softmax(head(e, lg, mask), 1).numpy()
                s = scores(y, probs)
                row[name] = {"accuracy": s["accuracy"], "macro_f1": s["macro_f1"], "ece": s["ece"]}
                if name == "shipped" and len(subset) == 3:
                    fused_probs, fused_scores = probs, s
            ablation["+".join(subset)] = row
        fused_emb = torch.cat([test[m]["emb"][idx[m]] for m in MODALITIES], 1).numpy()
    plot_confusion(fused_scores["confusion"], f"fused, all three ({len(y):,} tuples)", out / "confusion_fused.png")
    for name, probs, yy in [
        (n, probs_of[n], s_y)
        for n, s_y in (("image", test["image"]["y"]), ("strokes", test["strokes"]["y"]), ("audio", test["audio"]["y"]))
    ] + [("fused", fused_probs, y)]:
        e, table = ece(probs, yy)
        sure = probs.max(1) >= NOT_SURE
        calibration[name] = {
            "ece": e,
            "answered": float(sure.mean()),
            "accuracy_when_answered": float((probs.argmax(1)[sure] == yy[sure]).mean()) if sure.any() else None,
        }
        curves[name] = (e, table)
    plot_reliability(curves, out / "reliability.png")
    n_t = min(TSNE_POINTS, len(y))
    tsne = plot_tsne(fused_emb[:n_t], y[:n_t], out / "tsne.png", args.seed)
    mistakes = {m: plot_mistakes(m, test[m], probs_of[m], out / f"mistakes_{m}.png") for m in MODALITIES}

    with open(out / "predictions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "tuple",
                "image_id",
                "strokes_id",
                "audio_id",
                "true",
                "predicted",
                "confidence",
                "image_pred",
                "strokes_pred",
                "audio_pred",
            ]
        )
        single_pred = {m: torch.softmax(test[m]["logits"], 1).numpy().argmax(1) for m in MODALITIES}
        for k in range(len(y)):
            w.writerow(
                [k] + [test[m]["ids"][idx[m][k]] for m in MODALITIES]
                + [int(y[k]), int(fused_probs[k].argmax()), round(float(fused_probs[k].max()), 6)]
                + [int(single_pred[m][idx[m][k]]) for m in MODALITIES]
            )  # fmt: skip

    from core.recognizer import Recognizer

    r = Recognizer(model, card)
    own = {
        "pendigits": {
            "accuracy": single["strokes"]["accuracy"],
            "ms_per_item": per_item_ms(lambda x: embed(model, "strokes", x[None]), list(test["strokes"]["x"][:200])),
        },
        "mnist": {
            "accuracy": single["image"]["accuracy"],
            "ms_per_item": per_item_ms(lambda x: embed(model, "image", x[None]), list(test["image"]["x"][:200])),
        },
        "fsdd": {
            "accuracy": single["audio"]["accuracy"],
            "ms_per_item": per_item_ms(
                lambda c: r.predict(audio=data.data_root(args.data_dir) / "fsdd" / "recordings" / c), test["audio"]["ids"][:50]
            ),
        },
    }
    peer_rows = [] if args.no_peers else peers(root, r, args.limit, rng, own)
    metrics = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "checkpoint_sha256": card["checkpoint"]["sha256"],
        "n_tuples": int(len(y)),
        "single": single,
        "fused": fused_scores,
        "methods": list(heads),
        "ablation": ablation,
        "calibration": calibration,
        "tsne": tsne,
        "mistakes": mistakes,
        "peers": peer_rows,
        "seconds": time.time() - t_start,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    write_readme(out, metrics)
    print(f"wrote {out}/README.md and {len(list(out.iterdir()))} files in {metrics['seconds'] / 60:.1f} min")
    return metrics


if __name__ == "__main__":
    main()
