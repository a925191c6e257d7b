import copy
import itertools

import pytest
import torch

from core.model import MODALITIES, DigitNet, ModelDimensions, fold_batchnorm


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    m = DigitNet(ModelDimensions())
    # give the correction path non-zero weights so masking is really exercised
    torch.nn.init.normal_(m.fusion.correction[-1].weight, std=0.5)
    return m.eval()


def inputs(b=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "image": torch.rand(b, 28, 28, generator=g),
        "strokes": torch.cat([torch.rand(b, 16, generator=g) * 100, torch.rand(b, 784, generator=g)], dim=1),
        "audio": torch.randn(b, 40, 48, generator=g),
    }


def test_every_subset_gives_fused_and_per_modality_logits(net):
    x = inputs()
    for r in (1, 2, 3):
        for subset in itertools.combinations(MODALITIES, r):
            out = net(**{m: x[m] for m in subset})
            assert out["fused"].shape == (4, 10)
            assert set(out) - {"fused"} == set(subset)


def test_missing_modality_is_fully_masked(net):
    x = inputs()
    other = inputs(seed=1)
    with torch.no_grad():
        a = net(image=x["image"], strokes=x["strokes"])["fused"]
        # a masked modality's content must not matter at all
        b = net(image=x["image"], strokes=x["strokes"], audio=other["audio"], mask=torch.tensor([[1.0, 1, 0]] * 4))["fused"]
        c = net(image=x["image"], strokes=x["strokes"], audio=x["audio"])["fused"]
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_untrained_correction_is_exact_late_fusion():
    m = DigitNet(ModelDimensions()).eval()
    x = inputs()
    with torch.no_grad():
        out = m(**x)
        expected = sum(torch.log_softmax(out[k], 1) for k in MODALITIES)
    torch.testing.assert_close(out["fused"], torch.log_softmax(expected, 1))


def test_drawing_anchor_leans_on_strokes_only_for_drawings():
    m = DigitNet(ModelDimensions()).eval()
    x = inputs()
    with torch.no_grad():
        subsets = (("image", "strokes"), ("image", "audio"), ("image", "strokes", "audio"))
        before = {k: m(**{n: x[n] for n in k})["fused"] for k in subsets}
        m.calibration.drawing_anchor.fill_(1.0)
        drawing = m(image=x["image"], strokes=x["strokes"])
        other = m(image=x["image"], audio=x["audio"])["fused"]
        spoken = m(**x)["fused"]
        m.calibration.drawing_anchor.fill_(0.5)
        half = m(image=x["image"], strokes=x["strokes"])["fused"]
    torch.testing.assert_close(drawing["fused"], torch.log_softmax(drawing["strokes"], 1))  # anchor 1: the stroke branch
    torch.testing.assert_close(other, before[("image", "audio")])  # no drawing, no anchor
    torch.testing.assert_close(spoken, before[("image", "strokes", "audio")])  # with audio the head weighs all three
    torch.testing.assert_close(half, 0.5 * before[("image", "strokes")] + 0.5 * torch.log_softmax(drawing["strokes"], 1))


def test_no_input_is_an_error(net):
    with pytest.raises(ValueError, match="at least one"):
        net()


def test_folding_batchnorm_keeps_every_answer():
    """Recognizer.load folds each BatchNorm into the layer before it: every branch's embedding is the
    eval-mode model's with its statistics (so logits, fusion and answers are too)."""
    torch.manual_seed(0)
    model = DigitNet(ModelDimensions())
    for m in model.modules():  # trained-looking statistics, not the identity a fresh BatchNorm is
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    x = inputs(3)
    before = {m: model.encode(m, x[m]) for m in MODALITIES}
    folded = fold_batchnorm(copy.deepcopy(model))
    norms = [m for m in folded.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    assert not norms, norms  # every one was after a conv or linear layer
    for m in MODALITIES:
        torch.testing.assert_close(folded.encode(m, x[m]), before[m], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="eval-mode"):
        fold_batchnorm(DigitNet(ModelDimensions()).train())


def test_dimensions_written_before_the_check_width_existed_load_with_the_width_they_had():
    """Checkpoints from before `ood_hidden` built their checks fusion_hidden // 2 wide; new ones are wider."""
    old = {k: v for k, v in ModelDimensions().to_dict().items() if k != "ood_hidden"}
    assert ModelDimensions.from_dict(old).ood_hidden == 64
    assert ModelDimensions.from_dict({**old, "fusion_hidden": 96}).ood_hidden == 48
    assert ModelDimensions.from_dict(ModelDimensions().to_dict()).ood_hidden == ModelDimensions.ood_hidden == 256
    net = DigitNet(ModelDimensions.from_dict(old))
    assert net.calibration.ood[0][0].out_features == 64
