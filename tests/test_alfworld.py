"""ALFWorld adapter: the shipped games through ALFWorld's real text engine, rewards, projection, metrics.

Tests that play games need the optional ``alfworld`` package and are skipped without it; the
pure ones (action projection, reward formula, goal conditions over hand-written facts, metrics,
the visual backend's error) run everywhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from vlm_ppo.alfworld import (
    ENV_ID,
    SHORT_NAMES,
    TASK_TYPES,
    GamesNotFoundError,
    GoalConditions,
    find_games,
    project_action,
    resolve_games,
    shipped_games_dir,
    step_reward,
)
from vlm_ppo.alfworld.env import ThorUnavailableError, check_thor_available, clean_observation
from vlm_ppo.alfworld.prompts import alfworld_answer, alfworld_prompt
from vlm_ppo.alfworld.render import render_text_frame
from vlm_ppo.alfworld.task import ALFWORLD_TASK, PRESET
from vlm_ppo.rollout import EpisodeLog, SeededEnvs

REPO = Path(__file__).resolve().parent.parent
GAMES = {game.task_type: game for game in find_games(shipped_games_dir())}


@pytest.fixture(scope="module")
def alfworld():
    return pytest.importorskip("alfworld")


def make(**kwargs):
    from vlm_ppo.alfworld import make_alfworld_env

    return make_alfworld_env(games="shipped", **kwargs)


def answer(command: str) -> str:
    return alfworld_answer(command, thoughts="thinking")


def play(env, commands):
    """Step with each command (as a JSON answer); returns the rewards and the last step."""
    rewards, last = [], None
    for command in commands:
        last = env.step(answer(command))
        rewards.append(last[1])
    return rewards, last


def start(env, task_type: str, seed: int = 0):
    return env.reset(seed=seed, options={"game": GAMES[task_type].path})


# ------------------------------------------------------------------ shipped games
def test_shipped_games_cover_every_task_type_and_are_marked_solvable():
    assert sorted(GAMES) == sorted(TASK_TYPES)
    for game in GAMES.values():
        data = json.loads(game.path.read_text())
        assert data["solvable"] is True and data["walkthrough"], game.path
        assert (game.folder / "initial_state.pddl").read_text() == data["pddl_problem"]
        assert game.folder.parent.name.startswith(game.task_type)


def test_walkthroughs_stored_by_alfworlds_generator_win_in_the_real_engine(alfworld):
    env = make(text_only=True)
    for task_type, game in GAMES.items():
        start(env, task_type)
        walkthrough = json.loads(game.path.read_text())["walkthrough"]
        _, (_, reward, terminated, truncated, info) = play(env, walkthrough)
        assert terminated and not truncated and info["won"] and info["alfworld_won"], task_type
        assert info["goal_condition_success_rate"] == 1.0
        assert reward == 51.0  # 50 for the win + the goal-condition rate 1


def test_reset_observation_holds_scene_task_and_admissible_commands(alfworld):
    env = make()
    obs, info = start(env, "pick_heat_then_place_in_recep")
    game = env.unwrapped
    assert obs["image"].shape == (300, 300, 3) and obs["image"].dtype == np.uint8
    assert env.observation_space.contains(obs)
    assert game.task in ("put a hot potato in diningtable", "heat some potato and put it in diningtable")
    prompt = obs["prompt"]
    assert f"Your task is to: {game.task}." in prompt
    assert "you see a countertop 1, a diningtable 1, and a microwave 1" in prompt
    assert "Welcome to TextWorld" not in prompt and prompt.count("Your task is to") == 1
    assert json.dumps(game.admissible_commands) in prompt
    assert "go to microwave 1" in game.admissible_commands
    assert '"thoughts"' in prompt and '"action"' in prompt
    assert info["task_type"] == "pick_heat_then_place_in_recep" and info["goal_condition_success_rate"] == 0.0


def test_admissible_commands_change_with_the_state(alfworld):
    env = make(text_only=True)
    start(env, "pick_heat_then_place_in_recep")
    before = env.unwrapped.admissible_commands
    obs, *_ = env.step(answer("go to countertop 1"))
    after = env.unwrapped.admissible_commands
    assert "take potato 1 from countertop 1" in after and "take potato 1 from countertop 1" not in before
    assert "On the countertop 1, you see a potato 1, and a spatula 1." in obs["prompt"]
    assert json.dumps(after) in obs["prompt"]


def test_text_only_and_action_only_prompts(alfworld):
    env = make(text_only=True, chain_of_thought=False)
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"prompt"}
    assert "image" not in obs["prompt"].lower() and '"thoughts"' not in obs["prompt"]
    assert '{"action": "one admissible command, copied exactly"}' in obs["prompt"]


def test_text_rendering_is_marked_as_not_a_camera(alfworld):
    env = make(render_mode="rgb_array")
    obs, _ = start(env, "pick_and_place_simple")
    assert np.array_equal(env.render(), obs["image"])
    banner = obs["image"][:20]
    red = (banner[..., 0] > 150) & (banner[..., 1] < 60) & (banner[..., 2] < 60)
    assert red.mean() > 0.5  # the red "TEXT RENDERING (no camera)" banner
    assert "not a camera view" in obs["prompt"]
    # a long scene still fits (shrunk, then cut)
    long_text = "You see " + ", ".join(f"a cabinet {i}" for i in range(200)) + "."
    assert render_text_frame("put a mug in cabinet", long_text, (120, 160)).shape == (120, 160, 3)


def test_cycle_order_plays_game_seed_mod_n_on_a_seeded_reset(alfworld):
    # Every collector and evaluation resets with a seed; "cycle" restarted at game 0 on each, so
    # every episode of an evaluation played the first game.
    env = make(text_only=True, game_order="cycle")
    games = env.unwrapped.games
    seeded = []
    for seed in range(len(games) + 1):
        env.reset(seed=seed)
        seeded.append(env.unwrapped.game)
    assert seeded == [*games, games[0]]
    env.reset()  # unseeded: the next game in order
    assert env.unwrapped.game == games[1 % len(games)]


# ------------------------------------------------------------------ the expert
@pytest.mark.parametrize("expert", ["planner", "handcoded"])
def test_following_the_expert_wins_every_task_type(alfworld, expert):
    env = make(text_only=True, expert=expert, game_order="cycle")
    episodes = EpisodeLog()
    env.reset(seed=0)
    for episode in range(len(GAMES)):
        if episode:
            env.reset()
        game = env.unwrapped
        while True:
            command = game.expert_command()
            assert command in game.admissible_commands
            obs, reward, terminated, truncated, info = env.step(game.expert_answer())
            assert info["action_legal"] and info["action_match"] == "exact" and info["action_text"] == command
            if terminated or truncated:
                break
        assert terminated and info["alfworld_won"], game.game.task_type
        episodes.add_episode(ALFWORLD_TASK, info)
    summary = episodes.summary(ALFWORLD_TASK)
    assert summary["alfworld/success_rate"] == 1.0 and summary["alfworld/illegal_action_rate"] == 0.0
    assert summary["charts/success_rate"] == 1.0 and summary["charts/episodes"] == len(GAMES)
    assert all(summary[f"alfworld/success_rate/{SHORT_NAMES[t]}"] == 1.0 for t in GAMES)
    assert all(summary[f"alfworld/success_rate/{SHORT_NAMES[t]}"] == 1.0 for t in TASK_TYPES)


def test_expert_answer_is_a_demonstration_in_the_prompt_format(alfworld):
    env = make(text_only=True)
    start(env, "pick_cool_then_place_in_recep")
    fields = json.loads(env.unwrapped.expert_answer())
    assert list(fields) == ["thoughts", "action"]
    assert fields["action"] == env.unwrapped.expert_command() == "go to diningtable 1"
    assert env.unwrapped.task in fields["thoughts"]


# ------------------------------------------------------------------ rewards
def test_rewards_match_hand_computation_for_heating(alfworld):
    """50 * won + goal-condition rate - 1 per illegal answer; the heat task has two conditions
    (the potato hot, the potato on the dining table)."""
    env = make(text_only=True)
    start(env, "pick_heat_then_place_in_recep")
    commands = [
        "go to countertop 1",
        "take potato 1 from countertop 1",
        "dance a jig",
        "go to microwave 1",
        "heat potato 1 with microwave 1",
        "go to diningtable 1",
        "move potato 1 to diningtable 1",
    ]
    rewards, (obs, _, terminated, _, info) = play(env, commands)
    assert rewards == [0.0, 0.0, -1.0, 0.0, 0.5, 0.5, 51.0]
    assert terminated and info["episode"]["r"] == pytest.approx(sum(rewards)) and info["episode"]["l"] == 7
    assert info["alfworld_illegal_rate"] == pytest.approx(1 / 7)


def test_illegal_answers_reach_the_engine_and_are_penalised(alfworld):
    env = make(text_only=True)
    start(env, "pick_and_place_simple")
    obs, reward, terminated, truncated, info = env.step('{"thoughts": "hmm", "action": "fly to the moon"}')
    assert reward == -1.0 and not terminated and not truncated
    assert not info["action_parsed"] and not info["action_legal"]
    assert info["action_text"] == "fly to the moon" and "admissible" in info["action_error"]
    assert "What you see now: Nothing happens." in obs["prompt"]


def test_increment_mode_rewards_the_change_of_the_goal_condition_rate(alfworld):
    env = make(text_only=True, gc_mode="increment")
    start(env, "pick_heat_then_place_in_recep")
    commands = [
        "go to countertop 1",
        "take potato 1 from countertop 1",
        "go to microwave 1",
        "heat potato 1 with microwave 1",
        "go to diningtable 1",
        "move potato 1 to diningtable 1",
    ]
    rewards, _ = play(env, commands)
    assert rewards == [0.0, 0.0, 0.0, 0.5, 0.0, 50.5]


def test_look_at_obj_in_light_goal_conditions(alfworld):
    """Four conditions: lamp on, agent where the lamp is, lamp on its receptacle (true from the
    start: lamps don't move), a book held."""
    env = make(text_only=True)
    _, info = start(env, "look_at_obj_in_light")
    assert info["goal_condition_success_rate"] == 0.25
    rewards, _ = play(env, ["go to bed 1", "take book 1 from bed 1", "go to sidetable 1", "use desklamp 1"])
    assert rewards == [0.25, 0.5, 0.75, 51.0]


def test_pick_two_counts_each_object(alfworld):
    env = make(text_only=True)
    start(env, "pick_two_obj_and_place")
    rewards, _ = play(
        env,
        [
            "go to desk 1",
            "take pencil 2 from desk 1",
            "go to drawer 1",
            "open drawer 1",
            "move pencil 2 to drawer 1",
            "go to sidetable 1",
            "take pencil 1 from sidetable 1",
            "go to drawer 1",
            "move pencil 1 to drawer 1",
        ],
    )
    assert rewards == [0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5, 51.0]


def test_goal_condition_rate_is_one_exactly_when_won_under_random_play(alfworld):
    env = make(text_only=True, max_steps=25)
    rng = np.random.default_rng(0)
    for task_type in TASK_TYPES:
        start(env, task_type, seed=1)
        for _ in range(25):
            command = env.unwrapped.admissible_commands[rng.integers(len(env.unwrapped.admissible_commands))]
            _, _, terminated, truncated, info = env.step(answer(command))
            assert (info["goal_condition_success_rate"] == 1.0) == info["won"]
            if terminated or truncated:
                break


def test_episodes_are_truncated_after_max_steps(alfworld):
    env = make(text_only=True, max_steps=3)
    env.reset(seed=0)
    rewards, (_, _, terminated, truncated, info) = play(env, ["sing", "dance", "sleep"])
    assert not terminated and truncated
    assert info["alfworld_illegal_rate"] == 1.0 and not info["alfworld_won"]
    with pytest.raises(RuntimeError, match="reset"):
        env.unwrapped.step("look")


def test_step_reward_formula():
    assert step_reward(won=True, goal_condition=1.0, legal=True) == 51.0
    assert step_reward(won=False, goal_condition=0.5, legal=False) == -0.5
    assert step_reward(False, 0.5, True, previous_goal_condition=0.5, gc_mode="increment") == 0.0
    assert step_reward(True, 1.0, True, previous_goal_condition=0.5, gc_mode="increment") == 50.5
    with pytest.raises(ValueError):
        step_reward(False, 0.0, True, gc_mode="delta")


def test_goal_conditions_from_pddl_and_hand_written_facts():
    game = GAMES["pick_two_obj_and_place"]
    data = json.loads(game.path.read_text())
    goal = GoalConditions(data["pddl_problem"], data["pddl_domain"])
    assert goal.total == 2 and {c.predicate for c in goal.conditions} == {"inreceptacle"}
    pencil_a, pencil_b = (
        "pencil_bar__plus_01_dot_10_bar__plus_00_dot_90_bar__minus_01_dot_10",
        "pencil_bar__plus_02_dot_10_bar__plus_00_dot_90_bar__minus_02_dot_10",
    )
    drawer = "drawer_bar__plus_03_dot_00_bar__plus_00_dot_00_bar__minus_03_dot_00"
    static = [
        ("objecttype", pencil_a, "penciltype"),
        ("objecttype", pencil_b, "penciltype"),
        ("receptacletype", drawer, "drawertype"),
    ]
    assert goal.rate(static) == 0.0
    assert goal.rate(static + [("inreceptacle", pencil_a, drawer)]) == 0.5
    assert goal.rate(static + [("inreceptacle", pencil_a, drawer), ("inreceptacle", pencil_b, drawer)]) == 1.0
    # one pencil is never two (the goal's (not (= ?o1 ?o2))): no binding, rate 0
    assert (
        goal.rate(
            [
                ("objecttype", pencil_a, "penciltype"),
                ("receptacletype", drawer, "drawertype"),
                ("inreceptacle", pencil_a, drawer),
            ]
        )
        == 0.0
    )


# ------------------------------------------------------------------ projection
ADMISSIBLE = ["go to drawer 1", "go to drawer 12", "go to desk 1", "take pencil 1 from desk 1", "look", "inventory"]


@pytest.mark.parametrize(
    "text, command, how",
    [
        ('{"thoughts": "x", "action": "go to desk 1"}', "go to desk 1", "exact"),
        ('{"thoughts": "x", "action": "  Go To   DESK 1. "}', "go to desk 1", "exact"),
        ('```json\n{"thoughts": "x", "action": "go to drawer 12"}\n```', "go to drawer 12", "exact"),
        ("{'thoughts': 'x', 'action': 'look'}", "look", "exact"),
        ('{"thoughts": "I could go to desk 1", "action": "go to drawer 1"}', "go to drawer 1", "exact"),
        ('{"thoughts": "x", "action": "I will take pencil 1 from desk 1 now"}', "take pencil 1 from desk 1", "contains"),
        ('{"thoughts": "x", "action": "go to drawer 12 please"}', "go to drawer 12", "contains"),
        ("thoughts: none\naction: go to desk 1", "go to desk 1", "exact"),
        ("I think the best move is to go to desk 1", "go to desk 1", "contains"),
    ],
)
def test_projection_reads_admissible_commands(text, command, how):
    projection = project_action(text, ADMISSIBLE)
    assert (projection.command, projection.how, projection.legal) == (command, how, True)
    assert projection.sent == command


@pytest.mark.parametrize(
    "text",
    [
        '{"thoughts": "go to desk 1 is tempting", "action": "open the fridge"}',  # only the thoughts name one
        '{"thoughts": "x", "action": "go to drawer 3"}',  # not admissible, and holds none that is
        "nothing to see here",
        "",
    ],
)
def test_projection_marks_other_answers_illegal(text):
    projection = project_action(text, ADMISSIBLE)
    assert projection.command is None and not projection.legal and projection.how is None
    assert projection.error
    assert projection.sent not in ADMISSIBLE


def test_projection_prefers_the_longest_command_found():
    projection = project_action('{"action": "go to drawer 12 or go to drawer 1"}', ADMISSIBLE)
    assert projection.command == "go to drawer 12"


# ------------------------------------------------------------------ task wording, seeding, checkpoints
def test_task_wording_is_drawn_once_per_episode_and_seeded(alfworld):
    env = make(text_only=True)
    tasks = set()
    for seed in range(12):
        obs, _ = start(env, "pick_clean_then_place_in_recep", seed=seed)
        task = env.unwrapped.task
        tasks.add(task)
        for command in ["go to countertop 1", "sing"]:
            obs, *_ = env.step(answer(command))
            assert env.unwrapped.task == task and f"Your task is to: {task}." in obs["prompt"]
    assert tasks == {"put a clean mug in cabinet", "clean some mug and put it in cabinet"}
    first = [start(env, "pick_clean_then_place_in_recep", seed=5)[0]["prompt"] for _ in range(2)]
    assert first[0] == first[1]


def test_random_game_order_is_seeded(alfworld):
    env = make(text_only=True)

    def games(seed):
        env.reset(seed=seed)
        out = [env.unwrapped.game.task_type]
        for _ in range(3):
            env.reset()
            out.append(env.unwrapped.game.task_type)
        return out

    assert games(7) == games(7)


def test_env_state_is_its_seed_and_answers_replayed_for_checkpoints(alfworld):
    """Checkpoints keep an env as data (its episode seed and the answers since); replaying them
    gives the same episode: prompt, image, the expert's next move, and what follows."""
    envs = SeededEnvs(lambda: ALFWORLD_TASK.make_agent_env(games="shipped", expert="handcoded"), 1)
    envs.reset(0, seed=3)
    for command in ["go to countertop 1", "nonsense"]:
        envs.step(0, answer(command))
    state = json.loads(json.dumps(envs.state()))  # as a checkpoint stores it
    copy = SeededEnvs(lambda: ALFWORLD_TASK.make_agent_env(games="shipped", expert="handcoded"), 1)
    (observation,) = copy.restore(state)
    assert observation["prompt"] == envs.envs[0].unwrapped._observation()["prompt"]
    assert copy.envs[0].unwrapped.expert_command() == envs.envs[0].unwrapped.expert_command()
    a, b = envs.step(0, answer("look")), copy.step(0, answer("look"))
    assert a[0]["prompt"] == b[0]["prompt"] and a[1] == b[1] and np.array_equal(a[0]["image"], b[0]["image"])


def test_gymnasium_env_checker_passes(alfworld):
    from gymnasium.utils.env_checker import check_env

    check_env(gym.make(ENV_ID, games="shipped").unwrapped, skip_render_check=True)


# ------------------------------------------------------------------ metrics
def test_task_metrics_per_episode_and_their_means_by_hand():
    episodes = EpisodeLog()
    for won, gc, illegal, task_type in [
        (True, 1.0, 0.0, "pick_and_place_simple"),
        (False, 0.5, 0.5, "pick_and_place_simple"),
        (False, 0.0, 1.0, "look_at_obj_in_light"),
        (True, 1.0, 0.25, "pick_heat_then_place_in_recep"),
    ]:
        info = {
            "episode": {"r": 51.0 if won else 2.0, "l": 3},
            "alfworld_won": won,
            "alfworld_goal_condition": gc,
            "alfworld_illegal_rate": illegal,
            "alfworld_task_type": task_type,
        }
        episodes.add_episode(ALFWORLD_TASK, info)
    summary = episodes.summary(ALFWORLD_TASK)
    assert summary["alfworld/success_rate"] == summary["charts/success_rate"] == 0.5  # a win, not a positive return
    assert summary["alfworld/goal_condition_rate"] == pytest.approx(2.5 / 4)
    assert summary["alfworld/illegal_action_rate"] == pytest.approx(1.75 / 4)
    assert summary["alfworld/success_rate/pick_and_place"] == 0.5
    assert summary["alfworld/success_rate/look_at_obj_in_light"] == 0.0
    assert summary["alfworld/success_rate/pick_heat_then_place"] == 1.0
    assert np.isnan(summary["alfworld/success_rate/pick_cool_then_place"])


# ------------------------------------------------------------------ data, backends, preset
def test_missing_data_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path))
    with pytest.raises(GamesNotFoundError, match="alfworld-download"):
        resolve_games(None, split="valid_unseen")
    with pytest.raises(GamesNotFoundError, match="--games PATH"):
        resolve_games(tmp_path)
    assert len(resolve_games("shipped")) == 6
    assert [g.task_type for g in resolve_games("shipped", task_types=("look_at_obj_in_light",))] == ["look_at_obj_in_light"]


