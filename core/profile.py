"""A user's profile: what `Recognizer.adapt` learned from a few of their examples, small enough
to download (about 20 KB) and checked like a checkpoint when it is read back.

Per modality it holds a linear correction of that branch's *calibrated* logits, read from the
branch's frozen embedding (core/adapt.py fits it):

    adapted logits / T_m = logits / T_m + fill(embedding @ weight + bias)

`fill` gives every digit the user did not teach the largest correction among the taught ones,
so teaching some digits only reorders those digits and never pulls an answer away from the rest.
The encoders, the out-of-distribution check (`is_digit`) and the "sure" threshold stay the base
model's. Where the user taught spoken digits, it also keeps their recordings as templates
(core/voice.py: cepstra, about 2 KB a clip; version 2; a version 1 file has none).

On disk: `torch.save` of {"format", "version", "sha256", "payload"}, where `payload` is the
`torch.save`d content as a uint8 tensor and `sha256` its hash. Reading bounds the file's size,
checks that the zip holds only stored entries that unpack to no more than that bound, opens it with
`weights_only=True`, checks the hash (a truncated, corrupted or hand-edited file is
refused), the schema and that the profile was made for this very checkpoint (its sha256). The
hash is a checksum, not a signature: anyone can write a valid profile, so what a valid one may hold
is bounded too (finite values, at most MAX_CORRECTION).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core import voice as V
from core.errors import DataError
from core.limits import MAX_PROFILE_BYTES
from core.model import MODALITIES

FORMAT = "digits-profile"
VERSION = 2  # 2: the voice templates
READABLE_VERSIONS = (1, 2)
MAX_CORRECTION = 1e3  # |weight|, |bias|: fitted ones are below 1; a larger value is not from core.adapt
MAX_COUNT = 1_000_000  # examples per digit a profile may say it learned from (adapting again adds up)
MAX_CEPSTRUM = 1e4  # |a stored cepstrum|: MFCCs of speech are tens


def fill(correction: torch.Tensor, taught: torch.Tensor) -> torch.Tensor:
    """(B, classes) corrections, (classes,) bool -> the same, with each untaught digit given the
    row's largest taught correction (no digit loses ground to digits the user happened to teach)."""
    if bool(taught.all()) or not bool(taught.any()):
        return correction if bool(taught.any()) else torch.zeros_like(correction)
    ref = correction[:, taught].max(dim=1, keepdim=True).values
    return torch.where(taught, correction, ref)


@dataclass(frozen=True)
class Correction:
    """One modality's correction, in calibrated-logit units."""

    weight: torch.Tensor  # (embed, classes) float32
    bias: torch.Tensor  # (classes,) float32
    counts: torch.Tensor  # (classes,) int64: examples of each digit it was fitted on

    @property
    def taught(self) -> torch.Tensor:
        return self.counts > 0

    def __call__(self, embed: torch.Tensor) -> torch.Tensor:
        """(B, embed) -> (B, classes) to add to logits / T."""
        return fill(embed @ self.weight + self.bias, self.taught)


@dataclass(frozen=True)
class Profile:
    base_sha256: str  # the checkpoint it was fitted for (card["checkpoint"]["sha256"])
    corrections: dict[str, Correction]  # modality -> correction; absent modalities are not adapted
    l2: float  # the penalty it was fitted with (core.adapt.L2), kept for the record
    voice: V.Templates | None = None  # the user's spoken digits as templates (core/voice.py); None: none taught

    def counts(self) -> dict[str, list[int]]:
        """modality -> examples per digit (0-9)."""
        return {m: [int(c) for c in k.counts] for m, k in self.corrections.items()}


def to_bytes(profile: Profile) -> bytes:
    content = {
        "base_sha256": profile.base_sha256,
        "l2": float(profile.l2),
        "corrections": {
            m: {"weight": c.weight.detach().float().contiguous(), "bias": c.bias.detach().float(), "counts": c.counts.long()}
            for m, c in profile.corrections.items()
        },
    }
    if profile.voice is not None and len(profile.voice.labels):
        v = profile.voice
        content["voice"] = {
            "ceps": torch.from_numpy(np.concatenate([c.T for c in v.ceps]).astype(V.DTYPE)),  # (frames, N_CEPS)
            "lengths": torch.tensor([c.shape[1] for c in v.ceps], dtype=torch.int64),
            "labels": torch.from_numpy(v.labels.astype(np.int64)),
        }
    buf = io.BytesIO()
    torch.save(content, buf)
    payload = buf.getvalue()
    outer = {
        "format": FORMAT,
        "version": VERSION,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8),
    }
    buf = io.BytesIO()
    torch.save(outer, buf)
    return buf.getvalue()


