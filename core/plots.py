"""The evaluation report's pictures: confusion matrices, reliability diagrams, t-SNE, mistakes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from core import strokes as S  # noqa: E402


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
