"""Weigh the PocketSphinx expert (core/sphinx.py) on speakers the audio CNN never heard.

    .venv/bin/python -m core.fit_sphinx [--data-dir DIR] [--checkpoints DIR] [--nested] [--threads 2] [--workers N]

Every FSDD clip gets an audio-branch answer from a model that never heard its speaker: one training
per speaker on the other five (the audio recipe of the shipped checkpoint's card), for the number of
epochs FOLD_EPOCHS says for that recipe, which nested leave-one-speaker-out chose for that fold with
yet another speaker held out (`--nested`, or a recipe not in the table, chooses them again: twice the
trainings). The shipped checkpoint's audio
temperature turns those logits into log-probabilities, as the recognizer does. PocketSphinx's evidence
for each clip is computed once. The expert's two weights minimize the negative log-likelihood of the
combined answer; each speaker's accuracy with the expert is measured with weights fitted on the other
five (nested), and the weights shipped are fitted on all six -> checkpoints/sphinx.json, tied to the
digits.pt they were fitted with.

The same out-of-fold answers measure Teach mode on speakers the CNN never heard (`adaptation_curve`:
accuracy on a left-out speaker's other clips after 1-5 of their clips per digit), written beside the
weights under "loso" -> "adaptation", with and without the taught clips kept as templates
(core/voice.py), whose scale is fitted there too (core.voice.SCALE is that fit, rounded).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core import adapt as AD
from core import audio as A
from core import checkpoint, data, sphinx, voice
from core.config import audio_config
from core.train_audio import all_speakers, audio_epoch, speaker_fold, train_audio, tts_dir
from core.train_branch import train_branch
from core.tuples import embed_items
from core.workers import spawn_pool

# epochs per left-out speaker for each audio recipe (audio_aug, tts, audio_norm, audio_patience, audio_outliers),
# chosen by nested leave-one-speaker-out (`--nested`): for each fold, with the next speaker in data.FSDD_SPEAKERS held
# out, never the left-out one. A recipe not here has its epochs chosen again, nested.
FOLD_EPOCHS = {
    ("light", False, "cmn", 10, 0.0): {"george": 36, "jackson": 13, "lucas": 24, "nicolas": 23, "theo": 30, "yweweler": 13},
    ("voices", True, "cmn", 60, 0.0): {"george": 32, "jackson": 43, "lucas": 49, "nicolas": 29, "theo": 44, "yweweler": 35},
}
ADAPT_KS = (1, 2, 3, 5)  # examples per digit of the left-out speaker in the adaptation curve (0: plain LOSO)
ADAPT_REPEATS = 5  # draws of the examples per speaker and k
ADAPT_VALIDATION_SPEAKERS = ("theo",)  # core.adapt chose its L2 on theo: shown, not in the reported means
CURVES = {
    "cnn": "audio CNN + profile",
    "with_expert": "with PocketSphinx + profile",
    "cnn_voice": "audio CNN + profile + voice templates",
    "with_voice": "with PocketSphinx + profile + voice templates",
}
L2 = 1e-3  # a whisper of ridge on the weights: two numbers, 2,500 clips; keeps them finite if a feature is constant


def recipe(cfg) -> tuple[str, bool, str, int, float]:
    """The audio recipe's key in FOLD_EPOCHS: whether TTS clips are there to train on, not only asked for."""
    return (cfg.audio_aug, tts_dir(cfg) is not None, cfg.audio_norm, cfg.audio_patience, float(cfg.audio_outliers))