def test_games_accepts_any_folder_of_alfworld_games(alfworld, tmp_path):
    import shutil

    shutil.copytree(
        GAMES["pick_and_place_simple"].folder.parent,
        tmp_path / "json_2.1.1" / "valid_seen" / GAMES["pick_and_place_simple"].folder.parent.name,
    )
    from vlm_ppo.alfworld import make_alfworld_env

    env = make_alfworld_env(games=tmp_path, text_only=True)
    env.reset(seed=0)
    assert env.unwrapped.game.task_type == "pick_and_place_simple"


def test_thor_backend_explains_what_is_missing(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ai2thor" else real(name, *a))
    with pytest.raises(ThorUnavailableError, match="ai2thor"):
        check_thor_available()
    from vlm_ppo.alfworld.env import AlfWorldEnv

    with pytest.raises(ThorUnavailableError, match="pip install ai2thor"):
        AlfWorldEnv(games="shipped", backend="thor")


def test_thor_backend_needs_a_display(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "ai2thor" else real(name, *a))
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(ThorUnavailableError, match="DISPLAY"):
        check_thor_available()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"bogus": 1}, "TaskError", "unexpected keyword argument 'bogus'"),
        ({"max_steps": "abc"}, "ValueError", "max_steps must be a whole number of at least 1, got 'abc'"),
        ({"max_steps": 2.5}, "ValueError", "got 2.5"),
        ({"max_steps": True}, "ValueError", "got True"),
        ({"backend": "thor"}, "TaskError", "ThorUnavailableError: the 'thor' backend"),
        ({"games": []}, "ValueError", "games is empty"),
    ],
)
def test_bad_options_are_one_line_errors(alfworld, monkeypatch, kwargs, error, message):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ai2thor" else real(name, *a))
    from vlm_ppo.alfworld import make_alfworld_env

    with pytest.raises(ValueError) as caught:  # TaskError is a ValueError: the CLI's exit code 2
        make_alfworld_env(**({"games": "shipped"} | kwargs))
    assert type(caught.value).__name__ == error and message in str(caught.value) and "\n" not in str(caught.value)


