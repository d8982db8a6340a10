"""benchmarks/blackjack_credit.py: the value of a first hit while later moves hit at random,
checked against hand computations over the 13 equally likely ranks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from gym_cards.experts.blackjack import strategy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
spec = importlib.util.spec_from_file_location("blackjack_credit", ROOT / "benchmarks" / "blackjack_credit.py")
blackjack_credit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(blackjack_credit)

CHANCE = {card: (4 if card == 10 else 1) / 13 for card in range(1, 11)}


def stand(total: int, dealer: int, soft: bool = False) -> float:
    return strategy().action_values(total, soft, dealer)[0]


def test_hitting_hard_20_then_standing_survives_only_an_ace():
    _, hit = blackjack_credit.first_move_values(20, False, 10, False, 0.0)
    assert hit == pytest.approx(CHANCE[1] * stand(21, 10) - (1 - CHANCE[1]))


def test_hitting_hard_11_then_standing_cannot_bust():
    _, hit = blackjack_credit.first_move_values(11, False, 7, False, 0.0)
    assert hit == pytest.approx(sum(CHANCE[card] * stand(11 + card, 7) for card in range(1, 11)))


def test_always_hitting_later_always_busts():
    for total, soft in ((21, False), (12, False), (5, False), (17, True)):
        assert blackjack_credit.first_move_values(total, soft, 6, False, 1.0)[1] == pytest.approx(-1.0)


def test_a_later_hit_chance_mixes_standing_and_hitting_after_the_first_card():
    # From hard 19 every card but an ace or a 2 busts; after one, the later move stands with 1 - p
    # and hits with p, and a hit from 20 or 21 survives only an ace (from 20) or nothing (from 21).
    p, dealer = 0.5, 9
    after_ace = (1 - p) * stand(20, dealer) + p * (CHANCE[1] * ((1 - p) * stand(21, dealer) + p * -1) - (1 - CHANCE[1]))
    after_two = (1 - p) * stand(21, dealer) + p * -1
    expected = CHANCE[1] * after_ace + CHANCE[2] * after_two - (1 - CHANCE[1] - CHANCE[2])
    assert blackjack_credit.first_move_values(19, False, dealer, False, p)[1] == pytest.approx(expected)


def test_standing_is_the_exact_solvers_value():
    assert blackjack_credit.first_move_values(15, False, 10, False, 0.5)[0] == stand(15, 10)
    assert blackjack_credit.first_move_values(21, True, 1, True, 0.5)[0] == strategy().action_values(21, True, 1, True)[0]


def test_the_table_covers_every_deal_once_and_averages_by_kind():
    table = blackjack_credit.credit_table(60, 10**9, [0.0])
    assert sum(row["deals"] for row in table.values()) == 60
    # With an optimal follow-up a hit is worth at least what a hit then standing is worth.
    for row in table.values():
        assert row["hit, then optimal"] >= row["hit, then hit 0%"] - 1e-12
    # Standing on 17 or more beats hitting there whatever follows.
    assert table["17 or more"]["stand"] > table["17 or more"]["hit, then optimal"]
