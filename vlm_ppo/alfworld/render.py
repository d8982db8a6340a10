"""The text backend's image: the engine's text drawn on a canvas, marked as not a camera view.

ALFWorld's text engine has no camera. Vision-language agents still get an image so the same
model and trainer run on both backends; the frame says plainly what it is, with a red banner
"TEXT RENDERING (no camera)", then the task and the latest observation, wrapped to the width and
shrunk (down to a readable minimum, then cut with "...") to fit.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from gym_cards.rendering.fonts import load_font

BANNER = "TEXT RENDERING (no camera)"
_BANNER_BG = (170, 20, 20)
_BANNER_FG = (255, 255, 255)
_BG = (245, 245, 240)
_FG = (20, 20, 20)
_TASK_FG = (20, 60, 140)
_MIN_FONT = 9


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words, line = paragraph.split(), ""
        for word in words:
            candidate = f"{line} {word}".strip()
            if draw.textlength(candidate, font=font) <= width or not line:
                line = candidate
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


def render_text_frame(task: str, observation: str, size: tuple[int, int] = (300, 300)) -> np.ndarray:
    """An ``(height, width, 3)`` uint8 frame showing the banner, the task and ``observation``."""
    height, width = size
    image = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(image)
    margin = max(3, width // 60)
    banner_font = load_font(max(8, min(16, height // 18)), bold=True)
    while draw.textlength(BANNER, font=banner_font) > width - 2 * margin and banner_font.size > 6:
        banner_font = load_font(banner_font.size - 1, bold=True)
    ascent, descent = banner_font.getmetrics()
    banner_h = ascent + descent + 2 * margin
    draw.rectangle((0, 0, width, banner_h), fill=_BANNER_BG)
    draw.text(((width - draw.textlength(BANNER, font=banner_font)) / 2, margin), BANNER, font=banner_font, fill=_BANNER_FG)

    room = height - banner_h - 2 * margin
    for size_px in range(max(_MIN_FONT, min(15, height // 20)), _MIN_FONT - 1, -1):
        font = load_font(size_px)
        task_lines = _wrap(draw, f"Task: {task}", load_font(size_px, bold=True), width - 2 * margin)
        text_lines = _wrap(draw, observation, font, width - 2 * margin)
        line_h = sum(font.getmetrics()) + 1
        if (len(task_lines) + len(text_lines) + 1) * line_h <= room:
            break
    max_lines = max(1, room // line_h)
    y = banner_h + margin
    for line in task_lines[:max_lines]:
        draw.text((margin, y), line, font=load_font(font.size, bold=True), fill=_TASK_FG)
        y += line_h
    y += line_h // 2
    left = max_lines - len(task_lines) - 1
    shown = text_lines[: max(0, left)]
    if len(text_lines) > len(shown) and shown:
        shown[-1] = shown[-1].rstrip() + " ..."
    for line in shown:
        draw.text((margin, y), line, font=font, fill=_FG)
        y += line_h
    return np.asarray(image, dtype=np.uint8).copy()