def train_fold(cfg, k: int, epochs: int | None, every=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Fold k: an audio branch trained on the other five speakers for `epochs` (None: chosen by nested
    leave-one-speaker-out) -> (the left-out speaker's logits, their embeddings, the fold's facts). Seeded per
    fold, so folds can run in any order or process."""
    every = all_speakers(cfg) if every is None else every
    s = data.FSDD_SPEAKERS[k]
    t0 = time.time()
    val_speaker, model, five, test, rng, gen = speaker_fold(cfg, every, k)
    if epochs is None:
        epochs = train_audio(model, five, cfg, rng, gen, val_speaker)["best_epoch"]
    else:
        train_branch(model, "audio", lambda e: audio_epoch(five, rng, cfg.spec_masks), epochs, cfg.audio_lr, cfg, None, gen)
    model.eval()
    e, lg = (t.numpy() for t in embed_items(model, "audio", test.x))
    fold = {"epochs": int(epochs), "accuracy": round(float((lg.argmax(1) == test.y.numpy()).mean()), 5),
            "seconds": round(time.time() - t0, 1)}  # fmt: skip
    tqdm.write(f"fit_sphinx: fold {s}: {json.dumps(fold)}")
    return lg, e, fold


def _fold_in_worker(job: tuple) -> tuple[np.ndarray, np.ndarray, dict]:
    cfg, k, epochs = job
    torch.set_num_threads(1)  # the processes share the cores: one thread each
    return train_fold(cfg, k, epochs)


def out_of_fold_logits(
    cfg, nested: bool = False, workers: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict, np.ndarray]:  # noqa: E501
    """(3000, 10) audio logits, each from the fold that left its speaker out; labels; speakers; fold facts;
    and (3000, D) the audio embeddings those folds gave (for the adaptation curve). `workers` > 1 trains that
    many folds at once in their own processes, one torch thread each: a fold's augmentation is one core's
    numpy work, so two at once keep two cores busy (each fold is seeded alone; the answers differ from a
    one-process run only by float rounding)."""
    every = all_speakers(cfg)
    one = replace(cfg, threads=1) if workers > 1 else cfg  # a worker's own helpers (the voices bank) stay in it
    table = None if nested else FOLD_EPOCHS.get(recipe(cfg))
    if table is None and not nested:
        tqdm.write(f"fit_sphinx: no fold epochs for the recipe {recipe(cfg)}: chosen again, nested (twice the trainings)")
    jobs = [(one, k, None if table is None else table[s]) for k, s in enumerate(data.FSDD_SPEAKERS)]
    if workers > 1:
        with spawn_pool(workers) as pool:  # workers die with this process (a killed run leaves none behind)
            results = list(pool.map(_fold_in_worker, jobs))
    else:
        results = [train_fold(cfg, k, epochs, every) for _, k, epochs in jobs]
    fsdd = np.isin(every.speakers.astype(str), data.FSDD_SPEAKERS)  # FSDD first, in data order; TTS clips only train
    speakers = every.speakers[fsdd].astype(str)
    logits = np.zeros((len(speakers), 10), np.float32)
    embeds = np.zeros((len(speakers), results[0][1].shape[1]), np.float32)
    folds = {}
    for s, (lg, e, fold) in zip(data.FSDD_SPEAKERS, results):
        logits[speakers == s], embeds[speakers == s], folds[s] = lg, e, fold
    return logits, every.y.numpy()[fsdd], speakers, folds, embeds


def trimmed_clips(root: Path) -> list[np.ndarray]:
    """Every FSDD clip trimmed (core.audio.trim), in data.list_fsdd order (= sets.audio_all's): read once for
    both experts below."""
    return [A.trim(A.load_audio(c.path)) for c in tqdm(data.list_fsdd(root), desc="fsdd clips")]


def clip_evidence(waves: list[np.ndarray]) -> np.ndarray:
    """(3000, 2, 10) PocketSphinx evidence for every trimmed FSDD clip (`trimmed_clips`)."""
    return np.stack([sphinx.evidence(w, A.SAMPLE_RATE) for w in tqdm(waves, desc="pocketsphinx")])


def voice_distances(waves: list[np.ndarray], speakers: np.ndarray) -> np.ndarray:
    """(3000, 3000) DTW distances between every two clips of one speaker (core/voice.py; inf between speakers),
    of the trimmed clips (`trimmed_clips`): what the templates of a speaker's taught clips say of their other clips."""
    feats = [voice.with_deltas(voice.cepstra(w)) for w in tqdm(waves, desc="cepstra")]
    out = np.full((len(waves), len(waves)), np.inf, np.float32)
    for s in tqdm(np.unique(speakers), desc="dtw"):
        idx = np.flatnonzero(speakers == s)
        for j, a in enumerate(idx):
            for b in idx[j:]:
                out[a, b] = out[b, a] = voice.distance(feats[a], feats[b])
    return out


def fit_scale(z: np.ndarray, dmin: np.ndarray, y: np.ndarray) -> float:
    """The voice templates' scale a >= 0 minimizing the mean negative log-likelihood of z - a * dmin (convex in a).
    A scale growing with the templates per digit (a + b k) was tried: 95.1 / 97.2 / 97.8% at 1 / 3 / 5 examples
    per digit against 95.3 / 97.1 / 97.5% for one a (held-out speakers, with the expert): not worth a second number."""
    from scipy.optimize import minimize_scalar

    rows = np.arange(len(y))

    def nll(a: float) -> float:
        v = z - a * dmin
        return float(-(v[rows, y] - np.logaddexp.reduce(v, axis=1)).mean())

    return float(minimize_scalar(nll, bounds=(0.0, 10.0), method="bounded").x)


def log_probs(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = logits / temperature
    return z - np.logaddexp.reduce(z, axis=1, keepdims=True)


def fit_weights(lp: np.ndarray, ev: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The (2,) weights minimizing the mean negative log-likelihood of `sphinx.combine(lp, ev, w)` (convex)."""
    lp_t, ev_t, y_t = torch.from_numpy(lp).double(), torch.from_numpy(ev).double(), torch.from_numpy(y).long()
    w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        z = lp_t + torch.einsum("f,nfk->nk", w, ev_t)
        v = torch.nn.functional.cross_entropy(z, y_t) + L2 * (w**2).sum()
        v.backward()
        return v

    opt.step(loss)
    return w.detach().numpy().astype(np.float32)


def nested_accuracy(lp: np.ndarray, ev: np.ndarray, y: np.ndarray, speakers: np.ndarray) -> dict:
    """Per speaker: accuracy of the CNN alone, of the expert alone, and combined with weights fitted on the others."""
    out = {}
    for s in data.FSDD_SPEAKERS:
        here = speakers == s
        w = fit_weights(lp[~here], ev[~here], y[~here])
        both = sphinx.combine(lp[here], ev[here], w).argmax(1)
        heard = ev[here, 1].sum(1) < 10
        out[s] = {
            "cnn": round(float((lp[here].argmax(1) == y[here]).mean()), 5),
            "sphinx": round(float(((ev[here, 0].argmax(1) == y[here]) & heard).mean()), 5),
            "combined": round(float((both == y[here]).mean()), 5),
            "weights": [round(float(v), 4) for v in w],
        }
    for key in ("cnn", "sphinx", "combined"):
        out[f"mean_{key}"] = round(float(np.mean([out[s][key] for s in data.FSDD_SPEAKERS])), 5)
    return out


def adaptation_curve(
    lp: np.ndarray,
    embeds: np.ndarray,
    ev: np.ndarray,
    y: np.ndarray,
    speakers: np.ndarray,
    seed: int = 0,
    dists: np.ndarray | None = None,
) -> dict:
    """Teach mode on speakers the CNN never heard: for each left-out speaker, k of their clips per digit
    adapt the fold's audio branch (`core.adapt.fit_correction`, the code `Recognizer.adapt` runs, at its
    default L2; fitted without the expert's evidence, as `Recognizer.adapt` fits it), and their other clips
    are scored, ADAPT_REPEATS draws each, by the CNN alone and with the expert's evidence (weights fitted on
    the other five). The fold logits are calibrated with the shipped branch's temperature, so L2 acts at
    about, not exactly, the strength it has in the app. A k a speaker has too few clips for is skipped.
    `dists` (`voice_distances`): the taught clips are kept as templates too, and both curves are scored
    again with `-scale * distance` added ("cnn_voice", "with_voice"), the scale fitted (on the with-expert
    answers) on the other five speakers' draws; "voice_scale" is the fit on all six, what core.voice ships.
    -> `summarize_adaptation` of {speaker: {"cnn" | "with_expert" (| "cnn_voice" | "with_voice"): [accuracy
    at k = 0, *ADAPT_KS]}}."""
    rng = np.random.default_rng(seed)
    per: dict[str, dict[str, list[float]]] = {}
    taught: dict[str, list] = {}  # speaker -> [(k, rows scored, correction, with-expert answers, nearest templates)]
    for s in data.FSDD_SPEAKERS:
        here = np.flatnonzero(speakers == s)
        others = speakers != s
        w = fit_weights(lp[others], ev[others], y[others])
        with_ev = sphinx.combine(lp[here], ev[here], w)
        acc = {"cnn": [float((lp[here].argmax(1) == y[here]).mean())],
               "with_expert": [float((with_ev.argmax(1) == y[here]).mean())]}  # fmt: skip
        for k in ADAPT_KS:
            if min(int((y[here] == d).sum()) for d in range(10)) <= k:
                break
            runs = {"cnn": [], "with_expert": []}
            for _ in range(ADAPT_REPEATS):
                ex = np.concatenate([rng.choice(np.flatnonzero(y[here] == d), k, replace=False) for d in range(10)])
                rest = np.setdiff1d(np.arange(len(here)), ex)
                e_ex, z_ex, y_ex = (torch.from_numpy(a[here[ex]]) for a in (embeds, lp, y))
                corr = AD.fit_correction(e_ex, z_ex, y_ex.long(), None, AD.L2)
                with torch.inference_mode():
                    c = corr(torch.from_numpy(embeds[here[rest]])).numpy()
                runs["cnn"].append(float(((lp[here[rest]] + c).argmax(1) == y[here[rest]]).mean()))
                runs["with_expert"].append(float(((with_ev[rest] + c).argmax(1) == y[here[rest]]).mean()))
                if dists is not None:
                    dmin = voice.nearest(dists[np.ix_(here[rest], here[ex])], y[here[ex]])
                    taught.setdefault(s, []).append((k, here[rest], c, with_ev[rest], dmin))
            for key in runs:
                acc[key].append(float(np.mean(runs[key])))
        per[s] = acc
    out = voice_curves(per, taught, lp, y) if dists is not None else {}
    for s in per:
        per[s] = {key: [round(v, 4) for v in vals] for key, vals in per[s].items()}
        tqdm.write(f"fit_sphinx: adaptation {s}: {json.dumps(per[s])}")
    return {**summarize_adaptation(per), **out}


def voice_curves(per: dict, taught: dict, lp: np.ndarray, y: np.ndarray) -> dict:
    """Adds "cnn_voice" and "with_voice" to each speaker's curves in `per`: the same draws scored with the
    templates' `-scale * distance` added, the scale fitted on the other speakers' draws (with the expert)
    -> {"voice_scale": the fit on every speaker's draws (core.voice.SCALE), "voice_scales": each speaker's}."""
    scales = {}
    for s in taught:
        others = [t for n in taught if n != s for t in taught[n]]
        scales[s] = fit_scale(*_stack(others, y)) if others else 0.0
        for key, plain in (("cnn_voice", "cnn"), ("with_voice", "with_expert")):
            per[s][key] = [per[s][plain][0]]  # no examples, no templates
            for k in ADAPT_KS[: len(per[s]["cnn"]) - 1]:
                got = []
                for k_, rows, c, with_ev, dmin in taught[s]:
                    if k_ == k:
                        z = (lp[rows] if key == "cnn_voice" else with_ev) + c - scales[s] * dmin
                        got.append(float((z.argmax(1) == y[rows]).mean()))
                per[s][key].append(float(np.mean(got)))
    every = [t for n in taught for t in taught[n]]
    return {"voice_scale": round(fit_scale(*_stack(every, y)), 4) if every else 0.0,
            "voice_scales": {s: round(v, 4) for s, v in scales.items()}}  # fmt: skip


def _stack(rows: list, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Taught draws (k, rows, correction, with-expert answers, nearest templates) -> (z, dmin, labels) pooled."""
    z = np.concatenate([w + c for _, _, c, w, _ in rows])
    return z, np.concatenate([d for *_, d in rows]), np.concatenate([y[r] for _, r, *_ in rows])


def summarize_adaptation(per_speaker: dict[str, dict[str, list[float]]]) -> dict:
    """Per-speaker curves -> {each of CURVES measured: {"0", "1", ...: mean accuracy, "worst_speaker_1"},
    "per_speaker": ..., "reported_speakers": [...]}. Means and the worst speaker leave out
    ADAPT_VALIDATION_SPEAKERS (core.adapt's L2 was chosen on them); their rows stay in "per_speaker"."""
    reported = [s for s in per_speaker if s not in ADAPT_VALIDATION_SPEAKERS]
    out: dict = {"per_speaker": per_speaker, "reported_speakers": reported}
    one = 1 + ADAPT_KS.index(1)
    for key in [k for k in CURVES if all(k in per_speaker[s] for s in reported)]:
        n = min(len(per_speaker[s][key]) for s in reported)
        out[key] = {str(k): round(float(np.mean([per_speaker[s][key][j] for s in reported])), 5)
                    for j, k in enumerate((0, *ADAPT_KS)[:n])}  # fmt: skip
        if n > one:
            out[key]["worst_speaker_1"] = round(float(min(per_speaker[s][key][one] for s in reported)), 5)
    return out


def adaptation_table(curve: dict) -> str:
    """The curve as a markdown table (README)."""
    ks = [k for k in curve["cnn"] if k.isdigit()]
    rows = ["| examples per digit | " + " | ".join(ks) + " | worst speaker, 1 |", "|" + " --- |" * (len(ks) + 2)]
    for key, name in [(k, v) for k, v in CURVES.items() if k in curve]:
        worst = curve[key].get("worst_speaker_1")
        cells = [f"{100 * curve[key][k]:.1f}%" for k in ks] + ["-" if worst is None else f"{100 * worst:.1f}%"]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def write(path: Path, weights: np.ndarray, digits_sha256: str, temperature: float, report: dict) -> dict:
    doc = {
        "format": sphinx.FORMAT,
        "version": sphinx.VERSION,
        "weights": [float(v) for v in weights],
        "features": ["log score relative to the best digit word", "absent from the n-best list"],
        "digits_sha256": digits_sha256,
        "audio_temperature": temperature,
        "pocketsphinx": _version(),
        "fitted_on": "FSDD, every clip answered by an audio branch that never heard its speaker",
        "loso": report,
    }
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def _version() -> str:
    from importlib.metadata import version

    return version("pocketsphinx")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--checkpoints", default=None, help="the folder with digits.pt (default checkpoints/)")
    ap.add_argument(
        "--nested",
        action="store_true",
        help="choose each fold's epochs again (12 trainings, not 6; always for a recipe not in FOLD_EPOCHS)",
    )
    ap.add_argument("--threads", type=int, default=2, help="cores to use")
    ap.add_argument("--workers", type=int, default=None,
                    help="folds trained at once, one thread each (default: --threads; 1: in turn, on --threads)")  # fmt: skip
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    folder = Path(args.checkpoints) if args.checkpoints else checkpoint.DEFAULT_DIR
    model, card = checkpoint.load(folder)
    temperature = float(model.calibration.log_temp[2].exp())  # MODALITIES order: image, strokes, audio
    cfg = audio_config(card.get("config", {}), data_dir=args.data_dir, threads=args.threads)
    t0 = time.time()
    workers = args.threads if args.workers is None else max(1, args.workers)
    logits, y, speakers, folds, embeds = out_of_fold_logits(cfg, args.nested, workers)
    waves = trimmed_clips(data.data_root(args.data_dir))
    ev = clip_evidence(waves)
    lp = log_probs(logits, temperature)
    report = nested_accuracy(lp, ev, y, speakers)
    report["folds"] = folds
    report["minutes"] = round((time.time() - t0) / 60, 1)
    weights = fit_weights(lp, ev, y)
    sha = card["checkpoint"]["sha256"]
    write(folder / sphinx.FILE, weights, sha, temperature, report)  # the weights are safe before the curve runs
    print(json.dumps({"weights": [float(v) for v in weights], "loso": report}, indent=1))
    dists = voice_distances(waves, speakers)
    report["adaptation"] = adaptation_curve(lp, embeds, ev, y, speakers, dists=dists)
    doc = write(folder / sphinx.FILE, weights, sha, temperature, report)
    print(adaptation_table(report["adaptation"]))
    return doc


if __name__ == "__main__":
    main()
