"""The mechanics EZPoints and Points24 share: cards on the table, a formula built token by token."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from gymnasium import spaces

from gym_cards.cards import Card
from gym_cards.envs.base import ImageGameEnv
from gym_cards.formula import evaluate, numbers_in
from gym_cards.rendering.canvas import WHITE, card_grid, flow_positions, paste, solid_frame, text_tile
from gym_cards.rendering.card_faces import TABLE_GREEN, card_face

# Appended to the formula in place of a number that is not on the table (or already used up),
# so the mistake stays visible and the formula can no longer score.
PLACEHOLDER = "?"
SOLVED_REWARD = 10.0
MISTAKE_REWARD = -1.0


MIN_TEXT_SIZE = 3
"""The smallest glyphs (px) of the formula and its labels, reached only in frames under about 90 px."""


class FormulaCardGameEnv(ImageGameEnv):
    """Shared rules; subclasses choose the deal, the operators and the formula length limit.

    :param numbers: the numbers an agent may pick (action ``i`` picks ``numbers[i]``).
    :param symbols: the operator and parenthesis actions that follow the numbers; ``"="`` is last.
    :param target: the value the formula must reach.
    :param max_formula_length: a formula longer than this ends the episode (terminated, -1).
    :param face_cards_as_10: whether J/Q/K count 10 (else 11/12/13).
    """

    def __init__(
        self,
        numbers: tuple[int, ...],
        symbols: tuple[str, ...],
        target: int,
        max_formula_length: int,
        face_cards_as_10: bool,
        render_mode: str | None,
        image_size: int | tuple[int, int],
    ) -> None:
        super().__init__(render_mode=render_mode, image_size=image_size)
        self.action_words = tuple(str(n) for n in numbers) + symbols + ("=",)
        self.action_space = spaces.Discrete(len(self.action_words))
        self.target = target
        self.max_formula_length = max_formula_length
        self.face_cards_as_10 = face_cards_as_10
        self.cards: list[Card] = []
        self.numbers: list[int] = []
        self.formula: list[str] = []
        self._unused: Counter[int] = Counter()
        self._table: np.ndarray | None = None

    def _deal(self) -> list[Card]:
        """The cards for a new episode, drawn with ``self.np_random``."""
        raise NotImplementedError

    # ----------------------------------------------------------------- rules
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.cards = self._deal()
        self.numbers = [card.value(self.face_cards_as_10) for card in self.cards]
        self.formula = []
        self._unused = Counter(self.numbers)
        self._table = self._draw_table()
        self._render_human()
        return self._frame(), self._info()

    def step(self, action):
        word = self.action_words[self._check_action(action)]
        terminated = truncated = False
        reward = 0.0
        if word == "=":
            terminated = True
            reward = SOLVED_REWARD if self.is_solved() else MISTAKE_REWARD
        elif word.isdigit():
            number = int(word)
            if self._unused[number] > 0:
                self._unused[number] -= 1
                self.formula.append(word)
            else:
                self.formula.append(PLACEHOLDER)
                reward = MISTAKE_REWARD
        else:
            self.formula.append(word)
        if not terminated and len(self.formula) > self.max_formula_length:
            # A rule of the game, visible in the formula: the episode terminates (RL4VLM's env
            # reported it as truncated, which a learner takes for a time limit and bootstraps past).
            terminated, reward = True, MISTAKE_REWARD
        self._render_human()
        return self._frame(), reward, terminated, truncated, self._info()

    def is_solved(self) -> bool:
        """Whether the formula uses every card exactly once and equals the target."""
        return sorted(numbers_in(self.formula)) == sorted(self.numbers) and evaluate(self.formula) == self.target

    def _info(self) -> dict[str, list]:
        return {"Cards": [str(card) for card in self.cards], "Numbers": list(self.numbers), "Formula": list(self.formula)}

    # ------------------------------------------------------------- rendering
    def _text_size(self) -> int:
        # 8 px from 100 px frames on (7.5% of the side above 107 px); smaller frames get smaller
        # labels, or the labels leave no room for a long formula under them (at 56 px).
        side = min(self.image_size)
        return max(8, round(0.075 * side)) if side >= 100 else min(7, round(0.09 * side))

    def _formula_top(self) -> int:
        return self._card_bottom + round(0.04 * self.image_size[0])

    def _draw_table(self) -> np.ndarray:
        """The cards and the labels, which stay the same for the whole episode."""
        height, width = self.image_size
        frame = solid_frame(height, width, TABLE_GREEN).copy()
        margin = round(0.04 * width)
        grid = card_grid(
            len(self.cards), margin, round(0.05 * height), width - 2 * margin, round(0.5 * height), round(0.4 * width), True
        )
        for card, (x, y) in zip(self.cards, grid.positions):
            paste(frame, card_face(card.rank, card.suit, grid.card_width, grid.card_height), x, y)
        self._card_bottom = grid.bottom
        size = self._text_size()
        while True:  # the two labels side by side, with a gap, shrunk until they fit (narrow frames)
            label = text_tile("Formula:", size, WHITE, TABLE_GREEN, bold=True)
            goal = text_tile(f"Target: {self.target}", size, WHITE, TABLE_GREEN, bold=True)
            if label.shape[1] + goal.shape[1] + max(2, size // 2) <= width - 2 * margin or size <= MIN_TEXT_SIZE:
                break
            size -= 1
        paste(frame, label, margin, self._formula_top())
        paste(frame, goal, width - margin - goal.shape[1], self._formula_top())
        frame.flags.writeable = False
        return frame

    def _formula_layout(self) -> list[tuple[np.ndarray, int, int]]:
        """Each formula token's tile and where it goes (x, y in the frame), the text shrunk until
        every token fits in the space under the labels (down to ``MIN_TEXT_SIZE``: at 56 px a
        20-token formula needs 4 px glyphs, and a token drawn off the frame is state the image
        no longer shows)."""
        height, width = self.image_size
        margin = round(0.04 * width)
        top = self._formula_top() + round(1.2 * text_tile("F", self._text_size(), WHITE, TABLE_GREEN, True).shape[0])
        room = height - top - margin
        size = self._text_size()
        while True:
            tiles = [text_tile(token, size, WHITE, TABLE_GREEN, bold=True) for token in self.formula]
            line_height = tiles[0].shape[0]
            positions = flow_positions([t.shape[1] for t in tiles], line_height, width - 2 * margin, max(2, size // 3))
            if positions[-1][1] + line_height <= room or size <= MIN_TEXT_SIZE:
                break
            size -= 1
        return [(tile, margin + x, top + y) for tile, (x, y) in zip(tiles, positions)]

    def _frame(self) -> np.ndarray:
        frame = self._table.copy()
        if not self.formula:
            return frame
        for tile, x, y in self._formula_layout():
            paste(frame, tile, x, y)
        return frame

    def describe(self) -> str:
        cards = ", ".join(f"{card.name} (counts as {number})" for card, number in zip(self.cards, self.numbers))
        formula = " ".join(self.formula) if self.formula else "(empty)"
        return f"Cards: {cards}. Target: {self.target}. Formula: {formula}"
