"""Frame composition from cached tiles: a step pastes a few small arrays instead of drawing.

Tiles are read-only numpy arrays made once with PIL and cached; :func:`paste` copies them into a
frame with slicing. This is what makes an env step cost microseconds rather than milliseconds.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from gym_cards.rendering.fonts import load_font

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@functools.lru_cache(maxsize=64)
def solid_frame(height: int, width: int, color: Color) -> np.ndarray:
    """A read-only frame of one colour; ``.copy()`` it (~10 us) rather than filling a new one,
    because broadcasting a colour over an RGB array costs nearly a millisecond."""
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = color
    return _frozen(frame)


@functools.lru_cache(maxsize=4096)
def text_tile(text: str, size: int, color: Color = BLACK, background: Color = WHITE, bold: bool = False) -> np.ndarray:
    """``text`` drawn in DejaVu Sans on an opaque ``background`` box, one line high.

    Every tile of one font size has the same height (the font's ascent + descent), so tiles
    placed on one baseline line up.

    :param text: the text, one line.
    :param size: font size in pixels.
    :param color: text colour.
    :param background: box colour; match the frame's background where the tile is pasted.
    :param bold: the bold face.
    """
    font = load_font(size, bold)
    ascent, descent = font.getmetrics()
    width = max(1, int(np.ceil(font.getlength(text))))
    image = Image.new("RGB", (width, ascent + descent), background)
    ImageDraw.Draw(image).text((0, 0), text, font=font, fill=color)
    return _frozen(np.asarray(image).copy())


@functools.lru_cache(maxsize=256)
def shape_tile(shape: str, size: int, color: Color) -> tuple[np.ndarray, np.ndarray]:
    """A filled marker (``"circle"``, ``"triangle_down"``, ``"triangle_up"``) and its boolean mask.

    Markers sit on top of drawn lines, so they are pasted through their mask.
    """
    scale = 4  # supersample, then downsample the mask for smooth edges
    big = size * scale
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    if shape == "circle":
        draw.ellipse((0, 0, big - 1, big - 1), fill=255)
    elif shape == "triangle_down":
        draw.polygon([(0, 0), (big - 1, 0), (big / 2, big - 1)], fill=255)
    elif shape == "triangle_up":
        draw.polygon([(0, big - 1), (big - 1, big - 1), (big / 2, 0)], fill=255)
    else:
        raise ValueError(f"unknown marker shape {shape!r}; allowed: circle, triangle_down, triangle_up")
    alpha = np.asarray(mask.resize((size, size), Image.Resampling.BOX)) >= 128
    tile = np.empty((size, size, 3), np.uint8)
    tile[:] = color
    return _frozen(tile), _frozen(alpha)


def paste(frame: np.ndarray, tile: np.ndarray, x: int, y: int, mask: np.ndarray | None = None) -> None:
    """Copy ``tile`` into ``frame`` with its top-left corner at ``(x, y)``, clipped to the frame.

    :param mask: optional boolean ``(h, w)`` array; only pixels where it is true are copied.
    """
    height, width = frame.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + tile.shape[1], width), min(y + tile.shape[0], height)
    if x0 >= x1 or y0 >= y1:
        return
    part = tile[y0 - y : y1 - y, x0 - x : x1 - x]
    if mask is None:
        frame[y0:y1, x0:x1] = part
    else:
        np.copyto(frame[y0:y1, x0:x1], part, where=mask[y0 - y : y1 - y, x0 - x : x1 - x, None])


def flow_positions(widths: Sequence[int], line_height: int, max_width: int, gap: int) -> list[tuple[int, int]]:
    """Left-to-right positions for boxes of ``widths``, wrapping to a new line at ``max_width``.

    :return: ``(x, y)`` offsets relative to the top-left of the text area.
    """
    positions, x, y = [], 0, 0
    for width in widths:
        if x > 0 and x + width > max_width:
            x, y = 0, y + line_height
        positions.append((x, y))
        x += width + gap
    return positions


@dataclass(frozen=True)
class CardGrid:
    """Where ``count`` cards go inside a box: their size and each top-left corner."""

    card_width: int
    card_height: int
    positions: tuple[tuple[int, int], ...]

    @property
    def bottom(self) -> int:
        return max((y for _, y in self.positions), default=0) + self.card_height


@functools.lru_cache(maxsize=1024)
def card_grid(count: int, left: int, top: int, width: int, height: int, max_card_width: int, centered: bool) -> CardGrid:
    """Lay out ``count`` cards (5:7) in rows inside a box, shrinking them until every card fits.

    Cards never leave the box: a hand of any size wraps onto new rows, and if the rows do not
    fit in ``height`` the cards get smaller.

    :param centered: centre each row horizontally (otherwise rows start at ``left``).
    """
    card_width = max(12, min(max_card_width, width))
    while True:
        gap = max(2, card_width // 10)
        card_height = card_width * 7 // 5
        per_row = max(1, (width + gap) // (card_width + gap))
        rows = -(-count // per_row)
        if rows * card_height + (rows - 1) * gap <= height or card_width <= 12:
            break
        card_width -= 1
    positions = []
    for index in range(count):
        row, col = divmod(index, per_row)
        in_row = min(per_row, count - row * per_row)
        row_left = left + (width - (in_row * card_width + (in_row - 1) * gap)) // 2 if centered else left
        positions.append((row_left + col * (card_width + gap), top + row * (card_height + gap)))
    return CardGrid(card_width, card_height, tuple(positions))
