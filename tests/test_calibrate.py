"""Choices the calibration stage makes on validation data (core/calibrate.py), on small known cases."""

import numpy as np
import pytest
import torch

from core.calibrate import choose_anchor, choose_threshold


def onehot_logits(labels, n=10, scale=5.0):
    return torch.nn.functional.one_hot(torch.as_tensor(labels), n).float() * scale


def test_anchor_falls_back_to_strokes_where_fusion_costs_a_source():
    y = torch.arange(10).repeat(4)  # 40 drawings: 20 from source a, 20 from b
    source = np.array(["a"] * 20 + ["b"] * 20)
    strokes = onehot_logits(y)
    image = onehot_logits(y)
    head = onehot_logits(y, scale=8.0)
    head[:2] = onehot_logits((y[:2] + 1) % 10, scale=8.0)  # the head errs on two drawings of source a
    anchor, margin = choose_anchor(head, image, strokes, y, source)
    assert anchor > 0.5  # the stroke branch must outvote the head there
    assert min(margin.values()) >= 0.0, margin


def test_anchor_is_zero_when_fusion_helps_everywhere():
    y = torch.arange(10).repeat(4)
    source = np.array(["a"] * 20 + ["b"] * 20)
    strokes = onehot_logits(y)
    strokes[:1] = onehot_logits((y[:1] + 1) % 10)  # the branches err on different drawings of source a
    image = onehot_logits(y)
    image[1:3] = onehot_logits((y[1:3] + 1) % 10)
    head = onehot_logits(y)
    anchor, margin = choose_anchor(head, image, strokes, y, source)
    assert anchor == 0.0
    assert margin == {"a": 5.0, "b": 0.0}  # a: 1 of 20 right that the better branch got wrong; b: as good


def test_threshold_keeps_digits_sure_and_rejects_non_digits():
    gen = torch.Generator().manual_seed(0)
    digits = {"image": (torch.full((200,), 0.95), torch.randn(200, generator=gen) + 6.0)}
    non = {"image": (torch.full((200,), 0.6), torch.randn(200, generator=gen) - 6.0)}
    tau, shifts = choose_threshold(digits, non)
    p, z = digits["image"]
    unsure = float((p * torch.sigmoid(z + shifts["image"]) < tau).float().mean())
    assert unsure <= 0.01
    p, z = non["image"]
    assert float((p * torch.sigmoid(z + shifts["image"]) < tau).float().mean()) >= 0.95


def test_threshold_keeps_the_most_digits_when_no_threshold_keeps_enough():
    # audio's top probability is below every candidate threshold for 5% of its digits (a branch trained with
    # outlier exposure, on an unheard voice): no threshold meets the 1% bound, so the one losing fewest digits
    # wins, not the one rejecting the most non-digits (0.9, which rejects everything but loses digits too)
    gen = torch.Generator().manual_seed(0)
    p_audio = torch.rand(400, generator=gen) * 0.65 + 0.35  # 0.35-1.0: more of them under each higher threshold
    p_audio[:20] = 0.2
    digits = {"image": (torch.full((400,), 0.95), torch.full((400,), 8.0)), "audio": (p_audio, torch.full((400,), 8.0))}
    non = {"image": (torch.full((400,), 0.6), torch.full((400,), -8.0)), "audio": (torch.full((400,), 0.5), torch.zeros(400))}
    tau, shifts = choose_threshold(digits, non)
    assert tau == 0.3
    p, z = digits["audio"]
    assert float((p * torch.sigmoid(z + shifts["audio"]) < tau).float().mean()) == pytest.approx(0.05)
    p, z = digits["image"]
    assert float((p * torch.sigmoid(z + shifts["image"]) < tau).float().mean()) <= 0.01
