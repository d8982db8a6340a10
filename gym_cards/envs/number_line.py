"""NumberLine: walk along a number line to the target."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from gym_cards.envs.base import ImageGameEnv
from gym_cards.rendering.canvas import BLACK, WHITE, paste, shape_tile, solid_frame, text_tile

ACTION_WORDS = ("-", "+")
TARGET_RED = (205, 30, 40)
CURRENT_BLUE = (30, 80, 200)


def step_reward(previous: int, current: int, target: int) -> int:
    """+1 on reaching the target, 0 for getting closer, -1 otherwise (away, or stuck at an end)."""
    if current == target:
        return 1
    return 0 if abs(current - target) < abs(previous - target) else -1


class NumberLineEnv(ImageGameEnv):
    """
    ## Description
    A number line from 0 to ``max_position``. The image shows the target number and the current
    number as text, and the line itself with the target (red triangle) and current position
    (blue dot) marked. Move the current number onto the target.

    ## Action Space
    ``Discrete(2)``: 0 = ``"-"`` (move left by one), 1 = ``"+"`` (move right by one). Moving past
    either end leaves the position unchanged.

    ## Observation Space
    ``Box(0, 255, (H, W, 3), uint8)``, an RGB image (default 300 x 300).

    ## Starting State
    Target and start are drawn uniformly from 0..``max_position`` and are never equal.

    ## Rewards
    +1 for reaching the target; 0 for a step that gets closer; -1 for any other step (moving
    away, or pushing against an end of the line).

    ## Episode End
    Terminated when the current number equals the target. Truncated after ``2 * max_position``
    steps without reaching it (the registered env also has a 300-step time limit).

    ## Information
    ``{"Target": int, "Current": int}``, a fresh dict at every reset and step.

    ## Arguments
    ``gym.make("gym_cards/NumberLine-v0", max_position=5, image_size=300, render_mode=None)``

    * ``max_position``: the largest number on the line (at least 1).
    * ``image_size``: an int (square) or ``(height, width)``.
    * ``render_mode``: ``"rgb_array"``, ``"ansi"`` or ``"human"`` (pygame window).

    ## Version History
    * v0: the RL4VLM NumberLine rules, seeded through ``np_random``, drawn with a visible number line.
    """

    def __init__(self, max_position: int = 5, image_size: int | tuple[int, int] = 300, render_mode: str | None = None) -> None:
        super().__init__(render_mode=render_mode, image_size=image_size)
        if isinstance(max_position, bool) or not isinstance(max_position, (int, np.integer)) or max_position < 1:
            raise ValueError(f"max_position must be an int >= 1, got {max_position!r}")
        self.max_position = int(max_position)
        self.action_space = spaces.Discrete(2)
        self.action_words = ACTION_WORDS
        self.target = 0
        self.position = 0
        self.steps = 0
        self._background = self._draw_background()
        self._target_layer_for: int | None = None

    # ----------------------------------------------------------------- rules
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.target = int(self.np_random.integers(self.max_position + 1))
        start = int(self.np_random.integers(self.max_position))
        self.position = start + 1 if start >= self.target else start
        self.steps = 0
        self._render_human()
        return self._frame(), self._info()

    def step(self, action):
        move = -1 if self._check_action(action) == 0 else 1
        previous = self.position
        self.position = min(max(previous + move, 0), self.max_position)
        self.steps += 1
        reward = step_reward(previous, self.position, self.target)
        terminated = self.position == self.target
        truncated = not terminated and self.steps >= 2 * self.max_position
        self._render_human()
        return self._frame(), float(reward), terminated, truncated, self._info()

    def _info(self) -> dict[str, int]:
        return {"Target": self.target, "Current": self.position}

    # ------------------------------------------------------------- rendering
    def _layout(self) -> None:
        """Pixel positions scaled to the image size, computed once."""
        height, width = self.image_size
        side = min(height, width)
        self._left, self._right = round(0.1 * width), round(0.9 * width)
        self._line_y = round(0.7 * height)
        self._tick = max(2, height // 40)
        self._text_size = max(8, round(0.12 * side))
        self._text_left = round(0.08 * width)
        self._target_text_y = round(0.08 * height)
        self._current_text_y = self._target_text_y + round(1.3 * text_tile("T", self._text_size, bold=True).shape[0])
        self._marker = max(6, round(0.06 * side))

    def _x(self, number: int) -> int:
        return self._left + round((self._right - self._left) * number / self.max_position)

    def _draw_background(self) -> np.ndarray:
        """The line, its ticks and labels: the same for every episode."""
        self._layout()
        height, width = self.image_size
        frame = solid_frame(height, width, WHITE).copy()
        thickness = max(1, height // 100)
        top = self._line_y - thickness // 2
        frame[top : top + thickness, self._left : self._right + 1] = BLACK
        label_size = max(8, round(0.06 * min(height, width)))
        widest = text_tile(str(self.max_position), label_size).shape[1]
        spacing = (self._right - self._left) / self.max_position
        label_every = max(1, int(np.ceil((widest * 1.5) / spacing)))
        last = text_tile(str(self.max_position), label_size)
        last_left = self._x(self.max_position) - last.shape[1] // 2
        for number in range(self.max_position + 1):
            x = self._x(number)
            frame[
                self._line_y - self._tick : self._line_y + self._tick + 1,
                max(0, x - thickness // 2) : x - thickness // 2 + thickness,
            ] = BLACK
            if number % label_every == 0 or number == self.max_position:
                label = text_tile(str(number), label_size)
                left = x - label.shape[1] // 2
                if number != self.max_position and left + label.shape[1] + 1 > last_left:
                    continue  # it would run into the last label, always drawn ("88100" at max 100)
                paste(frame, label, left, self._line_y + 2 * self._tick)
        frame.flags.writeable = False
        return frame

    def _draw_target_layer(self) -> np.ndarray:
        """Background plus the target's text and marker: fixed for an episode, so drawn at reset."""
        frame = self._background.copy()
        paste(
            frame,
            text_tile(f"Target: {self.target}", self._text_size, TARGET_RED, WHITE, bold=True),
            self._text_left,
            self._target_text_y,
        )
        triangle, mask = shape_tile("triangle_down", self._marker, TARGET_RED)
        paste(frame, triangle, self._x(self.target) - self._marker // 2, self._line_y - self._marker - self._tick - 2, mask)
        frame.flags.writeable = False
        return frame

    def _frame(self) -> np.ndarray:
        if self._target_layer_for != self.target:
            self._target_layer, self._target_layer_for = self._draw_target_layer(), self.target
        frame = self._target_layer.copy()
        paste(
            frame,
            text_tile(f"Current: {self.position}", self._text_size, CURRENT_BLUE, WHITE, bold=True),
            self._text_left,
            self._current_text_y,
        )
        dot, mask = shape_tile("circle", self._marker, CURRENT_BLUE)
        paste(frame, dot, self._x(self.position) - self._marker // 2, self._line_y - self._marker // 2, mask)
        return frame

    def describe(self) -> str:
        return f"Number line from 0 to {self.max_position}. Target: {self.target}. Current: {self.position}."
