"""Blackjack with Sutton & Barto's rules (as Gymnasium's ``Blackjack-v1``), drawn as cards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from gym_cards.cards import Card, draw_card
from gym_cards.envs.base import ImageGameEnv, check_flag
from gym_cards.rendering.canvas import WHITE, card_grid, paste, solid_frame, text_tile
from gym_cards.rendering.card_faces import TABLE_GREEN, card_back, card_face

ACTION_WORDS = ("stand", "hit")


def usable_ace(values: Sequence[int]) -> bool:
    """Whether the hand holds an ace that can count 11 without busting."""
    return 1 in values and sum(values) + 10 <= 21


def sum_hand(values: Sequence[int]) -> int:
    """The hand's total, counting one ace as 11 when that does not bust."""
    return sum(values) + 10 if usable_ace(values) else sum(values)


def is_bust(values: Sequence[int]) -> bool:
    return sum_hand(values) > 21


def score(values: Sequence[int]) -> int:
    """The total, or 0 for a bust hand."""
    return 0 if is_bust(values) else sum_hand(values)


def is_natural(values: Sequence[int]) -> bool:
    """An ace and a ten-valued card as the first two cards."""
    return sorted(values) == [1, 10]


def settle(player: Sequence[int], dealer: Sequence[int], natural: bool, sab: bool) -> float:
    """The player's reward after sticking, once the dealer has drawn to 17 or more."""
    player_score, dealer_score = score(player), score(dealer)
    reward = float(player_score > dealer_score) - float(player_score < dealer_score)
    if sab and is_natural(player) and not is_natural(dealer):
        return 1.0
    if not sab and natural and is_natural(player) and reward == 1.0:
        return 1.5
    return reward


