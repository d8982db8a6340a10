"""The reading probe's checks: what counts as a model reading the table right."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("reading_probe", ROOT / "benchmarks" / "reading_probe.py")
reading_probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reading_probe)


def test_blackjack_reading_takes_the_total_and_dealer_card_from_the_experts_wording():
    facts = {"total": 15, "dealer": 1, "soft": True}
    right = '{"thoughts": "Your total is a soft 15 (an ace counts 11) against the dealer\'s ace: ...", "action": "hit"}'
    assert reading_probe.blackjack_reading(right, facts) == {"player total": True, "dealer card": True}
    wrong = '{"thoughts": "Your total is 16 against the dealer\'s 10: ...", "action": "stand"}'
    assert reading_probe.blackjack_reading(wrong, facts) == {"player total": False, "dealer card": False}
    assert reading_probe.blackjack_reading("no idea", facts) == {"player total": False, "dealer card": False}


def test_the_experts_own_words_for_every_hand_read_right():
    # A natural is worded "You have a natural (soft 21)", which the probe scored as a misread total.
    from gym_cards.experts import BlackjackExpert

    for natural, soft, total in ((True, True, 21), (False, True, 15), (False, False, 12)):
        facts = {"natural": natural, "soft": soft, "total": total, "dealer": 7, "values": {"stand": -0.1, "hit": 0.2}}
        sentence = BlackjackExpert.explain(facts, "hit")
        assert reading_probe.blackjack_reading(sentence, facts) == {"player total": True, "dealer card": True}, sentence


def test_field_reading_compares_each_answer_field_with_the_truth_exactly():
    truth = {"cards": ["K", "2"], "current formula": "10 +"}
    answer = '{"cards": ["K", "2"], "current formula": "10", "thoughts": "...", "action": "+"}'
    assert reading_probe.field_reading(answer, truth) == {"cards": True, "current formula": False}
    assert reading_probe.field_reading('{"cards": ["K", "2"', truth) == {"cards": False, "current formula": False}


def test_item_reading_counts_the_list_items_stated_right_in_their_place():
    truth = {"cards": ["5", "Q", "9", "Q"], "current formula": ""}
    answer = '{"cards": ["5", "9", "Q", "Q"], "current formula": "", "action": "5"}'
    assert reading_probe.item_reading(answer, truth) == {"cards": (2, 4)}  # 5 and the last Q in place
    assert reading_probe.item_reading('{"cards": ["5"]}', truth) == {"cards": (1, 4)}  # a short list
    assert reading_probe.item_reading('{"cards": "5 Q 9 Q"}', truth) == {"cards": (0, 4)}  # not a list
    assert reading_probe.item_reading("no json", truth) == {"cards": (0, 4)}


def test_item_token_starts_finds_the_token_holding_each_items_first_character():
    answer = '{"cards": ["Q", "10", "7"], "action": "7"}'
    by_character = [(i, i + 1) for i in range(len(answer))]  # one token per character
    assert reading_probe.item_token_starts(answer, by_character, "cards") == [12, 17, 23]
    assert [answer[i] for i in (12, 17, 23)] == ["Q", "1", "7"]
    # tokens of two characters: 'Q"' is token 6 (characters 12-13), '"1' token 8 (16-17), '"7' token 11 (22-23)
    pairs = [(i, min(i + 2, len(answer))) for i in range(0, len(answer), 2)]
    assert reading_probe.item_token_starts(answer, pairs, "cards") == [6, 8, 11]
    assert reading_probe.item_token_starts(answer, by_character, "action") == []  # not a list


def test_blackjack_hands_are_cut_where_the_experts_table_changes_its_move():
    from gym_cards.experts.blackjack import strategy

    hand = reading_probe.blackjack_hand
    assert [hand({"total": t, "dealer": d}) for t, d in ((4, 10), (11, 1), (12, 2), (16, 6), (12, 7), (16, 1), (17, 1), (21, 5))] == [
        "total 11 or less", "total 11 or less", "12-16 against 2-6", "12-16 against 2-6",
        "12-16 against 7-ace", "12-16 against 7-ace", "17 or more", "17 or more",
    ]  # fmt: skip
    rules = strategy()
    dealers = range(1, 11)
    assert all(rules.action(total, False, dealer) == 1 for total in range(4, 12) for dealer in dealers)  # hit
    assert all(rules.action(total, False, dealer) == 0 for total in range(17, 22) for dealer in dealers)  # stand
    assert all(rules.action(total, False, dealer) == 1 for total in range(12, 17) for dealer in (1, 7, 8, 9, 10))
    assert all(rules.action(total, False, dealer) == 0 for total in range(13, 17) for dealer in range(2, 7))


def test_numberline_comparison_cuts_the_experts_answer_before_its_relation_word():
    from vlm_ppo.tasks import make_task

    task = make_task("gym_cards/NumberLine-v0")
    env = task.make_env(text_only=True)
    env.reset(seed=0)
    for current, target, right in ((2, 4, " below"), (5, 0, " above"), (1, 2, " below")):
        answer, said, wrong = reading_probe.comparison_answers(task, env, current, target)
        full = task.answer(env, task.expert(env))
        assert (said, wrong) == (right, " above" if right == " below" else " below")
        assert full.startswith(answer + said) and answer.endswith(f"current {current} is")
        assert f"Current: {current}." in task.prompt(env, True, text_only=True)


def test_relation_and_action_reads_the_stated_relation_and_the_action_separately():
    unfaithful = '{"current number": 0, "target number": 1, "thoughts": "current 0 is above target 1, so +", "action": "+"}'
    assert reading_probe.relation_and_action(unfaithful) == ("above", "+")  # the relation calls for -, the action is +
    faithful = '{"thoughts": "current 5 is above target 4, so -", "action": "-"}'
    assert reading_probe.relation_and_action(faithful) == ("above", "-")
    assert reading_probe.relation_and_action('{"thoughts": "current 3 is below target 5, so +"') == ("below", None)
    assert reading_probe.relation_and_action('{"thoughts": "go up", "action": "+"}') == (None, "+")


def test_numberline_pairs_sets_every_ordered_pair_of_different_numbers_on_the_env():
    from vlm_ppo.tasks import make_task

    env = make_task("gym_cards/NumberLine-v0").make_env(text_only=True)
    env.reset(seed=0)
    seen = []
    for current, target in reading_probe.numberline_pairs(env):
        assert (env.unwrapped.position, env.unwrapped.target) == (current, target)
        seen.append((current, target))
    top = env.unwrapped.max_position
    assert len(seen) == len(set(seen)) == (top + 1) * top and all(c != t for c, t in seen)
