"""A drawing canvas for Gradio that keeps the pen strokes, not only the pixels.

`gr.Sketchpad` returns an image; the stroke branch needs the path. This `gr.HTML` component
records every pointer event (mouse, touch, pen) with its time, draws it, and on each pen-up
sets its value to JSON:

    {"strokes": [[[x, y, t_ms], ...], ...], "image": "data:image/png;base64,...", "width": 840, "height": 280}

Coordinates are canvas pixels, y down, as `core.strokes` expects. Clear and Undo change the
value too, so a listener on `.change` sees every edit.
"""

from __future__ import annotations

import base64
import io
import json

import gradio as gr
import numpy as np
from PIL import Image

from core.errors import InputError
from core.strokes import load_strokes_json

SIZE = 280  # canvas pixels (CSS size follows the layout; coordinates are scaled back to this)
DRAW_WIDTH = 3 * SIZE  # the Draw tab's canvas is this wide (SIZE high): room for a number of several digits
MAX_RASTER_SIDE = 1024  # px: the canvas exports SIZE x SIZE; anything much larger is not from it
PEN_WIDTH = 18  # px: a felt-tip on a 280 px canvas, close to MNIST's stroke width after scaling
HINT = "draw one digit; it is read when you lift the pen"

HTML = """
<div class="stroke-canvas">
  <canvas width="${width}" height="${height}" aria-label="drawing canvas"></canvas>
  <div class="stroke-canvas-buttons">
    <button type="button" class="undo">Undo</button>
    <button type="button" class="clear">Clear</button>
    <span class="hint">${hint}</span>
  </div>
</div>
"""

CSS = """
.stroke-canvas canvas { width: 100%; max-width: ${width}px; aspect-ratio: ${width} / ${height};
  border: 2px solid var(--border-color-primary);
  border-radius: 8px; background: #fff; touch-action: none; cursor: crosshair; display: block; }
.stroke-canvas-buttons { display: flex; gap: 8px; margin-top: 6px; align-items: center; }
.stroke-canvas-buttons button { padding: 4px 14px; border-radius: 6px; border: 1px solid var(--border-color-primary);
  background: var(--button-secondary-background-fill); cursor: pointer; }
.stroke-canvas-buttons .hint { font-size: 12px; opacity: 0.7; }
"""

JS = """
const canvas = element.querySelector('canvas');
const ctx = canvas.getContext('2d');
const pen = props.pen || 18;
let strokes = [];
let current = null;
const t0 = performance.now();

function redraw() {
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = '#000000';
  ctx.fillStyle = '#000000';
  ctx.lineWidth = pen;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  for (const s of strokes) {
    if (s.length === 1) {
      ctx.beginPath(); ctx.arc(s[0][0], s[0][1], pen / 2, 0, 2 * Math.PI); ctx.fill();
      continue;
    }
    ctx.beginPath();
    ctx.moveTo(s[0][0], s[0][1]);
    for (const p of s.slice(1)) ctx.lineTo(p[0], p[1]);
    ctx.stroke();
  }
}

function point(e) {
  const r = canvas.getBoundingClientRect();
  return [
    Math.round((e.clientX - r.left) * canvas.width / r.width * 10) / 10,
    Math.round((e.clientY - r.top) * canvas.height / r.height * 10) / 10,
    Math.round(performance.now() - t0),
  ];
}

function emit() {
  props.value = JSON.stringify({
    strokes: strokes,
    image: strokes.length ? canvas.toDataURL('image/png') : null,
    width: canvas.width,
    height: canvas.height,
  });
  trigger('change');
}

canvas.addEventListener('pointerdown', (e) => {
  e.preventDefault();
  canvas.setPointerCapture(e.pointerId);
  current = [point(e)];
  strokes.push(current);
  redraw();
});
canvas.addEventListener('pointermove', (e) => {
  if (!current) return;
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  for (const ev of (events.length ? events : [e])) current.push(point(ev));
  redraw();
});
const up = () => { if (!current) return; current = null; emit(); };
canvas.addEventListener('pointerup', up);
canvas.addEventListener('pointercancel', up);
element.querySelector('.clear').addEventListener('click', () => { strokes = []; current = null; redraw(); emit(); });
element.querySelector('.undo').addEventListener('click', () => { strokes.pop(); current = null; redraw(); emit(); });
redraw();
"""


class StrokeCanvas(gr.HTML):
    """Canvas whose value is the JSON above; read it with `parse_canvas`."""

    def __init__(self, size: int = SIZE, pen: int = PEN_WIDTH, width: int | None = None, hint: str = HINT, **kwargs):
        """A `size` px square, or `width` x `size` px; `hint` is the line beside the buttons."""
        width = width or size
        super().__init__(
            value=json.dumps({"strokes": [], "image": None, "width": width, "height": size}),
            html_template=HTML,
            css_template=CSS,
            js_on_load=JS,
            width=width,
            height=size,
            hint=hint,
            pen=pen,
            apply_default_css=False,
            **kwargs,
        )

    def api_info(self) -> dict:
        return {"type": "string", "description": "canvas JSON: {strokes: [[[x, y, t], ...], ...], image: data URL}"}


def parse_canvas(value: str | dict | None) -> tuple[list, np.ndarray | None]:
    """Canvas value -> (strokes, RGBA image array or None). Raises InputError on anything else.

    The value comes from the browser, so from anyone: it is parsed with core's stroke-JSON
    bounds (size, nesting, number length), and the raster's header is checked before decoding.
    """
    if not value:
        return [], None
    d = load_strokes_json(value) if isinstance(value, (str, bytes)) else value
    if not isinstance(d, dict):
        raise InputError("canvas value must be a JSON object with 'strokes'")
    strokes = d.get("strokes") or []
    image = None
    url = d.get("image")
    if url:
        if not isinstance(url, str):
            raise InputError("canvas 'image' must be a PNG data URL")
        try:
            raw = base64.b64decode(url.split(",", 1)[1] if "," in url else url, validate=True)
            with Image.open(io.BytesIO(raw), formats=["PNG"]) as im:  # the canvas sends PNG; other decoders
                # of PIL raised what no one expects (a cut QOI picture: IndexError, hostile review)
                if im.width > MAX_RASTER_SIDE or im.height > MAX_RASTER_SIDE or min(im.size) < 2:
                    raise InputError(
                        f"canvas image is {im.width}x{im.height}; expected the {DRAW_WIDTH}x{SIZE} canvas or smaller "
                        f"(at most {MAX_RASTER_SIDE} px a side)"
                    )
                image = np.asarray(im.convert("RGBA"))
        except Image.DecompressionBombError:
            raise InputError(f"canvas image is far larger than the {DRAW_WIDTH}x{SIZE} canvas; refused unread") from None
        except InputError:
            raise
        except (ValueError, OSError, IndexError, SyntaxError, EOFError) as e:
            raise InputError("canvas 'image' is not a readable PNG data URL") from e
    return strokes, image
