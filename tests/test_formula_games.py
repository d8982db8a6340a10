"""EZPoints and Points24 rules: valid and invalid picks, scoring, the length limit, deals."""

import itertools
from collections import Counter

import gymnasium as gym
import numpy as np
import pytest
from conftest import cards, press, with_deal

import gym_cards  # noqa: F401  (registers the envs)
from gym_cards.envs.ez_points import EZPointsEnv
from gym_cards.envs.formula_game import PLACEHOLDER
from gym_cards.envs.points24 import Points24Env
from gym_cards.solver import has_solution


def play(env, words):
    return [press(env, word) for word in words]


# ------------------------------------------------------------------ EZPoints
def test_ez_points_action_words_match_the_paper():
    assert EZPointsEnv().action_words == ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "+", "*", "=")


@pytest.mark.parametrize("words", [["3", "*", "4"], ["4", "*", "3"]])
def test_ez_points_correct_formula_scores_ten(words):
    env = with_deal(EZPointsEnv(), cards("3H", "4S"))
    _, info = env.reset(seed=0)
    assert info == {"Cards": ["3H", "4S"], "Numbers": [3, 4], "Formula": []}
    rewards = [step[1] for step in play(env, words)]
    assert rewards == [0.0, 0.0, 0.0]
    _, reward, terminated, truncated, info = press(env, "=")
    assert (reward, terminated, truncated) == (10.0, True, False)
    assert info["Formula"] == words


def test_ez_points_face_cards_count_ten():
    env = with_deal(EZPointsEnv(), cards("KD", "2C"))
    _, info = env.reset(seed=0)
    assert info["Numbers"] == [10, 2]
    play(env, ["10", "+", "2"])
    assert press(env, "=")[1] == 10.0


def test_ez_points_wrong_value_or_unused_card_scores_minus_one():
    env = with_deal(EZPointsEnv(), cards("6H", "6S"))
    env.reset(seed=0)
    play(env, ["6", "*", "6"])
    assert press(env, "=")[1:3] == (-1.0, True)  # 36, not 12
    env.reset(seed=0)
    play(env, ["6"])
    assert press(env, "=")[1:3] == (-1.0, True)  # second card unused


def test_ez_points_number_not_on_table_or_used_up_is_penalised_and_visible():
    env = with_deal(EZPointsEnv(), cards("6H", "2S"))
    env.reset(seed=0)
    _, reward, terminated, _, info = press(env, "5")
    assert (reward, terminated, info["Formula"]) == (-1.0, False, [PLACEHOLDER])
    env.reset(seed=0)
    play(env, ["6", "*"])
    _, reward, _, _, info = press(env, "6")  # only one 6 on the table
    assert (reward, info["Formula"]) == (-1.0, ["6", "*", PLACEHOLDER])
    _, reward, _, _, info = press(env, "2")
    assert press(env, "=")[1] == -1.0  # the placeholder spoils the formula


def test_ez_points_formula_longer_than_five_terminates():
    env = with_deal(EZPointsEnv(), cards("6H", "2S"))
    env.reset(seed=0)
    steps = play(env, ["+", "+", "*", "+", "*"])
    assert all(step[1:4] == (0.0, False, False) for step in steps)
    _, reward, terminated, truncated, info = press(env, "+")
    assert (reward, terminated, truncated, len(info["Formula"])) == (-1.0, True, False, 6)  # a rule, not a time limit


def test_ez_points_deal_distribution_matches_the_paper():
    """First card 2..K; second makes 12 by * (half the time, when possible) or by +."""
    env = EZPointsEnv()
    env.reset(seed=7)
    n = 24_000
    pairs = Counter(tuple(sorted(card.value() for card in env._deal())) for _ in range(n))
    # P(first value v): 1/12 for v = 2..9, 4/12 for v = 10; then each branch as described.
    expected = {(2, 6): 2, (2, 10): 9, (3, 4): 2, (3, 9): 3, (4, 8): 3, (5, 7): 4, (6, 6): 1}
    assert set(pairs) == set(expected)
    for pair, twenty_fourths in expected.items():
        p = twenty_fourths / 24
        assert abs(pairs[pair] / n - p) < 5 * np.sqrt(p * (1 - p) / n), pair


