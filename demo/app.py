"""The web app: draw, speak, both, or photograph digits and watch the model read them.

    python -m demo.app [--host 127.0.0.1] [--port 7860] [--share] [--checkpoints DIR]

The model is loaded once; callbacks only call `core` and turn its answers into pictures.
Named API endpoints (see README): /predict_image, /predict_strokes, /predict_speech,
/predict_multimodal, /read_photo.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import gradio as gr
import numpy as np

from core import DataError, InputError, Recognizer
from core import strokes as S
from core.recognizer import Prediction
from demo import render
from demo.canvas import StrokeCanvas, parse_canvas

log = logging.getLogger("demo")
REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
HINT_EMPTY = "✏️ Draw a digit on the canvas — it is read each time you lift the pen."
HINT_AUDIO = "🎙️ Record or upload one spoken digit (zero to nine)."

CSS = """
.big-digit { font-size: 96px; font-weight: 700; line-height: 1; text-align: center; }
.big-conf { text-align: center; opacity: 0.75; }
.msg { min-height: 1.5em; }
"""


def big(p: Prediction | None, threshold: float = 0.0) -> str:
    """The large answer; below `threshold` (--threshold) it says "not sure" and shows the best guess."""
    if p is None:
        return "<div class='big-digit'>·</div><div class='big-conf'>&nbsp;</div>"
    if p.confidence < threshold:
        guess = f"not sure — best guess {p.label} ({100 * p.confidence:.0f}%)"
        return f"<div class='big-digit'>?</div><div class='big-conf'>{guess}</div>"
    return f"<div class='big-digit'>{p.label}</div><div class='big-conf'>{100 * p.confidence:.1f}% sure</div>"


def friendly(e: Exception) -> str:
    """Any failure -> one line for the page; unexpected ones are logged with their traceback."""
    if isinstance(e, (InputError, DataError)):
        return f"⚠️ {e}"
    log.exception("unexpected error in a callback")
    return f"⚠️ Something went wrong ({type(e).__name__}); the input could not be read."


def as_json(p: Prediction) -> dict:
    return {
        "label": p.label,
        "confidence": round(p.confidence, 6),
        "probs": [round(float(x), 6) for x in p.probs],
        "by_modality": {m: [round(float(x), 6) for x in q] for m, q in p.by_modality.items()},
    }


class App:
    """Callbacks bound to one loaded Recognizer."""

    def __init__(self, recognizer: Recognizer, threshold: float = 0.0):
        self.r = recognizer
        self.threshold = threshold

    def big(self, p: Prediction | None) -> str:
        return big(p, self.threshold)

    # ------------------------------------------------------------------ Draw
    def draw(self, value: str):
        """Canvas JSON -> big digit, fused bars, image bars, stroke bars, 28x28 view, 8-point view, message."""
        empty = (self.big(None), None, None, None, None, None)
        try:
            strokes, image = parse_canvas(value)
            if not strokes:
                return (*empty, HINT_EMPTY)
            p = self.r.predict(image=image, strokes=strokes)
            points, _ = S.unpack(p.seen["strokes"])
            return (
                self.big(p),
                render.probs_dict(p.probs),
                render.probs_dict(p.by_modality["image"]),
                render.probs_dict(p.by_modality["strokes"]),
                render.mnist_view(p.seen["image"]),
                render.trajectory_view(points),
                "",
            )
        except Exception as e:  # noqa: BLE001 - the page must show a message, never a traceback
            return (*empty, friendly(e))

    # ------------------------------------------------------------------ Speak
    def speak(self, path: str | None):
        """Audio file path -> big digit, bars, spectrogram, message."""
        if not path:
            return self.big(None), None, None, HINT_AUDIO
        try:
            p = self.r.predict(audio=path)
            return self.big(p), render.probs_dict(p.probs), render.spectrogram_view(p.seen["audio"]), ""
        except Exception as e:  # noqa: BLE001
            return self.big(None), None, None, friendly(e)

    # ------------------------------------------------------------------ Draw + Speak
    def both(self, value: str, path: str | None):
        """Canvas + audio -> big digit, fused bars, per-modality bars (image, strokes, audio), votes, message."""
        empty = (self.big(None), None, None, None, None, "")
        try:
            strokes, image = parse_canvas(value)
            kw = {}
            if strokes:
                kw.update(image=image, strokes=strokes)
            if path:
                kw["audio"] = path
            if not kw:
                return (*empty, "Draw a digit, say one, or both; the result fuses whatever is there.")
            p = self.r.predict(**kw)
            bars = [render.probs_dict(p.by_modality[m]) if m in p.by_modality else None for m in ("image", "strokes", "audio")]
            votes = " · ".join(f"**{m}** says {int(q.argmax())} ({100 * q.max():.0f}%)" for m, q in p.by_modality.items())
            return (self.big(p), render.probs_dict(p.probs), *bars, f"Votes: {votes} → fused **{p.label}**", "")
        except Exception as e:  # noqa: BLE001
            return (*empty, friendly(e))

    # ------------------------------------------------------------------ Photo
    def photo(self, image: np.ndarray | None):
        """Photo -> annotated photo, number read, message."""
        if image is None:
            return None, "", "📷 Upload or snap a photo of a handwritten number on paper."
        try:
            reading = self.r.read(image)
            if not reading.digits:
                return image, "", "No digits found. Write darker or larger, and fill the frame with the paper."
            return render.draw_reading(image, reading), reading.text, f"{len(reading.digits)} digit(s) found."
        except Exception as e:  # noqa: BLE001
            return None, "", friendly(e)

    # ------------------------------------------------------------------ API (JSON in, JSON out)
    def api_image(self, path: str | None) -> dict:
        return self._api(lambda: as_json(self.r.predict(image=path)), path, "an image file")

    def api_strokes(self, strokes_json: str) -> dict:
        return self._api(lambda: as_json(self.r.predict(strokes=S.parse_strokes(strokes_json))), strokes_json, "stroke JSON")

    def api_speech(self, path: str | None) -> dict:
        return self._api(lambda: as_json(self.r.predict(audio=path)), path, "an audio file")

    def api_multimodal(self, image: str | None, strokes_json: str | None, audio: str | None) -> dict:
        def run():
            kw = {}
            if image:
                kw["image"] = image
            if strokes_json and strokes_json.strip():
                kw["strokes"] = strokes_json
            if audio:
                kw["audio"] = audio
            return as_json(self.r.predict(**kw))

        return self._api(run, True, "")

    def api_photo(self, path: str | None) -> dict:
        def run():
            reading = self.r.read(path)
            return {
                "text": reading.text,
                "digits": [{"box": list(d.box), "label": d.label, "confidence": round(d.confidence, 6)} for d in reading.digits],
            }

        return self._api(run, path, "a photo file")

    @staticmethod
    def _api(fn, given, what: str) -> dict:
        if not given:
            return {"error": f"no input: send {what}"}
        try:
            return fn()
        except Exception as e:  # noqa: BLE001
            return {"error": friendly(e).removeprefix("⚠️ ")}


def model_card_markdown(card: dict) -> str:
    m = card.get("metrics", {})
    rows = [
        ("MNIST test, image branch", m.get("mnist_test")),
        ("pendigits test (unseen writers), stroke branch", m.get("pendigits_test")),
        ("UNIPEN held-out donors, stroke branch", m.get("unipen_test_donors")),
        ("FSDD customary test, audio branch", m.get("fsdd_test")),
        ("FSDD leave-one-speaker-out mean, audio", (m.get("fsdd_leave_one_speaker_out") or {}).get("mean")),
    ]
    rows += [(f"fused test tuples: {k}", v) for k, v in (m.get("fused_test_tuples") or {}).items()]
    lines = ["| measure | accuracy |", "| --- | --- |"]
    lines += [f"| {a} | {100 * b:.2f}% |" for a, b in rows if isinstance(b, (int, float))]
    info = (
        f"Trained {card.get('date', '?')} from commit `{str(card.get('git_commit', '?'))[:10]}`, "
        f"{card.get('parameters', 0):,} parameters, in {card.get('train_seconds', 0) / 60:.0f} min on CPU. "
        f"Checkpoint sha256 `{card.get('checkpoint', {}).get('sha256', '?')[:16]}…` (verified at load)."
    )
    return info + "\n\n" + "\n".join(lines)


def build_app(recognizer: Recognizer, threshold: float = 0.0) -> gr.Blocks:
    app = App(recognizer, threshold)
    with gr.Blocks(title="digits — multimodal digit recognizer") as demo:
        gr.Markdown("# digits\nRead a digit from your handwriting, your pen strokes or your voice — alone or together.")
        with gr.Tabs():
            with gr.Tab("Draw", id="draw"):
                with gr.Row():
                    with gr.Column(scale=3):
                        canvas = StrokeCanvas(elem_id="draw-canvas")
                        draw_msg = gr.Markdown(HINT_EMPTY, elem_classes=["msg"], elem_id="draw-msg")
                    with gr.Column(scale=2):
                        draw_big = gr.HTML(big(None), elem_id="draw-result")
                        draw_fused = gr.Label(num_top_classes=10, label="fused")
                with gr.Row():
                    draw_img = gr.Label(num_top_classes=3, label="image branch alone")
                    draw_str = gr.Label(num_top_classes=3, label="stroke branch alone")
                    draw_28 = gr.Image(label="what the CNN saw (28x28)", interactive=False, height=180)
                    draw_8 = gr.Image(label="what the stroke model saw (8 points)", interactive=False, height=180)
                canvas.change(
                    app.draw,
                    canvas,
                    [draw_big, draw_fused, draw_img, draw_str, draw_28, draw_8, draw_msg],
                    api_visibility="private",
                    trigger_mode="always_last",
                )
            with gr.Tab("Speak", id="speak"):
                with gr.Row():
                    with gr.Column():
                        mic = gr.Audio(
                            sources=["microphone", "upload"], type="filepath", label="say a digit", elem_id="speak-audio"
                        )
                        speak_msg = gr.Markdown(HINT_AUDIO, elem_classes=["msg"], elem_id="speak-msg")
                    with gr.Column():
                        speak_big = gr.HTML(big(None), elem_id="speak-result")
                        speak_bars = gr.Label(num_top_classes=10, label="probabilities")
                speak_spec = gr.Image(label="what the audio model heard (log-mel, 40 bands x 48 frames)", interactive=False)
                mic.change(app.speak, mic, [speak_big, speak_bars, speak_spec, speak_msg], api_visibility="private")
            with gr.Tab("Draw + Speak", id="both"):
                with gr.Row():
                    with gr.Column():
                        canvas2 = StrokeCanvas(elem_id="both-canvas")
                        mic2 = gr.Audio(
                            sources=["microphone", "upload"], type="filepath", label="say the same digit", elem_id="both-audio"
                        )
                    with gr.Column():
                        both_big = gr.HTML(big(None), elem_id="both-result")
                        both_fused = gr.Label(num_top_classes=5, label="fused")
                        both_votes = gr.Markdown(elem_id="both-votes")
                        both_msg = gr.Markdown(elem_classes=["msg"])
                with gr.Row():
                    b_img = gr.Label(num_top_classes=3, label="image")
                    b_str = gr.Label(num_top_classes=3, label="strokes")
                    b_aud = gr.Label(num_top_classes=3, label="audio")
                outs = [both_big, both_fused, b_img, b_str, b_aud, both_votes, both_msg]
                canvas2.change(app.both, [canvas2, mic2], outs, api_visibility="private", trigger_mode="always_last")
                mic2.change(app.both, [canvas2, mic2], outs, api_visibility="private")
            with gr.Tab("Photo", id="photo"):
                with gr.Row():
                    photo_in = gr.Image(
                        sources=["upload", "webcam"], type="numpy", label="handwritten number on paper", elem_id="photo-in"
                    )
                    photo_out = gr.Image(label="what was found", interactive=False, elem_id="photo-out")
                photo_text = gr.Textbox(label="number read", elem_id="photo-text", lines=2)
                photo_msg = gr.Markdown(elem_classes=["msg"], elem_id="photo-msg")
                photo_in.change(app.photo, photo_in, [photo_out, photo_text, photo_msg], api_visibility="private")
            with gr.Tab("Model", id="model"):
                gr.Markdown(model_card_markdown(recognizer.card))
                pictures = sorted(DOCS.glob("confusion_*.png"))
                if pictures:
                    gr.Gallery([str(p) for p in pictures], label="confusion matrices on the test sets", columns=4, height="auto")
        with gr.Column(visible=False):  # JSON endpoints for gradio_client; see README
            f_img, f_aud, f_photo = gr.File(), gr.File(), gr.File()
            t_str = gr.Textbox()
            out = gr.JSON()
            gr.Button().click(app.api_image, f_img, out, api_name="predict_image")
            gr.Button().click(app.api_strokes, t_str, out, api_name="predict_strokes")
            gr.Button().click(app.api_speech, f_aud, out, api_name="predict_speech")
            gr.Button().click(app.api_multimodal, [f_img, t_str, f_aud], out, api_name="predict_multimodal")
            gr.Button().click(app.api_photo, f_photo, out, api_name="read_photo")
    return demo


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m demo.app", description="Open the digits web app.")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    ap.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    ap.add_argument("--share", action="store_true", help="also make a public gradio.live link (off by default)")
    ap.add_argument("--checkpoints", default=None, help="checkpoint directory (default: checkpoints/)")
    ap.add_argument("--threshold", type=float, default=0.0, help="answer 'not sure' below this confidence (default: 0, off)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    try:
        recognizer = Recognizer.load(args.checkpoints)
    except DataError as e:
        raise SystemExit(f"error: {e}") from None
    build_app(recognizer, args.threshold).queue(default_concurrency_limit=4).launch(
        server_name=args.host, server_port=args.port, share=args.share, css=CSS
    )


if __name__ == "__main__":
    main()
