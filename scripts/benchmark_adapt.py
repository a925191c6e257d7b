"""Teach mode, measured (issue #10): accuracy on a user's other items after 0, 1, 2, 3 or 5 examples
per digit, how the method and its L2 penalty were chosen, adapt time, and whether confidence stays honest.

    .venv/bin/python scripts/benchmark_adapt.py [--data-dir DIR] [--repeats 5] [--seed 0]

Users (each one's examples and scored items never overlap; examples are drawn `--repeats` times):
- validation, used only to choose the method and L2: FSDD speaker theo, flite voices, and the writers of
  UNIPEN donor ibm (a validation donor of the stroke branch);
- reported: the other five FSDD speakers (examples from their clips 5-49, scored on their test clips 0-4;
  the shipped audio branch was trained on every speaker's clips 5-49, so none of these voices is new to
  it); espeak-ng voices, which the model never heard (synthetic: a voice's "repetitions" are the same
  words at other rates and pitches, with noise); and the writers of UNIPEN test donors (never trained on)
  drawing on the canvas, read as the Draw tab reads them (image and strokes of one drawing, fused).
Everything goes through the recognizer's own preprocessing, `core.adapt.fit` and `Recognizer.answer`,
the code `Recognizer.adapt` and `predict_batch` run (checked once below on raw inputs).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import InputError, Recognizer, data, negatives, sets  # noqa: E402
from core import adapt as AD  # noqa: E402
from core import audio as A  # noqa: E402
from core import strokes as S  # noqa: E402
from core import voice as V  # noqa: E402
from core.evaluate import ece  # noqa: E402
from core.recognizer import encode, preprocess_batch  # noqa: E402

KS = (0, 1, 2, 3, 5)  # examples per digit
L2_GRID = (0.001, 0.003, 0.01, 0.03, 0.1)
ALPHAS = (10.0, 20.0, 30.0)  # prototype weights tried (cosine similarity, in calibrated-logit units)
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ESPEAK = (
    "en",
    "en-us",
    "en-gb-scotland",
    "en-029",
    "en-gb-x-rp",
    "en-us-nyc",
    "en+f3",
    "en-us+m3",
    "en-gb-x-gbcwmd+f2",
    "en+klatt",
)
FLITE = ("kal", "kal16", "awb", "rms", "slt")
REPS = 10  # synthetic utterances per digit and voice: 0-4 give examples, 5-9 are scored
VAL_DONORS, TEST_DONORS = ("ibm",), ("ced", "uqb", "art")
MIN_PER_DIGIT = 4  # a writer is a user when every digit has this many drawings (examples + at least one scored)


class User:
    """One person's items, preprocessed once: `pool` gives examples; `scored` (or, when None, the rest of
    the pool) is what accuracy is measured on."""

    def __init__(self, name, split, kind, seen, labels, pool, scored=None, voice=None):
        self.name, self.split, self.kind = name, split, kind
        self.voice = voice  # per item: its speech's cepstra (core/voice.py), kept as templates when it is an example
        self.seen, self.labels = seen, np.asarray(labels, np.int64)
        self.pool, self.scored = np.asarray(pool), None if scored is None else np.asarray(scored)

    def draw(self, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
        """(example rows, scored rows), k per digit; None when some digit has too few items for k."""
        ex = []
        for d in range(10):
            cand = self.pool[self.labels[self.pool] == d]
            if len(cand) < k + (self.scored is None):
                return None
            ex.append(rng.choice(cand, k, replace=False))
        ex = np.concatenate(ex).astype(int)
        return ex, (np.setdiff1d(self.pool, ex) if self.scored is None else self.scored)


def take(seen: dict, parts: dict, idx: np.ndarray) -> tuple[dict, dict]:
    """Items `idx` of a user (preprocessed inputs and branch outputs), renumbered 0..len(idx)-1."""
    pos = {int(i): j for j, i in enumerate(idx)}
    sub_seen = {m: [v[i] for i in idx] for m, v in seen.items()}
    sub = {}
    for m, (rows, e, lg) in parts.items():
        keep = [j for j, r in enumerate(rows.tolist()) if r in pos]
        if keep:
            sub[m] = (torch.tensor([pos[rows[j].item()] for j in keep]), e[keep], lg[keep])
    return sub_seen, sub


# ---------------------------------------------------------------- users


def synth(engine: str, voice: str, word: str, rng: np.random.Generator, tmp: Path) -> tuple[np.ndarray, int]:
    """One synthetic utterance at a random rate and pitch, at a random level, with noise (SNR 15-40 dB)."""
    out = tmp / "u.wav"
    if engine == "espeak":
        cmd = ["espeak-ng", "-v", voice, "-s", str(rng.integers(120, 221)), "-p", str(rng.integers(20, 81)), "-w", str(out), word]
    else:
        f0 = (180 if voice == "slt" else 105) * rng.uniform(0.8, 1.25)
        stretch = rng.uniform(0.8, 1.3)
        cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.2f}", "--setf", f"int_f0_target_mean={f0:.0f}"]
        cmd += ["-t", word, "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    y, sr = sf.read(out, dtype="float32")
    y = y * rng.uniform(0.2, 1.0)
    noise = rng.standard_normal(len(y) + 2000).astype(np.float32) * np.sqrt(np.mean(y**2) / 10 ** (rng.uniform(15, 40) / 10))
    start = int(rng.integers(0, 2000))
    noise[start : start + len(y)] += y
    return noise, sr


def synthetic_users(engine: str, voices: tuple[str, ...], split: str, rng: np.random.Generator) -> list[User]:
    users = []
    with tempfile.TemporaryDirectory() as tmp:
        for v in tqdm(voices, desc=engine, leave=False):
            waves, labels = [], []
            for _ in range(REPS):
                for d, w in enumerate(WORDS):
                    y, sr = synth(engine, v, w, rng, Path(tmp))
                    waves.append(A.load_audio(y, sr))  # 8 kHz: one sample rate for the whole batch
                    labels.append(d)
            seen, voice = speech(waves, A.SAMPLE_RATE)
            rep = np.arange(len(labels)) // 10
            users.append(
                User(f"{engine} {v}", split, "speech", seen, labels, np.flatnonzero(rep < 5), np.flatnonzero(rep >= 5), voice)
            )
    return users


def speech(audios: list, sample_rate: int | None) -> tuple[dict, list[np.ndarray]]:
    """Recordings -> (what the audio branch sees, each one's cepstra for the voice templates)."""
    waves: dict[int, np.ndarray] = {}
    seen, n = preprocess_batch(None, None, audios, sample_rate, 10_000, "benchmark", waves=waves)
    return seen, [V.cepstra(waves[k]) for k in range(n)]


def fsdd_users(root: Path) -> list[User]:
    clips = data.list_fsdd(root)
    users = []
    for s in tqdm(data.FSDD_SPEAKERS, desc="fsdd", leave=False):
        mine = [c for c in clips if c.speaker == s]
        seen, voice = speech([c.path for c in mine], None)
        idx = np.array([c.index for c in mine])
        split = "val" if s == data.FSDD_VAL_SPEAKER else "test"
        pool, scored = np.flatnonzero(idx >= 5), np.flatnonzero(idx < 5)
        users.append(User(f"FSDD {s}", split, "speech", seen, [c.digit for c in mine], pool, scored, voice))
    return users


def drawing_users(root: Path) -> list[User]:
    """UNIPEN writers (one `segfile` each) drawing on the canvas: the strokes and the canvas picture."""
    u = data.load_unipen(root)
    users = []
    for donors, split in ((VAL_DONORS, "val"), (TEST_DONORS, "test")):
        idx = np.flatnonzero(np.isin(u.source, donors))
        for seg in tqdm(list(dict.fromkeys(u.segfile[idx])), desc=f"unipen {split}", leave=False):
            mine = idx[u.segfile[idx] == seg]
            if np.bincount(u.labels[mine], minlength=10).min() < MIN_PER_DIGIT:
                continue
            seen, labels = {"image": [], "strokes": []}, []
            for i in mine:
                strokes = sets.to_canvas(S.unipen_strokes(u.sample(i)))
                try:  # a few UNIPEN samples are one repeated point: refused like an empty canvas
                    one, _ = preprocess_batch([sets.draw_canvas(strokes)], [strokes], None, None, 1, "benchmark")
                except InputError:
                    continue
                seen["image"] += one["image"]
                seen["strokes"] += one["strokes"]
                labels.append(u.labels[i])
            users.append(User(f"UNIPEN {seg}", split, "drawing", seen, labels, np.arange(len(labels))))
    return users


# ---------------------------------------------------------------- measurements


def curves(r: Recognizer, users: list[User], repeats: int, seed: int, l2: float) -> dict:
    """user -> {k: (accuracy, probs, labels) pooled over the draws}; plus the k=3 profiles for later checks."""
    out, profiles = {}, {}
    for user in tqdm(users, desc="curves", leave=False):
        parts = encode(r.model, user.seen, len(user.labels))
        rng = np.random.default_rng(seed)
        out[user.name] = {}
        for k in KS:
            probs, ys = [], []
            for rep in range(repeats if k else 1):
                split = user.draw(k, rng)
                if split is None:
                    break
                ex, ev = split
                rk = r
                if k:
                    ex_seen, ex_parts = take(user.seen, parts, ex)
                    voice = None if user.voice is None else [user.voice[i] for i in ex]
                    rk = r.with_profile(AD.fit(r, ex_parts, user.labels[ex], l2, voice=voice))
                    if k == 3 and rep == 0:
                        profiles[user.name] = rk.profile
                ev_seen, ev_parts = take(user.seen, parts, ev)
                voices = None if user.voice is None else {j: user.voice[i] for j, i in enumerate(ev)}
                probs += [p.probs for p in rk.answer(ev_seen, ev_parts, len(ev), voices=voices)]
                ys += list(user.labels[ev])
            if probs:
                p, y = np.array(probs), np.array(ys)
                out[user.name][k] = (float((p.argmax(1) == y).mean()), p, y)
    return out, profiles


def branch_selection(r: Recognizer, users: list[User], repeats: int, seed: int) -> dict:
    """Validation users, branch by branch: (accuracy, log-loss, ECE) of the base branch, of prototypes and
    of the correction at each L2, for 1, 2, 3 and 5 examples per digit -> {method: [(acc, nll, ece) per cell]}."""
    temps = r.model.calibration.log_temp.exp()
    cells: dict[str, list] = {}
    for user in tqdm(users, desc="selection", leave=False):
        parts = encode(r.model, user.seen, len(user.labels))
        rng = np.random.default_rng(seed)
        for k in KS[1:]:
            for _ in range(repeats):
                split = user.draw(k, rng)
                if split is None:
                    break
                ex, ev = split
                for i, m in enumerate(("image", "strokes", "audio")):
                    if m not in parts:
                        continue
                    _, e, lg = parts[m]  # every item of a user has this modality: rows are 0..n-1
                    z_ex, z_ev, y_ex, y_ev = (
                        lg[ex] / temps[i],
                        lg[ev] / temps[i],
                        torch.from_numpy(user.labels[ex]),
                        user.labels[ev],
                    )
                    methods = {"base": z_ev}
                    for a in ALPHAS:
                        proto = torch.stack([torch.nn.functional.normalize(e[ex][y_ex == d], dim=1).mean(0) for d in range(10)])
                        cos = torch.nn.functional.normalize(e[ev], dim=1) @ torch.nn.functional.normalize(proto, dim=1).T
                        methods[f"prototypes, weight {a:g}"] = z_ev + a * cos
                    for l2 in L2_GRID:
                        methods[f"correction, L2 {l2:g}"] = z_ev + AD.fit_correction(e[ex], z_ex, y_ex, None, l2)(e[ev])
                    for name, z in methods.items():
                        p = torch.softmax(z.double(), 1).numpy()
                        nll = float(-np.log(p[np.arange(len(y_ev)), y_ev] + 1e-12).mean())
                        cells.setdefault(name, []).append((m, k, float((p.argmax(1) == y_ev).mean()), nll, ece(p, y_ev)[0]))
    return cells


def not_sure_on_non_digits(r: Recognizer, profiles: dict, users: dict, root: Path, seed: int) -> dict:
    """Share of fresh non-digits answered "not sure", base vs adapted (k=3 profiles, mean over users)."""
    rng = np.random.default_rng(seed + 777)
    speech = [A.trim(A.load_audio(c.path)) for c in data.fsdd_split(data.list_fsdd(root), "test")[:20]]
    audio = [negatives.negative_audio(k, rng, speech) for k in negatives.AUDIO_KINDS for _ in range(30)]
    strokes = [negatives.negative_strokes(k, rng) for k in negatives.STROKE_KINDS for _ in range(30)]
    kw = {
        "speech": {"audios": audio, "sample_rate": A.SAMPLE_RATE},
        "drawing": {"strokes": strokes, "images": [sets.draw_canvas(s) for s in strokes]},
    }
    out = {}
    for kind, args in kw.items():
        base = np.mean([not p.sure for p in r.predict_batch(**args)])
        adapted = [
            np.mean([not p.sure for p in r.with_profile(profiles[u]).predict_batch(**args)])
            for u in profiles
            if users[u].kind == kind
        ]
        out[kind] = (float(base), float(np.mean(adapted)) if adapted else float("nan"), len(adapted))
    return out


def adapt_seconds(r: Recognizer, root: Path, repeats: int = 5) -> dict[str, tuple[float, float]]:
    """Recognizer.adapt on 30 raw examples (3 per digit), from files and canvas values: (first call, median)."""
    clips = [c for c in data.list_fsdd(root) if c.speaker == "george" and c.index in (5, 6, 7)]
    pp, py = data.load_pendigits(root, "test")
    rows = [int(i) for d in range(10) for i in np.flatnonzero(py == d)[:3]]
    strokes = [S.pendigits_to_strokes(pp[i].ravel()) for i in rows]
    images = [sets.draw_canvas(s) for s in strokes]
    cases = {
        "30 recordings (wav files)": {"audios": [c.path for c in clips], "labels": [c.digit for c in clips]},
        "30 drawings (canvas picture + strokes)": {"images": images, "strokes": strokes, "labels": [int(py[i]) for i in rows]},
    }
    cases["30 of both (drawing + recording)"] = {
        "images": images,
        "strokes": strokes,
        "audios": [c.path for c in clips],
        "labels": [c.digit for c in clips],
    }
    out = {}
    for name, kw in cases.items():
        times = []
        for _ in range(repeats + 1):
            t = time.perf_counter()
            r.adapt(**kw)
            times.append(time.perf_counter() - t)
        out[name] = (times[0], float(np.median(times[1:])))
    return out


def answer_ms(r: Recognizer, root: Path) -> dict[str, float]:
    """Median ms from a recording (wav file) to the answer, with and without a profile of 3 recordings per digit
    (its corrections and voice templates), with and without PocketSphinx: what Teach mode adds to each answer."""
    clips = [c for c in data.list_fsdd(root) if c.speaker == "george"]
    me = r.adapt(audios=[c.path for c in clips if c.index in (5, 6, 7)], labels=[c.digit for c in clips if c.index in (5, 6, 7)])
    test = [c.path for c in clips if c.index < 5]
    out = {}
    for name, rk in (("base", r), ("profile", me)):
        for expert in (False, True):
            if expert and r.expert is None:
                continue
            ask = rk if expert else rk.with_expert(None)
            ask.predict(audio=test[0])
            times = []
            for path in test:
                t = time.perf_counter()
                ask.predict(audio=path)
                times.append(time.perf_counter() - t)
            out[f"{name}, {'with' if expert else 'without'} PocketSphinx"] = 1000 * float(np.median(times))
    return out


# ---------------------------------------------------------------- report


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _cell(runs: list, users: int) -> str:
    """Mean accuracy over the users measured at this count; how many, when some had too few items."""
    if not runs:
        return "—"
    return pct(np.mean([a for a, _, _ in runs])) + (f" ({len(runs)} of {users})" if len(runs) < users else "")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="data root (default: $DIGITS_DATA or ./data)")
    ap.add_argument("--repeats", type=int, default=5, help="random draws of the examples per user and count (default: 5)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the draws and the synthetic voices (default: 0)")
    args = ap.parse_args(argv)
    root = data.data_root(args.data_dir)
    torch.set_num_threads(1)
    r = Recognizer.load()
    r.predict(audio=np.sin(np.arange(8000) / 5).astype(np.float32), sample_rate=8000)  # librosa's first call compiles
    times = adapt_seconds(r, root)
    answer_times = answer_ms(r, root)
    rng = np.random.default_rng(args.seed)
    users = fsdd_users(root) + drawing_users(root)
    for engine, voices, split in (("flite", FLITE, "val"), ("espeak", ESPEAK, "test")):
        if shutil.which({"flite": "flite", "espeak": "espeak-ng"}[engine]):
            users += synthetic_users(engine, voices, split, rng)
        else:
            print(f"({engine} is not installed: its voices are left out)")
    val = [u for u in users if u.split == "val"]

    cells = branch_selection(r, val, args.repeats, args.seed)
    print("## Choosing the method and L2 on validation users only\n")
    print(
        f"Users: {', '.join(u.name for u in val)}. Each branch alone, 1, 2, 3 and 5 examples per digit, {args.repeats} draws.\n"
    )
    print("| method | branch | accuracy | log-loss | ECE |\n| --- | --- | --- | --- | --- |")
    score = {}
    for name, rows in cells.items():
        for m in ("audio", "image", "strokes"):
            mine = [c for c in rows if c[0] == m]
            if mine:
                acc, nll, e = (float(np.mean([c[i] for c in mine])) for i in (2, 3, 4))
                score.setdefault(name, []).append(nll)
                print(f"| {name} | {m} | {pct(acc)} | {nll:.3f} | {pct(e)} |")
    means = {n: float(np.mean(v)) for n, v in score.items() if n.startswith("correction")}
    best = min(means, key=means.get)
    print("\nMean log-loss over the branches: " + ", ".join(f"{n.split()[-1]}: {v:.4f}" for n, v in means.items()))
    print(f"\nLowest: **{best}** (core.adapt.L2 = {AD.L2:g}).\n")

    res, profiles = curves(r, users, args.repeats, args.seed, AD.L2)
    print("## Accuracy on each user's other items, by examples per digit\n")
    print("| user | kind | scored | " + " | ".join(f"{k}" for k in KS) + " |\n|" + " --- |" * (3 + len(KS)))
    pooled: dict = {}
    for u in users:
        row = res[u.name]
        tag = " (validation)" if u.split == "val" else ""
        cells_k = [pct(row[k][0]) if k in row else "—" for k in KS]
        print(f"| {u.name}{tag} | {u.kind} | {len(row[0][2])} | " + " | ".join(cells_k) + " |")
        group = "FSDD, heard in training" if u.name.startswith("FSDD") else u.name.split()[0]
        group += " (validation)" if u.split == "val" else ""
        for k, (acc, p, y) in row.items():
            pooled.setdefault((group, k), []).append((acc, p, y))
    print("\n| users (how many) | " + " | ".join(f"{k} per digit" for k in KS) + " | ECE 0 → 3 |\n|" + " --- |" * (2 + len(KS)))
    for group in sorted(dict.fromkeys(g for g, _ in pooled), key=lambda g: g.endswith("(validation)")):
        n = len(pooled[(group, 0)])
        accs = [_cell(pooled.get((group, k), []), n) for k in KS]
        e = [
            ece(np.concatenate([p for _, p, _ in pooled[(group, k)]]), np.concatenate([y for _, _, y in pooled[(group, k)]]))[0]
            for k in (0, 3)
        ]
        print(f"| {group} ({n}) | " + " | ".join(accs) + f" | {pct(e[0])} → {pct(e[1])} |")

    print("\n## Confidence after adapting (3 examples per digit)\n")
    users_by_name = {u.name: u for u in users}
    test_profiles = {n: p for n, p in profiles.items() if users_by_name[n].split == "test"}
    for kind, (base, adapted, n) in not_sure_on_non_digits(r, test_profiles, users_by_name, root, args.seed).items():
        print(
            f"- non-digits ({kind}, 30 of each kind): not sure {pct(base)} with the base model, "
            f"{pct(adapted)} adapted (mean of {n} users)"
        )
    print("\n## Adapt time (Recognizer.adapt, preprocessing included, 1 thread)\n")
    for name, (first, med) in times.items():
        print(f"- {name}: {first:.2f} s the first time, {med:.2f} s median after")
    print("\n## A recording to its answer, median of 50 (wav file read included, 1 thread)\n")
    for name, ms in answer_times.items():
        print(f"- {name}: {ms:.1f} ms")

    # the internals above are the API: one user, raw inputs, adapt + predict_batch, same probabilities
    u = users_by_name["FSDD george"]
    clips = [c for c in data.list_fsdd(root) if c.speaker == "george"]
    ex = [c for c in clips if c.index in (5, 6)]
    me = r.adapt(audios=[c.path for c in ex], labels=[c.digit for c in ex])
    parts = encode(r.model, u.seen, len(u.labels))
    rows = np.array([k for k, c in enumerate(clips) if c.index in (5, 6)])
    assert np.allclose(
        me.profile.corrections["audio"].weight,
        AD.fit(r, take(u.seen, parts, rows)[1], u.labels[rows]).corrections["audio"].weight,
        atol=1e-6,
    ), "benchmark path and Recognizer.adapt differ"
    scored = np.array([k for k, c in enumerate(clips) if c.index == 0])
    plain = me.with_expert(None)  # the benchmark reads speech without PocketSphinx (answer gets no evidence)
    api = [p.probs for p in plain.predict_batch(audios=[clips[k].path for k in scored])]
    inside = plain.answer(*take(u.seen, parts, scored), len(scored), voices={j: u.voice[k] for j, k in enumerate(scored)})
    assert np.allclose(api, [p.probs for p in inside], atol=1e-5), "benchmark path and predict_batch with templates differ"


if __name__ == "__main__":
    main()