def test_ez_points_every_deal_is_solvable_and_order_is_random():
    env = EZPointsEnv()
    env.reset(seed=3)
    first_values = Counter()
    for _ in range(2000):
        deal = env._deal()
        a, b = (card.value() for card in deal)
        assert a + b == 12 or a * b == 12
        first_values[deal[0].rank] += 1
    assert first_values[1] == 0 and 20 < first_values[13] < 200  # a K often leads, never an A


# ------------------------------------------------------------------ Points24
def test_points24_action_words():
    assert Points24Env().action_words == tuple("1 2 3 4 5 6 7 8 9 10 + - * / ( ) =".split())
    assert Points24Env(treat_face_cards_as_10=False).action_words == tuple(
        "1 2 3 4 5 6 7 8 9 10 11 12 13 + - * / ( ) =".split()
    )


def test_points24_rational_solution_scores():
    env = with_deal(Points24Env(), cards("8H", "3S", "8D", "3C"))
    env.reset(seed=0)
    steps = play(env, "8 / ( 3 - 8 / 3 )".split())
    assert [s[1] for s in steps] == [0.0] * 9
    assert press(env, "=")[1:3] == (10.0, True)


def test_points24_face_values_depend_on_option():
    deal = cards("KH", "QS", "JD", "AC")
    env = with_deal(Points24Env(), deal)
    assert env.reset(seed=0)[1]["Numbers"] == [10, 10, 10, 1]
    env = with_deal(Points24Env(treat_face_cards_as_10=False), deal)
    assert env.reset(seed=0)[1]["Numbers"] == [13, 12, 11, 1]
    play(env, "13 + 12 - 11 * 1".split())
    assert press(env, "=")[1] == -1.0  # 14
    env.reset(seed=0)
    play(env, "13 + 12 - 1 * 1".split())  # the second 1 is not on the table
    assert env.unwrapped.formula[-1] == PLACEHOLDER


@pytest.mark.parametrize(
    "formula",
    [
        "4 * 6 * 1 1",  # digit concatenation is not allowed (uses the 1 twice, too)
        "( 4 * 6 ) * ( 1 - 1 )",
        "4 * * 6 / 1",
        "4 / ( 1 - 1 ) + 6",
    ],
)
def test_points24_invalid_formulas_score_minus_one(formula):
    env = with_deal(Points24Env(), cards("4H", "6S", "1D", "1C"))
    env.reset(seed=0)
    play(env, formula.split())
    assert press(env, "=")[1:3] == (-1.0, True)


def test_points24_uses_target_points():
    env = with_deal(Points24Env(target_points=10), cards("4H", "6S", "1D", "1C"))
    env.reset(seed=0)
    play(env, "4 + 6 * 1 * 1".split())
    assert press(env, "=")[1] == 10.0


def test_points24_formula_longer_than_twenty_terminates():
    env = with_deal(Points24Env(), cards("4H", "6S", "1D", "1C"))
    env.reset(seed=0)
    steps = play(env, ["("] * 20)
    assert not any(s[3] for s in steps)
    _, reward, terminated, truncated, _ = press(env, "(")
    assert (reward, terminated, truncated) == (-1.0, True, False)


def test_points24_deals_are_uniform_over_ranks_and_suits():
    env = Points24Env()
    env.reset(seed=11)
    drawn = list(itertools.chain.from_iterable(env._deal() for _ in range(6500)))
    ranks, suits = Counter(c.rank for c in drawn), Counter(c.suit for c in drawn)
    n = len(drawn)
    assert all(abs(ranks[r] - n / 13) < 5 * np.sqrt(n / 13) for r in range(1, 14))
    assert all(abs(suits[s] - n / 4) < 5 * np.sqrt(n / 4) for s in "CDHS")