class BlackjackEnv(ImageGameEnv):
    """
    ## Description
    Beat the dealer: get closer to 21 than the dealer without going over. Cards come from an
    infinite deck. The dealer shows one card face up and one face down; the player sees all
    of their own cards. This is Example 5.1 of Sutton & Barto's *Reinforcement Learning: An
    Introduction*, with the rules of Gymnasium's ``BlackjackEnv`` and its class defaults
    (``natural=False``, ``sab=False``, as RL4VLM; ``gym.make("Blackjack-v1")`` registers ``sab=True``,
    whose optimal return is -0.0431 against this default's -0.0466).

    Card values: A = 1 or 11 (an ace counts 11 whenever that does not bust: a *usable ace*),
    2..10 as printed, J/Q/K = 10.

    ## Action Space
    ``Discrete(2)``: 0 = stick (action word ``"stand"``), 1 = hit (``"hit"``).

    ## Observation Space
    ``is_pixel=True`` (default): ``Box(0, 255, (H, W, 3), uint8)`` showing the dealer's up card
    and one face-down card, and every player card (wrapping onto new rows and shrinking as the
    hand grows; never off the canvas). When the episode ends the dealer's cards are turned up.
    ``is_pixel=False``: ``Tuple(Discrete(32), Discrete(11), Discrete(2))`` =
    ``(player sum, dealer's up card value 1..10, usable ace 0/1)``.

    ## Starting State
    Two cards each for the player and the dealer.

    ## Rewards
    Win +1, lose -1, draw 0. With ``natural=True`` a winning natural (ace + ten-valued card)
    pays +1.5. With ``sab=True`` (overrides ``natural``) a player natural wins +1 unless the
    dealer also has a natural (then it is a draw, 0).

    ## Episode End
    Terminated when the player sticks (the dealer then draws until 17 or more) or busts
    (reward -1). The registered env also has a 300-step limit.

    ## Information
    ``{"Dealer Card": [...], "Player Card": [...]}`` as card strings (``"QH"`` is the queen
    of hearts). Before the episode ends "Dealer Card" holds the up card only; the face-down
    card is never revealed early. At the end it holds the dealer's whole hand.

    ## Arguments
    ``gym.make("gym_cards/Blackjack-v0", natural=False, sab=False, is_pixel=True,
    image_size=300, render_mode=None)``

    ## Version History
    * v0: RL4VLM's pixel Blackjack on Gymnasium's ``Blackjack-v1`` rules; hidden card kept out
      of ``info``; hands of any size drawn inside the image.
    """

    def __init__(
        self,
        natural: bool = False,
        sab: bool = False,
        is_pixel: bool = True,
        image_size: int | tuple[int, int] = 300,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(render_mode=render_mode, image_size=image_size)
        self.natural = check_flag("natural", natural)
        self.sab = check_flag("sab", sab)
        self.is_pixel = check_flag("is_pixel", is_pixel)
        self.action_space = spaces.Discrete(2)
        self.action_words = ACTION_WORDS
        if not self.is_pixel:
            self.observation_space = spaces.Tuple((spaces.Discrete(32), spaces.Discrete(11), spaces.Discrete(2)))
        self.dealer: list[Card] = []
        self.player: list[Card] = []
        self.done = False

    # ----------------------------------------------------------------- rules
    @staticmethod
    def _values(hand: Sequence[Card]) -> list[int]:
        return [card.value() for card in hand]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.dealer = [draw_card(self.np_random), draw_card(self.np_random)]
        self.player = [draw_card(self.np_random), draw_card(self.np_random)]
        self.done = False
        self._render_human()
        return self._observation(), self._info()

    def step(self, action):
        if self._check_action(action) == 1:
            self.player.append(draw_card(self.np_random))
            self.done = is_bust(self._values(self.player))
            reward = -1.0 if self.done else 0.0
        else:
            while sum_hand(self._values(self.dealer)) < 17:
                self.dealer.append(draw_card(self.np_random))
            self.done = True
            reward = settle(self._values(self.player), self._values(self.dealer), self.natural, self.sab)
        self._render_human()
        return self._observation(), reward, self.done, False, self._info()

    def symbolic_observation(self) -> tuple[int, int, int]:
        """``(player sum, dealer's up card value, usable ace)``, as in Gymnasium's Blackjack."""
        player = self._values(self.player)
        return sum_hand(player), self.dealer[0].value(), int(usable_ace(player))

    def _observation(self):
        return self._frame() if self.is_pixel else self.symbolic_observation()

    def _info(self) -> dict[str, list[str]]:
        dealer = self.dealer if self.done else self.dealer[:1]
        return {"Dealer Card": [str(card) for card in dealer], "Player Card": [str(card) for card in self.player]}

    # ------------------------------------------------------------- rendering
    def _frame(self) -> np.ndarray:
        height, width = self.image_size
        frame = solid_frame(height, width, TABLE_GREEN).copy()
        margin = round(0.03 * width)
        label_size = max(8, round(0.06 * min(height, width)))
        for label, top in (("Dealer", 0.02), ("Player", 0.5)):
            paste(frame, text_tile(label, label_size, WHITE, TABLE_GREEN, bold=True), margin, round(top * height))
        label_height = text_tile("Dealer", label_size, WHITE, TABLE_GREEN, bold=True).shape[0]
        for hand, top, hide_second in ((self.dealer, 0.02, not self.done), (self.player, 0.5, False)):
            box_top = round(top * height) + label_height + round(0.01 * height)
            box_height = round(0.48 * height) - label_height - round(0.02 * height)
            grid = card_grid(len(hand), margin, box_top, width - 2 * margin, box_height, round(0.24 * width), False)
            for index, (card, (x, y)) in enumerate(zip(hand, grid.positions)):
                if hide_second and index == 1:
                    tile = card_back(grid.card_width, grid.card_height)
                else:
                    tile = card_face(card.rank, card.suit, grid.card_width, grid.card_height)
                paste(frame, tile, x, y)
        return frame

    def describe(self) -> str:
        player = self._values(self.player)
        soft = ", an ace counts 11" if usable_ace(player) else ""
        player_text = f"Player: {', '.join(card.name for card in self.player)} (total {sum_hand(player)}{soft})."
        if not self.done:
            up = self.dealer[0]
            return f"Dealer: {up.name} ({up.value()}) and one face-down card. {player_text}"
        dealer = self._values(self.dealer)
        return f"Dealer: {', '.join(card.name for card in self.dealer)} (total {sum_hand(dealer)}). {player_text}"