def save(profile: Profile, path: str | Path) -> int:
    """Write the profile file (atomically: a reader never sees half of it); returns its size in bytes."""
    path = Path(path)
    if not profile.base_sha256:
        raise DataError("this model's checkpoint has no sha256 (it was never saved), so a profile could not be tied to it")
    data = to_bytes(profile)
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot write profile {path.name}: {e.strerror or e}") from None
    return len(data)


def read(path: str | Path) -> bytes:
    """The file's bytes, its size checked before it is read."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as e:
        raise DataError(f"profile {path.name} cannot be read: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"profile {path.name} is not a regular file")
    if st.st_size > MAX_PROFILE_BYTES:
        raise DataError(f"profile {path.name} is {st.st_size:,} bytes; a profile is about 20 KB (at most {MAX_PROFILE_BYTES:,})")
    try:
        with open(path, "rb") as f:
            return f.read(MAX_PROFILE_BYTES + 1)
    except OSError as e:
        raise DataError(f"profile {path.name} cannot be read: {e.strerror or e}") from None


def load(path: str | Path, base_sha256: str, embed: int, classes: int) -> Profile:
    """Read and check a profile file for the checkpoint whose sha256 is `base_sha256`."""
    name = Path(path).name
    raw = read(path)
    damaged = f"profile {name} is truncated, was modified or is not a digits profile"
    outer = _torch_load(raw, damaged)
    if not isinstance(outer, dict) or outer.get("format") != FORMAT:
        raise DataError(f"{damaged} (no {FORMAT!r} header)")
    if outer.get("version") not in READABLE_VERSIONS:
        raise DataError(f"profile {name} has version {shown(outer.get('version'))}; this code reads versions {READABLE_VERSIONS}")
    payload, expected = outer.get("payload"), outer.get("sha256")
    if not (torch.is_tensor(payload) and payload.dtype == torch.uint8 and payload.dim() == 1 and isinstance(expected, str)):
        raise DataError(f"{damaged} (no payload and checksum)")
    # a 1.7 KB file can hold a tensor of 1 GB over one byte (stride 0): its size is checked before it is read
    if payload.numel() > MAX_PROFILE_BYTES or payload.stride() != (1,) or payload.untyped_storage().nbytes() < payload.numel():
        raise DataError(f"{damaged} (its payload is not {payload.numel():,} stored bytes of at most {MAX_PROFILE_BYTES:,})")
    data = payload.numpy().tobytes()
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise DataError(f"{damaged}: its content has sha256 {got[:16]}…, but the file records {expected[:16]}…")
    content = _torch_load(data, damaged)
    if not isinstance(content, dict):
        raise DataError(f"{damaged} (content is not a table)")
    made_for = content.get("base_sha256")
    if made_for != base_sha256:
        raise DataError(
            f"profile {name} was made for another model (checkpoint sha256 {str(made_for)[:16]}…); this recognizer's "
            f"checkpoint is {base_sha256[:16]}…: teach this model again (python -m core.adapt or the app's Teach tab)"
        )
    l2 = content.get("l2")
    if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not 0 <= l2 < float("inf"):
        raise DataError(f"profile {name}: l2 must be a number >= 0")
    table = content.get("corrections")
    if not isinstance(table, dict) or not table:
        raise DataError(f"profile {name} holds no corrections")
    corrections = {}
    for m, c in table.items():
        if m not in MODALITIES or not isinstance(c, dict):
            raise DataError(f"profile {name}: unknown modality {shown(m)}; expected some of {MODALITIES}")
        corrections[m] = _correction(name, m, c, embed, classes)
    if "voice" in content and outer["version"] < 2:
        raise DataError(f"profile {name} is version {outer['version']}, which holds no voice templates, yet has some")
    voice = _voice(name, content["voice"]) if "voice" in content else None
    return Profile(base_sha256=made_for, corrections=corrections, l2=float(l2), voice=voice)


def check_zip(data: bytes, damaged: str) -> None:
    """Refuse, before torch reads it, a file that is not `torch.save`'s zip or whose entries would unpack to more
    than MAX_PROFILE_BYTES: torch.save stores entries uncompressed, so a compressed one is not from it (a 1 MB
    file of deflated zeros unpacked to 1.6 GB before its checksum was read)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            entries = z.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as e:
        raise DataError(f"{damaged} (not a torch.save zip: {e})") from None
    if any(e.compress_type != zipfile.ZIP_STORED for e in entries):
        raise DataError(f"{damaged} (compressed entries: torch.save writes none)")
    if sum(e.file_size for e in entries) > MAX_PROFILE_BYTES:
        raise DataError(f"{damaged} (its entries unpack to more than {MAX_PROFILE_BYTES:,} bytes)")


