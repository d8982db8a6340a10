"""NumberLine and formula experts: they always win when winning is possible, and say why."""

import gymnasium as gym
import pytest
from conftest import cards, press, with_deal

from gym_cards.envs.formula_game import PLACEHOLDER
from gym_cards.experts import FormulaExpert, NumberLineExpert, expert_for
from gym_cards.solver import has_solution


def play_expert(env, seed):
    env.reset(seed=seed)
    expert = expert_for(env)
    total, done, steps, reasons = 0.0, False, 0, []
    while not done:
        advice = expert.advise(env)
        assert env.unwrapped.action_words[advice.action] == advice.word
        reasons.append(advice.reason)
        _, reward, terminated, truncated, _ = env.step(advice.action)
        total, done, steps = total + reward, terminated or truncated, steps + 1
    return total, steps, reasons


@pytest.mark.parametrize("max_position", [1, 5, 9])
def test_number_line_expert_always_wins_in_the_fewest_steps(max_position):
    env = gym.make("gym_cards/NumberLine-v0", max_position=max_position)
    for seed in range(200):
        _, info = env.reset(seed=seed)
        distance = abs(info["Target"] - info["Current"])
        total, steps, _ = play_expert(env, seed)
        assert (total, steps) == (1.0, distance)


def test_number_line_reason_names_both_numbers_and_the_move():
    env = gym.make("gym_cards/NumberLine-v0")
    env.reset(seed=0)
    env.unwrapped.position, env.unwrapped.target = 2, 4
    assert NumberLineExpert().advise(env).reason == "current 2 is below target 4, so +"
    env.unwrapped.position = 5
    advice = NumberLineExpert().advise(env)
    assert (advice.word, advice.reason) == ("-", "current 5 is above target 4, so -")


def test_ez_points_expert_wins_every_deal():
    env = gym.make("gym_cards/EZPoints-v0")
    for seed in range(300):
        total, steps, reasons = play_expert(env, seed)
        assert (total, steps) == (10.0, 4)
        assert reasons[-1].endswith("equals 12 and uses every card once, so =")


@pytest.mark.parametrize("face_cards_as_10", [True, False])
def test_points24_expert_wins_exactly_the_solvable_deals(face_cards_as_10):
    env = gym.make("gym_cards/Points24-v0", treat_face_cards_as_10=face_cards_as_10)
    solvable = 0
    for seed in range(150):
        env.reset(seed=seed)
        can_win = has_solution(env.unwrapped.numbers, 24)
        total, _, _ = play_expert(env, seed)
        assert total == (10.0 if can_win else -1.0)
        solvable += can_win
    assert 0 < solvable < 150


def test_points24_solvable_only_expert_wins_every_episode():
    env = gym.make("gym_cards/Points24-v0", solvable_only=True)
    assert all(play_expert(env, seed)[0] == 10.0 for seed in range(100))


@pytest.mark.parametrize("deal", [("3H", "3S", "8D", "8C"), ("AH", "2S", "3D", "4C"), ("KH", "KS", "4D", "AC")])
def test_every_solution_scores_when_replayed_in_the_env(deal):
    env = with_deal(gym.make("gym_cards/Points24-v0"), cards(*deal))
    env.reset(seed=0)
    found = FormulaExpert().solutions(env)
    assert found and len(found) == len({tuple(tokens) for tokens in found})
    for tokens in found:
        env.reset(seed=0)
        for token in tokens:
            assert press(env, token)[1] == 0.0
        assert press(env, "=")[1:3] == (10.0, True), tokens


def test_expert_continues_from_any_valid_start():
    env = with_deal(gym.make("gym_cards/EZPoints-v0"), cards("3H", "4S"))
    for first in ("3", "4"):
        env.reset(seed=0)
        press(env, first)
        expert = FormulaExpert()
        while not env.unwrapped.is_solved():
            press(env, expert.advise(env).word)
        assert press(env, "=")[1] == 10.0


@pytest.mark.parametrize("deal, start", [(("6H", "6S", "6D", "6C"), "("), (("10H", "2S", "4D", "AC"), "( 10 * 2 )")])
def test_expert_plays_on_through_redundant_brackets_and_wins(deal, start):
    # It said "the formula ( can no longer reach 24" and pressed = (-1): the solver's formulas hold
    # only the brackets precedence requires, and no such formula starts with these.
    env = with_deal(gym.make("gym_cards/Points24-v0"), cards(*deal))
    env.reset(seed=0)
    for word in start.split():
        press(env, word)
    expert = FormulaExpert()
    while not env.unwrapped.is_solved():
        advice = expert.advise(env)
        assert advice.word != "=", advice.reason
        press(env, advice.word)
    assert press(env, "=")[1] == 10.0


