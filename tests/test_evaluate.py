"""The evaluation suite on a small subset: every artifact is written and the numbers agree."""

import csv
import json
import re

import pytest

from core import evaluate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(tmp_path_factory, real_data):
    out = tmp_path_factory.mktemp("reports")
    metrics = evaluate.main(["--out", str(out), "--data-dir", str(real_data), "--limit", "150", "--tuples", "400"])
    return out, metrics


def test_files_are_written(report):
    out, m = report
    for name in ("README.md", "metrics.json", "predictions.csv", "reliability.png", "tsne.png", "confusion_fused.png"):
        assert (out / name).stat().st_size > 0, name
    for name in ("image", "strokes", "unipen", "audio"):
        assert (out / f"confusion_{name}.png").is_file()
    # every picture README shows exists
    for pic in re.findall(r"\]\(([^)]+\.png)\)", (out / "README.md").read_text()):
        assert (out / pic).is_file(), pic
    assert json.loads((out / "metrics.json").read_text())["n_tuples"] == 400


def test_accuracy_recomputed_from_predictions_csv(report):
    out, m = report
    rows = list(csv.DictReader(open(out / "predictions.csv")))
    assert len(rows) == 400
    acc = sum(r["true"] == r["predicted"] for r in rows) / len(rows)
    assert acc == pytest.approx(m["fused"]["accuracy"])
    assert acc == pytest.approx(m["ablation"]["image+strokes+audio"]["shipped"]["accuracy"])
    # confusion matrix counts add up to the tuples and its diagonal to the right answers
    cm = m["fused"]["confusion"]
    assert sum(map(sum, cm)) == 400 and sum(cm[i][i] for i in range(10)) == round(acc * 400)


def test_ablation_and_fusion_methods(report):
    _, m = report
    assert set(m["methods"]) >= {"product", "concat", "attention", "shipped"}
    assert len(m["ablation"]) == 7
    # measured (--limit 150, 400 tuples): one modality 0.9675-0.9925 for every head, shipped
    # 0.985-0.9925; two or three modalities 0.9975-1.0
    # The shipped head reads image+strokes as two views of ONE drawing (the Draw tab); on label-matched
    # tuples (an unrelated image and strokes) it scores below the other heads: 98.6% on 3,000 test
    # tuples in the model card. Its same-drawing numbers are checked in the benchmark.
    for subset, row in m["ablation"].items():
        floor = 0.95 if "+" not in subset else 0.99
        for method, s in row.items():
            low = 0.97 if (method == "shipped" and subset == "image+strokes") else floor
            assert low <= s["accuracy"] <= 1.0, (subset, method, s)
        shipped = 0.97 if "+" not in subset or subset == "image+strokes" else 0.995
        assert row["shipped"]["accuracy"] >= shipped, (subset, row)
    # fusing all three is at least as good as the best single modality for the shipped head
    best_single = max(m["ablation"][k]["shipped"]["accuracy"] for k in ("image", "strokes", "audio"))
    assert m["ablation"]["image+strokes+audio"]["shipped"]["accuracy"] >= best_single


def test_calibration_tsne_and_peers(report):
    _, m = report
    # measured ECE: image 0.097, strokes 0.098, audio 0.092 (label smoothing: under-confident), fused 0.000
    for name in ("image", "strokes", "audio"):
        assert 0 <= m["calibration"][name]["ece"] < 0.12, (name, m["calibration"][name])
    assert 0 <= m["calibration"]["fused"]["ece"] < 0.02, m["calibration"]["fused"]
    # ten classes, well separated: measured purity 1.0 and NMI 1.0 (chance: purity about 0.1)
    assert m["tsne"]["purity"] >= 0.95 and m["tsne"]["nmi"] >= 0.9, m["tsne"]
    peer = {(r["task"], r["method"].split(" ")[0]): r for r in m["peers"]}
    # peers measured here, not copied: 3-NN on pendigits 0.987, RBF-SVM on MNIST pixels 0.987,
    # MFCC + SVM across speakers 0.637 (speaker-independent audio is much harder than the customary split)
    assert peer[("pendigits test (strokes)", "3-NN")]["accuracy"] >= 0.95
    assert peer[("MNIST test (image)", "RBF-SVM")]["accuracy"] >= 0.93
    assert 0.45 <= peer[("FSDD leave-one-speaker-out mean", "MFCC")]["accuracy"] <= 0.85
    ours = peer[("FSDD leave-one-speaker-out mean", "this")]
    assert ours["accuracy"] is None and "not measured" in ours["method"]  # no --loso in this run
    # this project's peer rows are the same numbers as its own single-branch scores
    same = {"pendigits test (strokes)": "strokes", "MNIST test (image)": "image", "FSDD customary split (audio)": "audio"}
    for task, branch in same.items():
        assert peer[(task, "this")]["accuracy"] == pytest.approx(m["single"][branch]["accuracy"]), task