def test_points24_solvable_only_deals_only_solvable_hands():
    env = Points24Env(solvable_only=True)
    env.reset(seed=5)
    for _ in range(300):
        assert has_solution([card.value() for card in env._deal()], 24)
    plain = Points24Env()
    plain.reset(seed=5)
    assert not all(has_solution([c.value() for c in plain._deal()], 24) for _ in range(300))


@pytest.mark.parametrize(
    "kwargs",
    [{"treat_face_cards_as_10": "yes"}, {"target_points": 0}, {"target_points": 2.5}, {"solvable_only": 1}],
)
def test_points24_rejects_bad_options(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Points24Env(**kwargs)


def test_long_formula_frames_stay_inside_and_differ():
    env = with_deal(Points24Env(), cards("10H", "10S", "10D", "10C"))
    frames = [env.reset(seed=0)[0]]
    for word in "( ( 10 + 10 ) * ( 10 - 10 ) / ( 7 + 7 + 7 ) ) + 10".split():
        frames.append(press(env, word)[0])
    assert all(f.shape == (300, 300, 3) for f in frames)
    assert all(not np.array_equal(a, b) for a, b in zip(frames, frames[1:]))


@pytest.mark.parametrize("image_size", [56, 64, 80, 99, 112, 300, (56, 80), (80, 56)])
def test_a_formula_of_the_longest_kind_is_drawn_inside_the_frame(image_size):
    """19 tokens (the longest formula that can still be completed) at every size from the 56 px
    minimum: the text shrinks until every token lies inside the frame. At 56 px, 8-pixel glyphs
    put 11 of 20 tokens below it, state the image no longer showed."""
    env = gym.make("gym_cards/Points24-v0", image_size=image_size)
    env.reset(seed=0)
    words = list(env.unwrapped.action_words)
    for token in ["("] * 10 + ["1", "+"] + ["("] * 7:
        env.step(words.index(token))
    height, width = env.unwrapped.image_size
    layout = env.unwrapped._formula_layout()
    assert len(layout) == 19
    for tile, x, y in layout:
        assert 0 <= x and x + tile.shape[1] <= width and 0 <= y and y + tile.shape[0] <= height


def test_a_rare_target_is_dealt_from_the_solvable_draws_with_the_redraws_distribution(monkeypatch):
    """Target 10,000 with face cards as 10 is reached only by four 10-valued cards (0.9% of
    draws). Forced past the redraws, the deal comes from the solvable rank draws directly: every
    deal reaches the target, and, as redrawing would give, each position's rank is uniform over
    10, J, Q and K (the multisets weighted by their orderings)."""
    import gym_cards.envs.points24 as points24

    monkeypatch.setattr(points24, "MAX_REDRAWS", 0)
    env = gym.make("gym_cards/Points24-v0", target_points=10_000, solvable_only=True)
    ranks = np.array([[card.rank for card in (env.reset(seed=seed), env.unwrapped.cards)[1]] for seed in range(800)])
    assert set(ranks.flatten()) == {10, 11, 12, 13}
    for position in range(4):  # 200 expected per rank; a 4-sigma band
        counts = np.bincount(ranks[:, position], minlength=14)[10:]
        assert np.all(np.abs(counts - 200) < 4 * np.sqrt(800 * 0.25 * 0.75)), counts
    assert [tuple(r) for r in ranks[:3]] == [
        tuple(card.rank for card in (env.reset(seed=seed), env.unwrapped.cards)[1]) for seed in range(3)
    ]  # seeded


def test_an_unreachable_target_is_refused_with_one_line():
    env = gym.make("gym_cards/Points24-v0", target_points=10_001, solvable_only=True)
    with pytest.raises(ValueError, match="no four cards reach target_points=10001 with face cards as 10"):
        env.reset(seed=0)