def test_a_damaged_game_file_is_named(alfworld, tmp_path):
    import shutil

    folder = tmp_path / "json_2.1.1" / "train" / GAMES["pick_and_place_simple"].folder.parent.name
    shutil.copytree(GAMES["pick_and_place_simple"].folder.parent, folder)
    game_file = next(folder.rglob("game.tw-pddl"))
    game_file.write_text("{not json")
    with pytest.raises(ValueError, match=f"{game_file} is not valid JSON"):
        resolve_games(tmp_path)
    game_file.write_text(json.dumps({"solvable": True}))
    from vlm_ppo.alfworld import make_alfworld_env

    env = make_alfworld_env(games=tmp_path, text_only=True)
    with pytest.raises(ValueError, match=f"{game_file} has no pddl_problem or pddl_domain"):
        env.reset(seed=0)


def test_the_step_limit_is_a_time_limit_gymnasium_and_the_trainer_see(alfworld):
    from vlm_ppo.alfworld import make_alfworld_env
    from vlm_ppo.tasks.task import episode_step_cap, time_limit

    assert time_limit(make_alfworld_env(games="shipped")) == 50
    long = make_alfworld_env(games="shipped", max_steps=1500)
    assert time_limit(long) == 1500 and episode_step_cap(long) == 1500  # not refused as endless at 1,000
    assert time_limit(make_alfworld_env(games="shipped", max_steps=np.int64(7))) == 7  # a NumPy integer too


