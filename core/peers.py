"""Peer methods measured on the same test sets as this project: k-NN and SVMs on pendigits and
MNIST pixels, MFCC + SVM on FSDD (customary split and leave-one-speaker-out), Tesseract and RapidOCR
on photos (core/ocr_peers.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import audio as A
from core import data, synth
from core.ocr_peers import rapidocr_read, tesseract_read
from core.sets import progress
from core.timing import median_ms_per_item

SVM_MNIST_TRAIN = 10_000
TESSERACT_PAGES = 30


def mfcc_features(path: Path) -> np.ndarray:
    import librosa

    y = A.trim(A.load_audio(path))
    m = librosa.feature.mfcc(y=y, sr=A.SAMPLE_RATE, n_mfcc=20, n_fft=A.N_FFT, hop_length=A.HOP_LENGTH)
    return np.concatenate([m.mean(1), m.std(1)])


def peers(root: Path, model_recognizer, limit: int, rng: np.random.Generator, own: dict, loso: dict | None = None) -> list[dict]:
    """Peer methods on the same test sets, beside this project's numbers (`own`: accuracy and
    ms_per_item per task; `loso`: this project's leave-one-speaker-out, when measured in this run)."""
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
        ms = median_ms_per_item(lambda v, c=clf: c.predict(v[None]), list(xte[:200]))
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
    ms = median_ms_per_item(lambda v: svm.predict(v.reshape(1, -1) / 255), list(xt[:100]))
    rows.append(
        {"task": "MNIST test (image)", "method": f"RBF-SVM on pixels ({n_tr:,} train)", "accuracy": acc, "ms_per_item": ms}
    )
    rows.append({"task": "MNIST test (image)", "method": "this project, image branch", **own["mnist"]})

    clips = data.list_fsdd(root)
    feats = np.stack([mfcc_features(c.path) for c in progress(clips, "mfcc")])
    lab = np.array([c.digit for c in clips])
    test = np.array([c.index in data.FSDD_TEST_INDICES for c in clips])
    spk = np.array([c.speaker for c in clips])

    def svm_audio(tr, te):
        sc = StandardScaler().fit(feats[tr])
        clf = SVC(C=10, gamma="scale").fit(sc.transform(feats[tr]), lab[tr])
        return float((clf.predict(sc.transform(feats[te])) == lab[te]).mean()), clf, sc

    acc, clf, sc = svm_audio(~test, test)
    ms = median_ms_per_item(
        lambda c: clf.predict(sc.transform(mfcc_features(c.path)[None])), [c for c, t in zip(clips, test) if t][:50]
    )
    rows.append({"task": "FSDD customary split (audio)", "method": "MFCC + RBF-SVM", "accuracy": acc, "ms_per_item": ms})
    rows.append({"task": "FSDD customary split (audio)", "method": "this project, audio branch", **own["fsdd"]})
    svm_loso = [svm_audio(spk != s, spk == s)[0] for s in data.FSDD_SPEAKERS]
    rows.append(
        {
            "task": "FSDD leave-one-speaker-out mean",
            "method": "MFCC + RBF-SVM",
            "accuracy": float(np.mean(svm_loso)),
            "ms_per_item": None,
        }
    )
    rows.append(
        {
            "task": "FSDD leave-one-speaker-out mean",
            "method": "this project (nested epoch choice, measured in this run)"
            if loso
            else "this project (not measured: --loso)",
            "accuracy": loso["mean"] if loso else None,
            "ms_per_item": None,
        }
    )

    pages = [synth.compose(xt, yt, synth.random_numbers(rng, 2, 2, 5), rng) for _ in range(TESSERACT_PAGES if not limit else 5)]
    truth = ["\n".join(p.numbers) for p in pages]
    own = "this project, Recognizer.read" + (" (line reader)" if model_recognizer.reader is not None else "")
    readers = {own: model_recognizer}
    if model_recognizer.reader is not None:  # the component reader it replaced, on the same pages
        readers["this project's component reader (before the line reader)"] = type(model_recognizer)(
            model_recognizer.model, model_recognizer.card, model_recognizer.threshold
        )
    for name, rec in readers.items():
        ours = [rec.read(p.image).text for p in pages]
        rows.append(
            {
                "task": "photos of numbers (exact page)",
                "method": name,
                "accuracy": float(np.mean([a == b for a, b in zip(ours, truth)])),
                "ms_per_item": median_ms_per_item(rec.read, [p.image for p in pages], warmup=0),
            }
        )
    for name, read, missing in (
        ("Tesseract 5, digits only (psm 6)", tesseract_read, "Tesseract (not installed: apt-get install tesseract-ocr)"),
        ("RapidOCR (PP-OCRv4 ONNX), digits kept", rapidocr_read, "RapidOCR (not installed: pip install rapidocr-onnxruntime)"),
    ):
        got = [read(p.image) for p in pages]
        installed = got[0] is not None
        rows.append(
            {
                "task": "photos of numbers (exact page)",
                "method": name if installed else missing,
                "accuracy": float(np.mean([a == b for a, b in zip(got, truth)])) if installed else None,
                "ms_per_item": median_ms_per_item(read, [p.image for p in pages[:5]], warmup=0) if installed else None,
            }
        )
    return rows
