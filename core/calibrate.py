"""The calibration stage: honest confidence, fitted after training on data the model did not learn from.

    python -m core.train --stages calibrate        # what scripts/train_core.sh runs last

Three things, all in `model.calibration` (see core.model.Calibration):
1. one temperature per branch, fitted on validation writers and speakers (MNIST's last 6,000
   training images and canvas drawings of the validation strokes; pendigits validation rows and
   UNIPEN validation donors; for audio, an FSDD speaker the *probe* model never heard, because the
   shipped audio branch heard every training speaker), and one per modality subset for fused
   answers (image+strokes on validation drawings: one drawing, two views; subsets with audio keep
   temperature 1, since no unheard speaker is left for the shipped branch).
   Before the fused temperature, the drawing anchor (how much the stroke branch's own answer counts
   beside the fusion head's on one drawing) is chosen on validation canvas drawings: the smallest
   anchor with the best worst-source margin of fused over the better single branch (pendigits rows
   and UNIPEN donors), so that fusing a drawing's picture never costs accuracy on either source;
2. per branch, a small out-of-distribution check on the frozen embedding: training-writer digits
   versus generated non-digits (core/negatives.py: noise, blobs, scribbles, printed words, drawn shapes;
   zigzags, spirals, hatching, shapes; noise, hum, music, reversed and babbled speech, whistled tones,
   beeps and chirps, and non-digit words spoken by the training text-to-speech voices, with the digits
   those voices say on the digit side);
3. the default "sure" threshold, one for every branch: each check's bias is set so that at most
   THRESHOLD_QUANTILE of its branch's validation digits are "not sure", and of the candidate
   thresholds the one that leaves the most validation non-digits "not sure" is kept (where none keeps every
   branch's digits, the one losing the fewest, with a warning).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from core import audio as A
from core import augment, augment_audio, data, negatives, sets
from core import image as I
from core import strokes as S
from core.errors import InputError
from core.evaluate import ece
from core.model import MODALITIES, Calibration, DigitNet, ModelDimensions, anchored, fusion_inputs, ood_checks
from core.train_audio import audio_epoch, held_out_speakers, load_audio, load_words, with_outliers, with_voice_bank
from core.train_branch import train_branch
from core.tuples import embed_items

TEMPERATURES = np.geomspace(0.25, 8.0, 241)  # grid searched for each temperature (robust, no optimizer state)
THRESHOLD_QUANTILE = 0.01  # at most 1% of validation digits of any branch may be "not sure"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # candidate default thresholds
BIAS_RANGE = (-30.0, 30.0)  # shifts of a check's logit tried when fitting it to the threshold
OOD_STEPS = 2000  # steps for each out-of-distribution check (500 left tones, chirps and drawn shapes half learned)
OOD_BATCH = 1024  # items per step, half digits and half non-digits
OOD_LR = 3e-3
N_IN = 6000  # training-writer digits per branch for the check
N_NEG = 6000  # generated non-digits per branch for the check (equal share per kind)
N_NEG_VAL = 600  # fresh non-digits (another seed) per branch, to report the check on
ANCHORS = np.round(np.arange(0.0, 1.0001, 0.05), 2)  # candidate drawing anchors (1: the stroke branch alone)
PROBE_EPOCHS = 20  # the audio probe's epochs: enough for its held-out speaker's calibration, a third of a full audio stage


def _bar(it, desc: str):
    return tqdm(it, desc=desc, leave=False, mininterval=1.0)


def _pick(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size=min(n, k), replace=False))


def _stroke_inputs(parts_list: list, desc: str) -> tuple[np.ndarray, np.ndarray]:
    """Tablet strokes (y up) -> (inputs, kept indices); items that are only a point are skipped."""
    keep, out = [], []
    for k, parts in enumerate(_bar(parts_list, desc)):
        try:
            out.append(S.strokes_to_input(parts, y_down=False))
            keep.append(k)
        except InputError:
            pass
    return np.stack(out), np.array(keep, dtype=np.int64)


def digits_sets(cfg, rng: np.random.Generator) -> tuple[dict, dict, dict]:
    """(validation, training-writer, audio-probe) inputs per branch: {modality: (x tensor, y tensor)}."""
    root = data.data_root(cfg.data_dir)
    lim = lambda k: min(k, cfg.limit) if cfg.limit else k  # noqa: E731
    t = lambda x, y: (torch.from_numpy(np.asarray(x, np.float32)), torch.from_numpy(np.asarray(y, np.int64)))  # noqa: E731
    xi, yi = data.load_mnist(root, "train", cfg.verify)
    n_val = min(data.MNIST_VAL, len(xi) // 5)
    va = len(xi) - n_val + _pick(n_val, lim(n_val), rng)
    tr = _pick(len(xi) - n_val, lim(N_IN), rng)

    pp, py = data.load_pendigits(root, "train", cfg.verify)
    p_val = min(data.PENDIGITS_VAL, len(pp) // 5)
    p_va = len(pp) - p_val + _pick(p_val, lim(p_val), rng)
    p_tr = _pick(len(pp) - p_val, lim(N_IN // 2), rng)
    u = data.load_unipen(root, cfg.verify)
    u_va = u.split_indices("val")
    u_va = u_va[_pick(len(u_va), lim(2000), rng)]
    u_tr = u.split_indices("train")
    u_tr = u_tr[_pick(len(u_tr), lim(N_IN // 2), rng)]
    uv, keep = _stroke_inputs([S.unipen_strokes(u.sample(i)) for i in u_va], "unipen val")
    strokes_val = np.concatenate([np.stack([S.pendigits_input(r) for r in _bar(pp[p_va], "pendigits val")]), uv])
    strokes_val_y = np.concatenate([py[p_va], u.labels[u_va[keep]]])
    drawn_val = strokes_val[:, 2 * S.N_POINTS :].reshape(-1, I.SIZE, I.SIZE)  # the canvas drawing of each
    val = {
        "image": t(np.concatenate([xi[va] / 255.0, drawn_val]), np.concatenate([yi[va], strokes_val_y])),
        "strokes": t(strokes_val, strokes_val_y),
    }

    gen = torch.Generator().manual_seed(cfg.seed)
    aug_strokes = [augment.augmented_pendigits_input(r, S.pendigits_curve(r), rng) for r in _bar(pp[p_tr], "pendigits")]
    u_parts = [S.unipen_strokes(u.sample(i)) for i in u_tr]
    for parts in _bar(u_parts, "unipen"):
        try:
            aug_strokes.append(augment.augmented_stroke_input(parts, rng))
        except InputError:
            pass
    aug_strokes = np.stack(aug_strokes)
    drawn = torch.from_numpy(aug_strokes[:, 2 * S.N_POINTS :].reshape(-1, I.SIZE, I.SIZE))
    mnist = augment.augment_images(torch.from_numpy(xi[tr]).float() / 255.0, gen)
    train = {"image": (torch.cat([mnist, drawn]), None), "strokes": (torch.from_numpy(aug_strokes), None)}

    clips = data.list_fsdd(root)
    rest = data.fsdd_split(clips, "train")
    if cfg.limit:
        rest = [rest[i] for i in _pick(len(rest), lim(cfg.limit // 4), rng)]
    waves = [A.trim(A.load_audio(c.path)) for c in _bar(rest, "fsdd")]
    tts_digits, words, words_val = tts_clips(cfg)
    in_dist = waves + [A.trim(A.load_audio(c.path)) for c in _bar(tts_digits, "tts digits")]
    train["audio"] = (torch.from_numpy(np.stack([augment_audio.augmented_audio_features(w, rng) for w in in_dist])), None)
    speakers = np.array([c.speaker for c in rest])
    held = data.FSDD_VAL_SPEAKER if (speakers == data.FSDD_VAL_SPEAKER).any() else speakers[0]
    fsdd = sets.AudioSet(*sets.pair(np.stack([A.log_mel(w) for w in waves]), [c.digit for c in rest]), waves, speakers)
    heard, unheard = sets.held_out_speaker(fsdd, held)
    probe = {"waves": heard.waves, "set": heard, "val": (unheard.x, unheard.y), "speaker": held, "words": words,
             "words_val": words_val}  # fmt: skip
    return val, train, probe


def tts_clips(cfg) -> tuple[list, list[np.ndarray], list[np.ndarray]]:
    """Text-to-speech material where it was made (scripts/make_tts_digits.sh), whether or not the audio
    branch trained on it: (digit clips of the training TTS speakers, their non-digit words, the held-out
    TTS speakers' non-digit words); empty lists otherwise. The check learns "digit" from the digits the
    voices say, so that a TTS voice alone is never the cue for "not a digit"."""
    folder = data.tts_folder(cfg.data_dir, cfg.tts_dir)
    if not (folder / "manifest.json").is_file():
        return [], [], []
    held = set(cfg.tts_val_speakers)
    digits = [c for c in data.list_tts(folder=folder) if c.speaker not in held]
    if cfg.limit:
        digits = digits[: cfg.limit // 4]
    return digits, load_words(folder, lambda s: s not in held), load_words(folder, lambda s: s in held)


def negative_inputs(
    rng: np.random.Generator, n: int, speech: list[np.ndarray], words: list[np.ndarray] | None = None
) -> dict[str, tuple[torch.Tensor, list[str]]]:
    """n generated non-digits per branch, through the same preprocessing as users' inputs -> (x, kinds).
    Audio includes spoken non-digit words when `words` are given."""
    out = {}
    audio_kinds = negatives.AUDIO_KINDS + ((negatives.WORD_KIND,) if words else ())
    makers = {
        "image": (negatives.IMAGE_KINDS, lambda k: I.to_mnist(negatives.negative_image(k, rng)).astype(np.float32) / 255.0),
        "strokes": (negatives.STROKE_KINDS, lambda k: S.strokes_to_input(negatives.negative_strokes(k, rng))),
        "audio": (audio_kinds, lambda k: A.log_mel(A.trim(negatives.negative_audio(k, rng, speech, words)))),
    }
    for m, (kinds, make) in makers.items():
        xs, ks = [], []
        for i in _bar(range(n), f"non-digits {m}"):
            k = kinds[i % len(kinds)]
            try:
                xs.append(make(k))
                ks.append(k)
            except InputError:  # a blank picture or a silent clip is refused before the model: nothing to learn
                pass
        out[m] = (torch.from_numpy(np.stack(xs).astype(np.float32)), ks)
    return out


def fit_temperature(logits: torch.Tensor, y: torch.Tensor) -> float:
    """The temperature minimizing validation NLL (grid search)."""
    nll = [float(F.cross_entropy(logits / t, y)) for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(nll))])


def fit_ood(head: torch.nn.Module, pos: torch.Tensor, neg: torch.Tensor, seed: int) -> None:
    """Train one check: features of digits (label 1) against features of non-digits (0), balanced."""
    torch.manual_seed(seed)
    for p in head.parameters():  # a fresh start, so refitting does not depend on the previous fit
        torch.nn.init.normal_(p, std=0.05) if p.dim() > 1 else torch.nn.init.zeros_(p)
    x = torch.cat([pos, neg])
    mu, sd = x.mean(0), x.std(0) + 1e-4
    y = torch.cat([torch.ones(OOD_BATCH // 2), torch.zeros(OOD_BATCH // 2)])
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(head.parameters(), lr=OOD_LR, weight_decay=1e-3)
    head.train()
    with torch.enable_grad():
        for _ in range(OOD_STEPS):  # balanced minibatches: as many digits as non-digits in every step
            xb = torch.cat([pos[torch.randint(len(pos), (OOD_BATCH // 2,), generator=gen)],
                            neg[torch.randint(len(neg), (OOD_BATCH // 2,), generator=gen)]])  # fmt: skip
            loss = F.binary_cross_entropy_with_logits(head((xb - mu) / sd)[:, 0], y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    # fold the standardization into the first layer, so the stored head takes raw features
    with torch.no_grad():
        first = head[0]
        first.bias -= (first.weight / sd) @ mu
        first.weight /= sd
    head.eval()


def train_probe(probe_data: dict, cfg, dims: ModelDimensions) -> DigitNet:
    """An audio branch like the shipped one (same dimensions, augmentation and text-to-speech clips) trained
    without one FSDD speaker, whose logits on that speaker calibrate audio."""
    torch.manual_seed(cfg.seed)
    net = DigitNet(dims)
    rng = np.random.default_rng(cfg.seed + 5)
    gen = torch.Generator().manual_seed(cfg.seed + 5)
    audio = load_audio(data.data_root(cfg.data_dir), cfg, rng, probe_data["set"])
    audio = with_outliers(audio, cfg, rng, held_out_speakers(cfg, probe_data["speaker"]))  # as the shipped branch learned
    audio = with_voice_bank(audio, cfg, rng, (probe_data["speaker"],))
    epochs = min(PROBE_EPOCHS, cfg.audio_epochs)
    epoch = lambda e: audio_epoch(audio, rng, cfg.spec_masks)  # noqa: E731
    train_branch(net, "audio", epoch, epochs, cfg.audio_lr, cfg, None, gen)
    return net.eval()


def fit(model: DigitNet, cfg) -> dict:
    """Fit `model.calibration` in place; returns the validation measurements for the model card."""
    rng = np.random.default_rng(cfg.seed + 11)
    if model.dims.ood_hidden != ModelDimensions.ood_hidden:  # a checkpoint from before the wider checks: today's width
        model.dims = replace(model.dims, ood_hidden=ModelDimensions.ood_hidden)
        model.calibration.ood = ood_checks(model.dims)
    cal = model.calibration
    val, train_in, probe_data = digits_sets(cfg, rng)
    report: dict = {"temperature": {}, "ece_val_before": {}, "ece_val_after": {}}

    # 1. temperatures per branch (audio: the probe on its unheard speaker)
    val_logits = {m: embed_items(model, m, val[m][0])[1] for m in ("image", "strokes")}
    probe = train_probe(probe_data, cfg, model.dims)
    val_logits["audio"] = embed_items(probe, "audio", probe_data["val"][0])[1]
    val_y = {"image": val["image"][1], "strokes": val["strokes"][1], "audio": probe_data["val"][1]}
    for i, m in enumerate(MODALITIES):
        temp = fit_temperature(val_logits[m], val_y[m])
        cal.log_temp[i] = float(np.log(temp))
        report["temperature"][m] = round(temp, 4)
        report["ece_val_before"][m] = round(ece(torch.softmax(val_logits[m], 1).numpy(), val_y[m].numpy())[0], 5)
        report["ece_val_after"][m] = round(ece(torch.softmax(val_logits[m] / temp, 1).numpy(), val_y[m].numpy())[0], 5)
    report["audio_probe_speaker"] = probe_data["speaker"]

    # fused image+strokes on validation canvas drawings (both views of one drawing): anchor, then temperature
    drawn = sets.drawings(data.data_root(cfg.data_dir), "val", cfg.limit, cfg.verify, rng)
    parts = {"image": embed_items(model, "image", drawn.image), "strokes": embed_items(model, "strokes", drawn.strokes)}
    n, yd = len(drawn.y), drawn.y
    embeds, logits, mask = fusion_inputs(n, {m: (torch.arange(n), e, lg) for m, (e, lg) in parts.items()}, model.dims)
    with torch.inference_mode():
        head = model.fusion(embeds, logits, mask)
    anchor, margins = choose_anchor(head, parts["image"][1], parts["strokes"][1], yd, drawn.source)
    cal.drawing_anchor.fill_(anchor)
    report["drawing_anchor"] = {"anchor": anchor, "val_margin_over_better_branch": margins}
    with torch.inference_mode():
        fused = model.fuse(embeds, logits, mask)
    temp = fit_temperature(fused, yd)
    cal.log_temp_fused[Calibration.subset_index(mask[0] > 0)] = float(np.log(temp))
    report["temperature"]["image+strokes"] = round(temp, 4)

    # 2. out-of-distribution checks
    speech = probe_data["waves"]
    n_neg = cfg.limit // 2 if cfg.limit else N_NEG
    neg = negative_inputs(np.random.default_rng(cfg.seed + 21), n_neg, speech, probe_data["words"])
    neg_val = negative_inputs(
        np.random.default_rng(cfg.seed + 99), cfg.limit // 8 if cfg.limit else N_NEG_VAL, speech, probe_data["words_val"]
    )  # held-out TTS speakers' words: the report says how unheard voices' words fare
    features = lambda m, x: model.calibration.ood_features(*embed_items(model, m, x))  # noqa: E731
    for i, m in enumerate(_bar(MODALITIES, "out-of-distribution checks")):
        fit_ood(cal.ood[i], features(m, train_in[m][0]), features(m, neg[m][0]), cfg.seed + i)
    cal.fitted.fill_(True)

    # 3. one threshold for every branch: each check's bias is shifted so that at most THRESHOLD_QUANTILE of
    # that branch's validation digits fall below it, and the threshold rejecting the most validation
    # non-digits (seed+99, never trained on) under that constraint is kept (if none meets it: the fewest digits lost)
    conf_parts, neg_parts = {}, {}
    with torch.inference_mode():
        for i, m in enumerate(MODALITIES):
            x = probe_data["val"][0] if m == "audio" else val[m][0]
            e, lg = embed_items(model, m, x)  # audio: the shipped branch heard this speaker, so its check is optimistic here
            src = embed_items(probe, m, x)[1] if m == "audio" else lg
            conf_parts[m] = (
                torch.softmax(src / cal.log_temp[i].exp(), 1).max(1).values,
                cal.ood[i](cal.ood_features(e, lg))[:, 0],
            )
            e, lg = embed_items(model, m, neg_val[m][0])
            neg_parts[m] = (torch.softmax(lg / cal.log_temp[i].exp(), 1).max(1).values, cal.ood[i](cal.ood_features(e, lg))[:, 0])
    tau, shifts = choose_threshold(conf_parts, neg_parts)
    for i, m in enumerate(MODALITIES):
        with torch.no_grad():
            cal.ood[i][-1].bias += shifts[m]
    cal.threshold.fill_(tau)
    report["threshold"] = tau
    report["ood_bias_shift"] = {m: round(float(v), 3) for m, v in shifts.items()}
    lost = report["not_sure_val_digits"] = {m: round(share_not_sure(p, z, shifts[m], tau), 5) for m, (p, z) in conf_parts.items()}
    if max(lost.values()) > THRESHOLD_QUANTILE:
        tqdm.write(f"calibration: warning: no threshold keeps {1 - THRESHOLD_QUANTILE:.0%} of every branch's validation "
                   f"digits sure; {tau} loses the fewest: {lost}")  # fmt: skip
    report["not_sure_val_non_digits"] = {}
    for m, (p, z) in neg_parts.items():
        flags, kinds = not_sure(p, z, shifts[m], tau).numpy(), np.array(neg_val[m][1])
        report["not_sure_val_non_digits"][m] = {k: round(float(flags[kinds == k].mean()), 5) for k in sorted(set(kinds))}
    tqdm.write("calibration " + str(report))
    return report


def choose_anchor(
    head: torch.Tensor, image: torch.Tensor, strokes: torch.Tensor, y: torch.Tensor, source: np.ndarray
) -> tuple[float, dict[str, float]]:
    """Fusion-head, image and stroke logits of validation drawings -> (anchor, per-source margin in points
    of fused over the better branch at that anchor). Kept: the best worst-source margin, then the best
    mean margin, then the smallest anchor (the most fusion)."""
    sources = sorted(set(source.tolist()))
    right = lambda lg, rows: float((lg[rows].argmax(1) == y[rows]).float().mean())  # noqa: E731
    rows = {s: torch.from_numpy(source == s) for s in sources}
    better = {s: max(right(image, rows[s]), right(strokes, rows[s])) for s in sources}
    best = None
    for a in ANCHORS:
        lg = anchored(head, strokes, float(a))
        margin = {s: round(100 * (right(lg, rows[s]) - better[s]), 3) for s in sources}
        key = (min(margin.values()), float(np.mean(list(margin.values()))), -a)
        if best is None or key > best[0]:
            best = (key, float(a), margin)
    return best[1], best[2]


def choose_threshold(digits: dict, non_digits: dict) -> tuple[float, dict[str, float]]:
    """Per branch (calibrated top probability, check logit) of validation digits and of non-digits ->
    (threshold, logit shift per branch): every branch leaves at most THRESHOLD_QUANTILE of its digits
    below the threshold where it can, and the threshold with the most non-digits below it wins. Where no
    threshold lets every branch keep its digits (a branch whose own top probability is often low, as one
    trained with outlier exposure is on an unheard voice), the one losing the fewest digits of its worst
    branch wins, not the one rejecting the most: a threshold that calls a third of the digits "not sure"
    (0.9, chosen so before) is worse than one that misses a few non-digits."""
    best = None
    for tau in THRESHOLDS:
        shifts = {m: bias_for(tau, *digits[m]) for m in digits}
        met = all(b is not None for b in shifts.values())
        shifts = {m: BIAS_RANGE[1] if b is None else b for m, b in shifts.items()}
        lost = max(share_not_sure(p, z, shifts[m], tau) for m, (p, z) in digits.items())
        rejected = [share_not_sure(p, z, shifts[m], tau) for m, (p, z) in non_digits.items()]
        score = (met, -max(0.0, lost - THRESHOLD_QUANTILE), float(np.mean(rejected)))
        if best is None or score > best[0]:
            best = (score, tau, shifts)
    return best[1], best[2]


def not_sure(p_label: torch.Tensor, ood_logit: torch.Tensor, shift: float, tau: float) -> torch.Tensor:
    """Which items are "not sure": confidence p_label * sigmoid(check logit + shift) below the threshold `tau`."""
    return p_label * torch.sigmoid(ood_logit + shift) < tau


def share_not_sure(p_label: torch.Tensor, ood_logit: torch.Tensor, shift: float, tau: float) -> float:
    return float(not_sure(p_label, ood_logit, shift, tau).float().mean())


def bias_for(tau: float, p_label: torch.Tensor, ood_logit: torch.Tensor) -> float | None:
    """The smallest shift b of the check's logit leaving at most THRESHOLD_QUANTILE of these validation
    digits below `tau` (confidence = p_label * sigmoid(logit + b)); None when no shift can (p_label alone is too low)."""
    unsure = lambda b: share_not_sure(p_label, ood_logit, b, tau)  # noqa: E731
    lo, hi = BIAS_RANGE
    if unsure(hi) > THRESHOLD_QUANTILE:
        return None
    for _ in range(40):  # bisection: `unsure` falls as b grows
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if unsure(mid) > THRESHOLD_QUANTILE else (lo, mid)
    return hi