def test_preset_is_the_papers():
    assert PRESET == {
        "num_steps": 1024,
        "grad_accum_steps": 256,
        "thought_coef": 0.2,
        "total_env_steps": 12_000,
        "train_vision": "all",
    }
    assert ALFWORLD_TASK.preset == PRESET


def test_prompt_and_observation_cleaning_without_the_engine():
    feedback = (
        "-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room.\n\nYour task is to: put a mug in cabinet."
    )
    assert clean_observation(feedback) == "You are in the middle of a room."
    prompt = alfworld_prompt("put a mug in cabinet", "You see a mug 1.", ["look", "go to cabinet 1"], image=None)
    assert prompt.splitlines()[1:4] == [
        "Your task is to: put a mug in cabinet.",
        "What you see now: You see a mug 1.",
        'Admissible commands now: ["look", "go to cabinet 1"]',
    ]


def test_make_games_script_reproduces_the_shipped_games(alfworld, tmp_path):
    """The shipped games are exactly what scripts/make_alfworld_games.py makes with ALFWorld's
    generator (and every one passes its expert and planner checks)."""
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_alfworld_games.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    shipped = sorted(p.relative_to(shipped_games_dir()) for p in shipped_games_dir().rglob("*") if p.is_file())
    assert made == shipped
    for path in made:
        assert (tmp_path / path).read_bytes() == (shipped_games_dir() / path).read_bytes(), path