def test_expert_gives_up_with_a_reason_when_no_solution_remains():
    env = with_deal(gym.make("gym_cards/Points24-v0"), cards("AH", "AS", "AD", "AC"))
    env.reset(seed=0)
    advice = FormulaExpert().advise(env)
    assert advice.word == "=" and advice.reason == "no formula with 1, 1, 1, 1 reaches 24, so = to end the episode"
    assert FormulaExpert().plan(env) is None
    env = with_deal(gym.make("gym_cards/EZPoints-v0"), cards("3H", "4S"))
    env.reset(seed=0)
    press(env, "5")
    assert env.unwrapped.formula == [PLACEHOLDER]
    advice = FormulaExpert().advise(env)
    assert advice.word == "=" and "can no longer reach 12" in advice.reason


def test_next_token_reason_shows_the_whole_plan():
    env = with_deal(gym.make("gym_cards/EZPoints-v0"), cards("6H", "2S"))
    env.reset(seed=0)
    advice = FormulaExpert().advise(env)
    plan = FormulaExpert().plan(env)
    assert advice.word == plan[0]
    assert advice.reason == f"{' '.join(plan)} = 12 uses every card once, so the next token is {plan[0]}"


def test_canonical_expert_plays_one_formula_per_set_of_cards_and_still_wins():
    """Every ordering of the same four cards gets the same plan (the solver's on the sorted
    numbers); the default expert follows the order the cards lie in."""
    plans, default_plans = set(), set()
    for order in ("6H KD QC JS", "KD 6H QC JS", "QC JS KD 6H", "JS QC 6H KD", "KD QC JS 6H"):
        env = with_deal(gym.make("gym_cards/Points24-v0"), cards(*order.split()))
        env.reset(seed=0)
        plan = FormulaExpert(canonical=True).plan(env)
        plans.add(tuple(plan))
        default_plans.add(tuple(FormulaExpert().plan(env)))
        expert = FormulaExpert(canonical=True)
        while not env.unwrapped.is_solved():
            press(env, expert.advise(env).word)
        assert env.unwrapped.formula == plan
        assert press(env, "=")[1] == 10.0
    assert len(plans) == 1 and len(default_plans) > 1
    (plan,) = plans
    assert sorted(int(t) for t in plan if t.isdigit()) == [6, 10, 10, 10]


def test_expert_for_rejects_foreign_envs():
    with pytest.raises(ValueError, match="no expert for CartPoleEnv"):
        expert_for(gym.make("CartPole-v1"))


@pytest.mark.parametrize(
    "env_id", ["gym_cards/NumberLine-v0", "gym_cards/EZPoints-v0", "gym_cards/Points24-v0", "gym_cards/Blackjack-v0"]
)
def test_advice_carries_the_facts_its_reason_is_rendered_from(env_id):
    env = gym.make(env_id)
    expert = expert_for(env)
    for seed in range(40):
        env.reset(seed=seed)
        done = False
        while not done:
            advice = expert.advise(env)
            assert advice.reason == type(expert).explain(advice.facts, advice.word)
            _, _, terminated, truncated, _ = env.step(advice.action)
            done = terminated or truncated


def test_facts_hold_what_was_read_and_decided():
    env = gym.make("gym_cards/NumberLine-v0")
    env.reset(seed=0)
    env.unwrapped.position, env.unwrapped.target = 2, 4
    assert NumberLineExpert().advise(env).facts == {"current": 2, "target": 4, "relation": "below"}
    env = with_deal(gym.make("gym_cards/EZPoints-v0"), cards("6H", "2S"))
    env.reset(seed=0)
    facts = FormulaExpert().advise(env).facts
    assert facts["cards"] == ["6", "2"] and facts["numbers"] == [6, 2] and facts["formula"] == [] and facts["target"] == 12
    assert facts["case"] == "next" and facts["plan"] == FormulaExpert().plan(env)
    # another sentence is another set of facts, rendered the same way
    assert (
        FormulaExpert.explain({**facts, "case": "reachable"}, "+")
        == "the formula + can still reach 12, so the next token is +"
    )
