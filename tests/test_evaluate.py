"""The evaluation suite on a small subset: every artifact is written and the numbers agree."""

import csv
import json
import re

import pytest

from core import evaluate


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
    for subset, row in m["ablation"].items():
        for method, s in row.items():
            assert 0.5 < s["accuracy"] <= 1.0, (subset, method, s)
    # fusing all three is at least as good as the best single modality for the shipped head
    best_single = max(m["ablation"][k]["shipped"]["accuracy"] for k in ("image", "strokes", "audio"))
    assert m["ablation"]["image+strokes+audio"]["shipped"]["accuracy"] >= best_single


def test_calibration_tsne_and_peers(report):
    _, m = report
    for name in ("image", "strokes", "audio", "fused"):
        assert 0 <= m["calibration"][name]["ece"] < 0.2
    assert 0 < m["tsne"]["nmi"] <= 1 and 0.1 <= m["tsne"]["purity"] <= 1
    tasks = {(r["task"], r["method"].split(" ")[0]) for r in m["peers"]}
    assert ("pendigits test (strokes)", "3-NN") in tasks and ("MNIST test (image)", "RBF-SVM") in tasks
    assert any(r["task"].startswith("FSDD leave-one-speaker-out") for r in m["peers"])