def test_one_update_of_training_through_the_cli(tmp_path):
    """vlm-ppo train --env alfworld/ALFWorld-v0 on the shipped games with the tiny model."""
    pytest.importorskip("alfworld")
    import csv

    from vlm_ppo.cli import main
    from vlm_ppo.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny", "llava")
    run = tmp_path / "run"
    argv = [
        "train",
        "--env",
        "alfworld",
        "--games",
        "shipped",
        "--env-kwargs",
        "{max_steps: 2}",
        "--model",
        str(model),
        "--output-dir",
        str(run),
        "--num-envs",
        "2",
        "--num-steps",
        "4",
        "--total-env-steps",
        "8",
        "--max-new-tokens",
        "8",
        "--ppo-epochs",
        "1",
        "--grad-accum-steps",
        "2",
        "--lora-r",
        "2",
        "--lora-alpha",
        "4",
        "--value-hidden-sizes",
        "8",
    ]
    assert main(argv) == 0
    with open(run / "metrics.csv", newline="") as file:
        (row,) = list(csv.DictReader(file))
    assert float(row["charts/episodes"]) >= 2  # max_steps=2: every env finished at least once
    assert 0.0 <= float(row["alfworld/illegal_action_rate"]) <= 1.0
    assert float(row["charts/success_rate"]) == float(row["alfworld/success_rate"])
    assert (run / "config.yaml").read_text().count("thought_coef: 0.2") == 1  # the ALFWorld preset


def test_sft_data_from_the_alfworld_expert(tmp_path):
    """vlm-ppo sft-data --env alfworld: expert answers that parse to admissible commands; mistakes
    are other admissible commands, and the (replanning) expert still wins."""
    pytest.importorskip("alfworld")
    from vlm_ppo.cli import main
    from vlm_ppo.sft_data import load_dataset_info, load_sft_records

    out = tmp_path / "data"
    assert (
        main(["sft-data", "--env", "alfworld", "--games", "shipped", "--episodes", "2", "--out", str(out), "--noise", "0.3"])
        == 0
    )
    info, records = load_dataset_info(out), load_sft_records(out)
    assert info.task == "alfworld/ALFWorld-v0" and len(records) == info.records > 0
    assert info.success_rate == 1.0 and 0 < info.mistakes < info.records
    for record in records:
        answer = json.loads(record.answer)
        admissible = json.loads(record.prompt.split("Admissible commands now: ")[1].split("\n")[0])
        assert answer["action"] in admissible and answer["thoughts"].startswith("My task is to")
        assert (out / record.image).is_file()