def shown(value) -> str:
    """A value read from a file, as a message may quote it: short words and numbers as they are, anything else by
    its type only (a file's text is nobody's markup; a "version" of HTML was rendered on the Teach tab)."""
    text = repr(value)
    return text if len(text) <= 24 and re.fullmatch(r"'?[\w.-]*'?", text) else f"<a {type(value).__name__}>"


def _torch_load(data: bytes, damaged: str):
    check_zip(data, damaged)
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a damaged or foreign file
        raise DataError(f"{damaged} ({type(e).__name__})") from None


def plain(t) -> bool:
    """A dense tensor in CPU memory: what torch.save wrote from a profile. `weights_only` loading also rebuilds
    sparse, quantized and "meta" tensors, on which the checks below would raise torch's own errors."""
    return torch.is_tensor(t) and t.layout == torch.strided and t.device.type == "cpu" and not t.is_quantized


def _correction(name: str, m: str, c: dict, embed: int, classes: int) -> Correction:
    w, b, n = c.get("weight"), c.get("bias"), c.get("counts")
    shapes = ((w, (embed, classes), torch.float32), (b, (classes,), torch.float32), (n, (classes,), torch.int64))
    for t, shape, dtype in shapes:
        if not (plain(t) and tuple(t.shape) == shape and t.dtype == dtype):
            raise DataError(f"profile {name}: the {m} correction does not fit this model (expected {shape} {dtype})")
    for t in (w, b):
        if not torch.isfinite(t).all() or float(t.abs().max()) > MAX_CORRECTION:
            raise DataError(f"profile {name}: the {m} correction holds non-finite or huge values")
    if int(n.min()) < 0 or int(n.max()) > MAX_COUNT or int(n.sum()) == 0:
        raise DataError(f"profile {name}: the {m} example counts must be 0..{MAX_COUNT:,} with at least one example")
    return Correction(weight=w.clone(), bias=b.clone(), counts=n.clone())


def _voice(name: str, v) -> V.Templates:
    """The stored templates, every shape, count and value checked (a stranger's file is data)."""
    bad = f"profile {name}: its voice templates"
    if not isinstance(v, dict) or set(v) != {"ceps", "lengths", "labels"}:
        raise DataError(f"{bad} are not a table of ceps, lengths and labels")
    c, lengths, labels = v["ceps"], v["lengths"], v["labels"]
    if not (plain(c) and c.dtype == torch.float16 and c.dim() == 2 and c.shape[1] == V.N_CEPS):
        raise DataError(f"{bad} are not (frames, {V.N_CEPS}) float16")
    for t in (lengths, labels):
        if not (plain(t) and t.dtype == torch.int64 and t.dim() == 1 and len(t) == len(lengths)):
            raise DataError(f"{bad} need lengths and labels, one of each per template")
    n = len(lengths)
    if n == 0 or n > 10 * V.MAX_PER_DIGIT or int(labels.min()) < 0 or int(labels.max()) > 9:
        raise DataError(f"{bad} must be 1-{10 * V.MAX_PER_DIGIT} recordings labelled 0-9")
    if int(torch.bincount(labels, minlength=10).max()) > V.MAX_PER_DIGIT:
        raise DataError(f"{bad} hold more than {V.MAX_PER_DIGIT} recordings of one digit")
    if int(lengths.min()) < V.MIN_FRAMES or int(lengths.max()) > V.MAX_FRAMES or int(lengths.sum()) != c.shape[0]:
        raise DataError(f"{bad} must be {V.MIN_FRAMES}-{V.MAX_FRAMES} frames each, all of them stored")
    if not torch.isfinite(c).all() or float(c.abs().max()) > MAX_CEPSTRUM:
        raise DataError(f"{bad} hold non-finite or huge values")
    parts = torch.split(c, lengths.tolist())
    return V.Templates(tuple(p.numpy().T.copy() for p in parts), labels.numpy().copy())
