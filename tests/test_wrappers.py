"""Text, action and image+text wrappers: spaces, descriptions, parse reporting, env checker."""

import gymnasium as gym
import numpy as np
import pytest
from conftest import cards, with_deal
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

import gym_cards
from gym_cards import ImageTextObservation, TextAction, TextObservation, make_image_text_env, make_text_env


def test_text_observation_says_what_the_image_shows():
    env = make_text_env("gym_cards/NumberLine-v0")
    env.unwrapped.reset(seed=0)
    obs, info = env.reset(seed=0)
    assert obs == f"Number line from 0 to 5. Target: {info['Target']}. Current: {info['Current']}."
    assert env.observation_space.contains(obs)


def test_formula_game_description_names_cards_values_and_formula():
    env = TextObservation(with_deal(gym.make("gym_cards/Points24-v0"), cards("QH", "10S", "AD", "3C")))
    obs, _ = env.reset(seed=0)
    assert obs == (
        "Cards: queen of hearts (counts as 10), 10 of spades (counts as 10), ace of diamonds (counts as 1), "
        "3 of clubs (counts as 3). Target: 24. Formula: (empty)"
    )
    obs, *_ = env.step(env.unwrapped.action_words.index("("))
    assert obs.endswith("Formula: (")


def test_blackjack_description_hides_the_hole_card_until_the_end():
    env = TextObservation(gym.make("gym_cards/Blackjack-v0"))
    obs, _ = env.reset(seed=0)
    game = env.unwrapped
    hole = game.dealer[1].name
    assert f"Dealer: {game.dealer[0].name} ({game.dealer[0].value()}) and one face-down card." in obs
    assert hole not in obs.split("Player:")[0]
    assert f"(total {game.symbolic_observation()[0]}" in obs
    obs, *_ = env.step(0)
    assert obs.startswith(f"Dealer: {game.dealer[0].name}, {hole}")


def test_longest_descriptions_fit_the_text_space():
    env = TextObservation(gym.make("gym_cards/Blackjack-v0", is_pixel=False))
    env.reset(seed=0)
    game = env.unwrapped
    game.player = cards(*["QH"] * 0, *["AH"] * 22)  # the longest hand an infinite deck allows
    game.dealer = cards("QH", "AH", *["AH"] * 15)
    game.done = True
    assert env.observation_space.contains(env.observation(None))


def test_text_action_reports_parsing_in_info():
    env = make_text_env("gym_cards/Blackjack-v0")
    env.reset(seed=0)
    _, _, _, _, info = env.step('{"thoughts": "low total", "action": "hit"}')
    assert (info["action_parsed"], info["action_text"], info["action_error"], info["env_action"]) == (True, "hit", None, 1)


def test_unreadable_answer_random_is_seeded_and_reported():
    def random_actions(seed):
        env = make_text_env("gym_cards/Points24-v0")
        env.reset(seed=seed)
        infos = [env.step("no idea")[4] for _ in range(15)]
        assert all(not i["action_parsed"] and i["action_error"] == 'no "action" field in the answer' for i in infos)
        return [i["env_action"] for i in infos]

    first = random_actions(3)
    assert first == random_actions(3)
    assert len(set(first)) > 3  # spread over the action space


def test_random_actions_are_independent_of_the_deal():
    """With max_position=1 the right move is decided by the env's first draw; a random action
    drawn from the same stream would always be right."""
    env = make_text_env("gym_cards/NumberLine-v0", max_position=1)
    right = 0
    for seed in range(400):
        _, info = env.reset(seed=seed)
        _, _, _, _, step = env.step("no idea")
        right += step["env_action"] == (1 if info["Target"] > info["Current"] else 0)
    assert abs(right / 400 - 0.5) < 5 * 0.025  # 0.5 +- 5 standard errors


def test_unreadable_answer_raise_leaves_env_untouched():
    env = make_text_env("gym_cards/EZPoints-v0", on_invalid="raise")
    env.reset(seed=0)
    before = list(env.unwrapped.formula)
    with pytest.raises(ValueError, match=r"could not read an action from the answer: action '11' is not one of"):
        env.step('{"action": "11"}')
    assert env.unwrapped.formula == before


def test_bad_wrapper_options():
    with pytest.raises(ValueError, match=r"on_invalid must be one of \('random', 'raise'\)"):
        make_text_env("gym_cards/NumberLine-v0", on_invalid="ignore")
    with pytest.raises(ValueError, match="describe"):
        TextObservation(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="image observations"):
        ImageTextObservation(gym.make("gym_cards/Blackjack-v0", is_pixel=False))


def test_image_text_observation_is_a_dict_of_both():
    env = make_image_text_env("gym_cards/EZPoints-v0")
    obs, _ = env.reset(seed=1)
    assert isinstance(env.observation_space, spaces.Dict)
    assert env.observation_space.contains(obs)
    plain = gym.make("gym_cards/EZPoints-v0")
    plain_obs, _ = plain.reset(seed=1)
    assert np.array_equal(obs["image"], plain_obs)
    assert obs["text"] == plain.unwrapped.describe()


@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")  # checking wrappers is the point
@pytest.mark.parametrize("env_id", gym_cards.ENV_IDS)
@pytest.mark.parametrize("make", [make_text_env, make_image_text_env])
def test_wrapped_envs_pass_the_gymnasium_checker(env_id, make):
    check_env(make(env_id), skip_render_check=True)


@pytest.mark.parametrize("env_id", gym_cards.ENV_IDS)
def test_text_envs_recreate_from_their_spec(env_id):
    env = make_text_env(env_id, on_invalid="raise")
    again = gym.make(env.spec)
    assert isinstance(again, TextAction) and again.on_invalid == "raise"
    assert again.reset(seed=4)[0] == env.reset(seed=4)[0]


@pytest.mark.parametrize("env_id", gym_cards.ENV_IDS)
def test_text_envs_in_a_vector_env(env_id):
    envs = gym.vector.SyncVectorEnv([lambda: make_text_env(env_id)] * 2)
    obs, _ = envs.reset(seed=0)
    assert all(isinstance(o, str) for o in obs)
    obs, _, _, _, infos = envs.step(('{"action": "="}', "junk"))
    assert list(infos["action_parsed"]) == [env_id.endswith(("Points-v0", "Points24-v0")), False]


def test_text_observations_cross_an_async_vector_env_without_shared_memory():
    from gymnasium.vector import AsyncVectorEnv

    make = [lambda: gym_cards.make_text_env("gym_cards/NumberLine-v0")] * 2
    envs = AsyncVectorEnv(make, shared_memory=False)
    try:
        observations, _ = envs.reset(seed=0)
    finally:
        envs.close()
    single = gym_cards.make_text_env("gym_cards/NumberLine-v0")
    assert list(observations) == [single.reset(seed=0)[0], single.reset(seed=1)[0]]


def test_text_action_refuses_an_answer_that_is_not_text():
    """An int handed to the text wrapper is a caller's mistake (an env action where the model's
    answer belongs), not an unreadable answer to be played as a random move."""
    env = gym_cards.make_text_env("gym_cards/Blackjack-v0")
    env.reset(seed=0)
    with pytest.raises(TypeError, match="takes the model's answer as text, got int 1"):
        env.step(1)
