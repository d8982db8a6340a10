"""Playing cards as small immutable values, drawn from an infinite deck through a seeded generator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUITS = ("C", "D", "H", "S")
SUIT_NAMES = {"C": "clubs", "D": "diamonds", "H": "hearts", "S": "spades"}
RANK_LABELS = {1: "A", 11: "J", 12: "Q", 13: "K", **{r: str(r) for r in range(2, 11)}}
RANK_NAMES = {1: "ace", 11: "jack", 12: "queen", 13: "king", **{r: str(r) for r in range(2, 11)}}


@dataclass(frozen=True, order=True)
class Card:
    """One card: ``rank`` 1..13 (A, 2..10, J, Q, K) and ``suit`` one of ``SUITS``."""

    rank: int
    suit: str

    def __post_init__(self) -> None:
        if self.rank not in RANK_LABELS:
            raise ValueError(f"card rank must be 1..13 (A..K), got {self.rank!r}")
        if self.suit not in SUITS:
            raise ValueError(f"card suit must be one of {SUITS}, got {self.suit!r}")

    @property
    def label(self) -> str:
        """Rank as printed in the card's corner: ``A``, ``2``..``10``, ``J``, ``Q``, ``K``."""
        return RANK_LABELS[self.rank]

    @property
    def name(self) -> str:
        """Words a person would say, for text observations: ``"queen of hearts"``."""
        return f"{RANK_NAMES[self.rank]} of {SUIT_NAMES[self.suit]}"

    def value(self, face_cards_as_10: bool = True) -> int:
        """The number this card counts as: A = 1, J/Q/K = 10 (or 11/12/13 when not ``face_cards_as_10``)."""
        return min(self.rank, 10) if face_cards_as_10 else self.rank

    def __str__(self) -> str:
        return f"{self.label}{self.suit}"


def draw_card(np_random: np.random.Generator) -> Card:
    """A uniformly random card from an infinite deck (every rank and suit equally likely)."""
    return Card(rank=int(np_random.integers(1, 14)), suit=SUITS[int(np_random.integers(4))])


def card_with_value(value: int, np_random: np.random.Generator) -> Card:
    """A random card that counts as ``value`` (1..10); a 10 is any of 10, J, Q, K."""
    if not 1 <= value <= 10:
        raise ValueError(f"a card value must be 1..10, got {value}")
    rank = value if value < 10 else int(np_random.integers(10, 14))
    return Card(rank=rank, suit=SUITS[int(np_random.integers(4))])
