"""Tasks: registration, module:factory, Gymnasium envs without code, and one-line errors."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from vlm_ppo.cli import main
from vlm_ppo.tasks import Advice, GymTask, Task, TaskError, make_task, register_task, task_names

ROOT = Path(__file__).resolve().parents[1]
SMALL = [
    "--num-envs",
    "2",
    "--num-steps",
    "4",
    "--max-new-tokens",
    "12",
    "--ppo-epochs",
    "1",
    "--grad-accum-steps",
    "4",
    "--lora-r",
    "4",
    "--lora-alpha",
    "8",
    "--value-hidden-sizes",
    "16",
    "--total-env-steps",
    "8",
    "--seed",
    "2",
]
FROZEN_LAKE = [
    "--task",
    "FrozenLake-v1",
    "--env-kwargs",
    "{is_slippery: false}",
    "--action-words",
    "left",
    "down",
    "right",
    "up",
    "--task-description",
    "You walk on a frozen lake from the start to the goal without falling into a hole.",
]


def rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as file:
        return list(csv.DictReader(file))


def test_the_games_and_alfworld_are_registered_tasks():
    assert set(task_names()) >= {
        "gym_cards/NumberLine-v0",
        "gym_cards/EZPoints-v0",
        "gym_cards/Points24-v0",
        "gym_cards/Blackjack-v0",
        "alfworld/ALFWorld-v0",
    }
    assert make_task("alfworld") is make_task("alfworld/ALFWorld-v0")


def test_a_registered_task_is_found_by_name_and_cannot_be_shadowed():
    class Counting(Task):
        def instructions(self, env, text_only):
            return "Count up."

    task = register_task(Counting(name="test/counting", env_id="gym_cards/NumberLine-v0", action_words=("minus", "plus")))
    assert make_task("test/counting") is task
    env = task.make_agent_env()
    observation, _ = env.reset(seed=0)
    assert (
        observation["prompt"].startswith("Count up.\nAnswer with one JSON object")
        and '"action": "minus" or "plus"' in observation["prompt"]
    )
    _, _, _, _, info = env.step('{"action": "plus"}')
    assert info["action_parsed"] and info["env_action"] == 1
    with pytest.raises(TaskError, match="already registered"):
        register_task(Counting(name="test/counting", env_id="gym_cards/NumberLine-v0"))


def test_a_gymnasium_env_becomes_a_task_from_its_action_words_and_a_description():
    task = make_task("FrozenLake-v1", ["left", "down", "right", "up"], "Walk to the goal.")
    assert isinstance(task, GymTask)
    env = task.make_agent_env(is_slippery=False)
    observation, _ = env.reset(seed=0)
    assert observation["image"].dtype == np.uint8 and observation["image"].ndim == 3  # its rgb_array frame
    assert observation["prompt"].startswith(
        'Walk to the goal. The image shows the current state. Actions: "left", "down", "right", "up".'
    )
    _, _, _, _, info = env.step('{"thoughts": "the goal is to the right", "action": "right"}')
    assert info["env_action"] == 2
    text = task.make_agent_env(text_only=True, is_slippery=False)
    observation, _ = text.reset(seed=0)
    assert "Table: " in observation["prompt"] and "image" not in observation  # its ansi rendering in words
    # The agent's square is marked only by a terminal colour: it stays visible, the escape codes go.
    assert "[S]FFF\nFHFH" in observation["prompt"] and "\x1b" not in observation["prompt"]


USER_ENV_MODULE = """
import gymnasium as gym
from gymnasium import spaces


class Corridor(gym.Env):
    \"\"\"A walk on a line whose actions are -1, 0, +1: Discrete(3, start=-1).\"\"\"

    metadata = {"render_modes": []}

    def __init__(self):
        self.action_space = spaces.Discrete(3, start=-1)
        self.observation_space = spaces.Text(max_length=40, charset="abcdefghijklmnopqrstuvwxyz0123456789 -")
        self.received = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position = 0
        return "you stand at 0", {}

    def step(self, action):
        assert self.action_space.contains(action), action
        self.received.append(action)
        self.position += action
        return f"you stand at {self.position}", float(self.position == 2), self.position == 2, False, {}


gym.register("Corridor-v0", entry_point=Corridor, max_episode_steps=10)
"""


def test_a_users_env_module_is_imported_and_its_actions_keep_their_start(tmp_path, monkeypatch):
    """`--task my_envs:Corridor-v0` imports my_envs as gym.make does, and the i-th action word is
    the env's start + i (here -1, 0, +1), never the bare index."""
    (tmp_path / "user_corridor_envs.py").write_text(USER_ENV_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    task = make_task("user_corridor_envs:Corridor-v0", ["back", "stay", "forward"], "Walk to 2.")
    env = task.make_agent_env(text_only=True)
    observation, _ = env.reset(seed=0)
    assert "you stand at 0" in observation["prompt"]
    for word in ("forward", "back", "stay", "forward", "forward"):
        _, reward, terminated, _, info = env.step(json.dumps({"action": word}))
    assert env.unwrapped.received == [1, -1, 0, 1, 1] and info["env_action"] == 1
    assert terminated and reward == 1.0
    env.reset(seed=1)
    _, _, _, _, info = env.step("no action here")  # a random action, still inside the space
    assert info["env_action"] in (-1, 0, 1)


@pytest.mark.parametrize(
    "name, words, description, message",
    [
        ("CartPole-v1", None, None, "not a registered task: give its action words"),
        ("CartPole-v1", ["left"], "Balance.", "CartPole-v1 has 2 actions but 1 action words were given"),
        ("CartPole-v1", ["left", "Left"], "Balance.", "must differ"),
        ("Pendulum-v1", ["push"], "Swing up.", "Box action space"),
        ("CartPole-v1", ["left", "right"], "  ", "needs a task description"),
        ("NoSuchEnv-v9", ["a"], "x", "unknown task 'NoSuchEnv-v9'"),
        ("no_such_module:factory", None, None, "cannot import 'no_such_module'"),
        ("gym_cards/NumberLine-v0", ["a", "b"], None, "has its own action words"),
    ],
)
def test_what_a_task_lacks_is_one_clear_error(name, words, description, message):
    with pytest.raises(TaskError, match=re.escape(message) if "'" not in message else message):
        make_task(name, words, description).make_agent_env()


def test_an_env_without_images_for_an_image_agent_says_to_use_text_only():
    task = make_task("gym_cards/Blackjack-v0")
    with pytest.raises(TaskError, match="gives no images .*--text-only"):
        task.make_agent_env(is_pixel=False)
    with pytest.raises(TaskError, match="cannot make its env .*bogus"):
        task.make_agent_env(bogus=1)


def test_readme_example_is_the_file_it_shows():
    """README's 'Your own task' example is examples/frozen_lake.py, word for word, and short."""
    readme = (ROOT / "README.md").read_text()
    code = (ROOT / "examples" / "frozen_lake.py").read_text()
    assert f"```python\n{code}```" in readme
    assert len(code.splitlines()) <= 40


def test_the_readme_example_task_makes_demonstrations_and_trains_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    data = tmp_path / "data"
    assert main(["sft-data", "--task", "frozen_lake:frozen_lake", "--episodes", "4", "--out", str(data)]) == 0
    info = json.loads((data / "dataset.json").read_text())
    assert info["task"] == "frozen-lake" and info["success_rate"] == 1.0  # the expert's shortest safe path wins
    first = json.loads((data / "records.jsonl").read_text().splitlines()[0])
    assert json.loads(first["answer"])["row"] == 0 and json.loads(first["answer"])["action"] in ("down", "right")
    run = tmp_path / "run"
    assert main(["train", "--task", "frozen_lake:frozen_lake", *SMALL, "--output-dir", str(run)]) == 0
    assert len(rows(run)) == 1
    # The factory is found again (its module is imported already in this process: nothing new runs).
    assert main(["train", "--resume", str(run), "--total-env-steps", "16"]) == 0
    assert len(rows(run)) == 2


def test_the_zero_code_command_trains_on_frozen_lake(tmp_path):
    run = tmp_path / "run"
    assert main(["train", *FROZEN_LAKE, *SMALL, "--output-dir", str(run)]) == 0
    (row,) = rows(run)
    assert int(row["env_steps"]) == 8
    out = tmp_path / "eval.json"
    assert (
        main(["eval", "--checkpoint", str(run / "checkpoints"), "--episodes", "2", "--num-envs", "2", "--output", str(out)])
        == 0
    )
    assert json.loads(out.read_text())["env_id"] == "FrozenLake-v1"


def test_gym_cards_ids_resolve_in_new_processes_with_the_module_prefix():
    """Stable-Baselines3's SubprocVecEnv makes envs in fresh processes, where gym_cards is not
    imported: gymnasium's module:id form imports it there (the README says so)."""
    code = (
        "from stable_baselines3.common.env_util import make_vec_env\n"
        "from stable_baselines3.common.vec_env import SubprocVecEnv\n"
        "envs = make_vec_env('gym_cards:gym_cards/NumberLine-v0', n_envs=2, vec_env_cls=SubprocVecEnv)\n"
        "print(envs.reset().shape)\n"
        "envs.close()\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "(2, 300, 300, 3)"


def test_structured_facts_make_the_mistakes_without_reading_english():
    """Each game's mistake is rendered by its expert from changed facts; its reason is never a
    regex edit of the expert's sentence."""
    from gym_cards.experts import BlackjackExpert, FormulaExpert, NumberLineExpert

    rng = np.random.default_rng(0)
    for name, seed, expert in (
        ("gym_cards/NumberLine-v0", 1, NumberLineExpert),
        ("gym_cards/Blackjack-v0", 2, BlackjackExpert),
        ("gym_cards/EZPoints-v0", 3, FormulaExpert),
    ):
        task = make_task(name)
        env = task.make_env()
        env.reset(seed=seed)
        advice = task.expert(env)
        mistake = task.mistake(env, advice, rng)
        assert isinstance(mistake, Advice) and mistake.word != advice.word
        assert mistake.reason == expert.explain(mistake.facts, mistake.word)


def test_a_formula_mistake_is_a_token_after_which_no_solution_follows():
    # "(" opens a redundant bracket around a whole solution, so it is never a mistake at the start
    # of a solvable deal; it was drawn as one, and the demonstration then taught "( can no longer reach 24".
    from conftest import cards, with_deal

    from gym_cards.experts import FormulaExpert

    task = make_task("gym_cards/Points24-v0")
    env = with_deal(task.make_env(), cards("6H", "6S", "6D", "6C"))
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    drawn = {task.mistake(env, task.expert(env), rng).word for _ in range(200)}
    assert "(" not in drawn and drawn
    assert all(FormulaExpert().completion(env, [word]) is None for word in drawn)


@pytest.mark.parametrize("name", ["gym_cards/EZPoints-v0", "gym_cards/Points24-v0"])
def test_formula_games_state_the_formula_in_the_image_prompt_and_once_in_text(name):
    """As the paper's prompt does, the image agent is told the formula built so far (its own
    past tokens); the text agent reads it in the table description, so it is not said twice."""
    task = make_task(name)
    env = task.make_agent_env()
    observation, _ = env.reset(seed=5)
    assert "The current formula is: (empty)." in observation["prompt"]
    first = task.expert(env.unwrapped).word  # a card number: the formula becomes that number
    observation, *_ = env.step(json.dumps({"action": first}))
    assert f"The current formula is: {first}." in observation["prompt"]
    text_env = task.make_agent_env(text_only=True)
    observation, _ = text_env.reset(seed=5)
    assert "The current formula is" not in observation["prompt"]
    assert observation["prompt"].count("Formula: (empty)") == 1


def test_a_text_only_task_that_cannot_describe_its_env_says_so_when_the_env_is_made():
    """Not at the first reset, after the model has loaded: make_agent_env is the trainer's and
    evaluation's check before any weights load."""

    class Balance(Task):
        def instructions(self, env, text_only):
            return "Keep the pole up."

    task = Balance("balance", "CartPole-v1", action_words=["left", "right"])
    with pytest.raises(TaskError, match="cannot put CartPole-v1's observations into words for --text-only"):
        task.make_agent_env(text_only=True)


# -------------------------------------------------------------- a user's own env, the rough edges
MISBEHAVING_ENVS = """
import gymnasium as gym
import numpy as np
from gymnasium import spaces

from vlm_ppo.tasks import Task


class Endless(gym.Env):
    \"\"\"Never ends; reset may ignore its seed; the expert's move is its first action.\"\"\"

    metadata = {"render_modes": []}

    def __init__(self, honour_seed=True, start=0):
        self.action_space = spaces.Discrete(3, start=start)
        self.observation_space = spaces.Text(max_length=40, charset="at 0123456789")
        self.honour_seed = honour_seed

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        rng = self.np_random if self.honour_seed else np.random.default_rng()  # or an unseeded generator
        self.position = int(rng.integers(10**6))
        return f"at {self.position}", {}

    def step(self, action):
        self.position += 1
        return f"at {self.position}", 0.0, False, False, {}


class Reports(gym.Env):
    \"\"\"One step; its return is +1 but it says the episode failed (info is_success).\"\"\"

    action_space = spaces.Discrete(2)
    observation_space = spaces.Text(max_length=40)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return "go", {}

    def step(self, action):
        return "done", 1.0, True, False, {"is_success": False}


class NeedsArguments(Task):
    pass


class Walker(Endless):
    pass


class Asserts(Endless):
    def __init__(self, size=1):
        assert size > 0, "size must be positive"
        super().__init__()


def missing_dependency(**kwargs):
    raise gym.error.DependencyNotInstalled("box9d is not installed, run `pip install box9d`")


gym.register("Endless-v0", entry_point=Endless)
gym.register("Plain", entry_point=Endless, max_episode_steps=5)
gym.register("Walker", entry_point=Walker, max_episode_steps=5)  # an unversioned id named as its class
gym.register("Reports-v0", entry_point=Reports)
gym.register("Asserts-v0", entry_point=Asserts)
gym.register("NeedsBox9d-v0", entry_point=missing_dependency)
gym.register("NeedsBox9dModule-v0", entry_point="user_box9d_env_module:Env")
"""


@pytest.fixture
def misbehaving(tmp_path, monkeypatch):
    (tmp_path / "user_misbehaving_envs.py").write_text(MISBEHAVING_ENVS)
    (tmp_path / "user_box9d_env_module.py").write_text(
        "import gymnasium as gym\nraise gym.error.DependencyNotInstalled('box9d is not installed')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_misbehaving_envs"


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("FrozenLake-v1", {"map_name": "9x9"}, "KeyError: '9x9'"),  # Gymnasium's own: a dict lookup
        ("user_misbehaving_envs:Asserts-v0", {"size": 0}, "AssertionError: size must be positive"),
        ("user_misbehaving_envs:NeedsBox9d-v0", {}, "DependencyNotInstalled: box9d is not installed"),
        ("user_misbehaving_envs:NeedsBox9dModule-v0", {}, "box9d is not installed"),
    ],
)
def test_an_env_that_cannot_be_made_is_one_task_error_naming_the_options(misbehaving, name, kwargs, message):
    task = make_task(name, ["a", "b", "c", "d"], "Do it.")
    try:
        task.make_agent_env(text_only=True, **kwargs)
    except TaskError as error:
        assert message in str(error) and "\n" not in str(error)
        assert all(f"{key!r}: {value!r}" in str(error) for key, value in kwargs.items())  # the options it was given
    else:
        pytest.fail(f"{name} with {kwargs} was made")


def test_the_cli_refuses_a_bad_env_option_with_exit_code_2_before_loading_a_model(capsys):
    code = main(["eval", "--model", "/nonexistent", "--task", "FrozenLake-v1", "--action-words", "left", "down", "right",
                 "up", "--task-description", "A lake.", "--env-kwargs", "{map_name: 9x9}"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "KeyError: '9x9'" in err and len(err.strip().splitlines()) == 1


def test_a_factory_that_raises_is_one_task_error(misbehaving):
    with pytest.raises(TaskError, match=r"user_misbehaving_envs:NeedsArguments\(\) failed: TypeError: .*missing"):
        make_task("user_misbehaving_envs:NeedsArguments")


@pytest.mark.parametrize("name", ["Plain", "Walker"])  # no attribute of that name; the env's class of that name
def test_an_unversioned_env_id_of_a_module_is_an_env_not_a_factory(misbehaving, name):
    task = make_task(f"user_misbehaving_envs:{name}", ["a", "b", "c"], "Walk.")
    assert isinstance(task, GymTask)
    env = task.make_agent_env(text_only=True)
    env.reset(seed=0)
    assert sum(1 for _ in iter(lambda: any(env.step('{"action": "a"}')[2:4]), True)) == 4  # 5 steps in all


def test_only_an_env_without_a_time_limit_is_cut_at_1000_steps(misbehaving):
    from vlm_ppo.tasks.task import episode_step_cap, time_limit

    assert time_limit(gym.make("FrozenLake-v1")) == 100 and episode_step_cap(gym.make("FrozenLake-v1")) == 1000
    assert time_limit(gym.make("user_misbehaving_envs:Endless-v0")) is None
    long = gym.make("user_misbehaving_envs:Endless-v0", max_episode_steps=1500)
    assert time_limit(long) == 1500 and episode_step_cap(long) == 1500
    wrapped = gym.wrappers.TimeLimit(gym.make("user_misbehaving_envs:Endless-v0"), 2500)
    assert episode_step_cap(wrapped) == 2500


def test_evaluation_plays_an_episode_to_a_time_limit_beyond_1000_steps(misbehaving):
    from types import SimpleNamespace

    from vlm_ppo.evaluation import evaluate_policy

    task = make_task("user_misbehaving_envs:Endless-v0", ["a", "b", "c"], "Walk.")
    policy = SimpleNamespace(act=lambda images, prompts: SimpleNamespace(answers=['{"action": "a"}'] * len(prompts),
                                                                        finished=[True] * len(prompts)))  # fmt: skip
    result = evaluate_policy(policy, task, episodes=1, batch=1, text_only=True, env_kwargs={"max_episode_steps": 1200},
                             progress=False)  # fmt: skip
    assert result.episodes == 1 and result.returns == [0.0]  # ended by its TimeLimit at step 1200
    with pytest.raises(ValueError, match="has run 1000 steps without ending"):
        evaluate_policy(policy, task, episodes=1, batch=1, text_only=True, progress=False)


def test_demonstrations_of_an_endless_env_stop_with_one_line_and_leave_no_data(misbehaving, tmp_path):
    from vlm_ppo.sft_data import build_sft_dataset

    class Walker(GymTask):
        def expert(self, env):
            return Advice(0, "a", "always a")

    register_task(Walker("user_misbehaving_envs:Endless-v0", ["a", "b", "c"], "Walk."), replace=True)
    try:
        with pytest.raises(ValueError, match="sft-data: an episode of task .* has run 1000 steps without ending"):
            build_sft_dataset("user_misbehaving_envs:Endless-v0", 1, tmp_path / "data", text_only=True, progress=False)
        assert not (tmp_path / "data").exists()
        (tmp_path / "empty").mkdir()
        with pytest.raises(ValueError, match="1000 steps"):
            build_sft_dataset("user_misbehaving_envs:Endless-v0", 1, tmp_path / "empty", text_only=True, progress=False)
        assert list((tmp_path / "empty").iterdir()) == []
    finally:
        from vlm_ppo import tasks

        tasks._TASKS.pop("user_misbehaving_envs:Endless-v0")


def test_a_mistake_of_a_discrete_space_with_a_start_is_never_the_experts_own_move(misbehaving):
    task = make_task("user_misbehaving_envs:Endless-v0", ["a", "b", "c"], "Walk.")
    env = task.make_agent_env(text_only=True, start=5)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    mistakes = [task.mistake(env, Advice(6, "b", "b it is"), rng) for _ in range(60)]
    assert {(m.action, m.word) for m in mistakes} == {(5, "a"), (7, "c")}


@pytest.mark.parametrize("words", [["left ", "down", "right", "up"], ["left", "down", "right", ""]])
def test_action_words_the_parser_could_never_read_are_refused(words):
    with pytest.raises(TaskError, match="non-empty text without surrounding spaces"):
        make_task("FrozenLake-v1", words, "A lake.").make_agent_env()


def test_a_prompt_outside_printable_ascii_is_refused_and_an_ascii_one_passes_the_env_checker():
    from gymnasium.utils.env_checker import check_env

    with pytest.raises(TaskError, match="--task-description holds characters outside printable ASCII \\('é—'\\)"):
        make_task("FrozenLake-v1", ["left", "down", "right", "up"], "Un lac gelé — traverse-le.")
    env = make_task("FrozenLake-v1", ["left", "down", "right", "up"], "A frozen lake.").make_agent_env(text_only=True)
    check_env(env, skip_render_check=True)


def test_a_render_mode_without_frames_is_named_for_an_image_agent():
    task = make_task("FrozenLake-v1", ["left", "down", "right", "up"], "A lake.")
    with pytest.raises(TaskError, match="render_mode 'ansi' gives the model no frames"):
        task.make_agent_env(render_mode="ansi")


def test_success_is_the_envs_own_is_success_when_it_reports_one(misbehaving):
    task = make_task("user_misbehaving_envs:Reports-v0", ["a", "b"], "Go.")
    assert task.is_success(1.0, {"is_success": False}) is False
    assert task.is_success(-1.0, {"is_success": True}) is True
    assert task.is_success(1.0, {}) is True and task.is_success(0.0, {}) is False


@pytest.mark.parametrize("honour_seed", [True, False])
def test_a_resume_warns_when_an_env_does_not_replay_from_its_seed(misbehaving, honour_seed):
    import warnings

    from vlm_ppo.rollout import SeededEnvs

    task = make_task("user_misbehaving_envs:Endless-v0", ["a", "b", "c"], "Walk.")
    saved = SeededEnvs(lambda: task.make_agent_env(text_only=True, honour_seed=honour_seed, max_episode_steps=50), 2)
    for index in range(2):
        saved.reset(index, 7 + index)
        saved.step(index, '{"action": "b"}')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fresh = SeededEnvs(lambda: task.make_agent_env(text_only=True, honour_seed=honour_seed, max_episode_steps=50), 2)
        observations = fresh.restore(saved.state())
    messages = [str(w.message) for w in caught if "replayed from their seeds" in str(w.message)]
    assert bool(messages) == (not honour_seed), messages
    assert all(m.startswith("2 of 2 envs") for m in messages)
    assert (fresh.views == saved.views) == honour_seed and len(observations) == 2


def test_only_a_task_that_would_import_new_code_must_be_given_again():
    """What eval and resume ask to see on the command line before they build a checkpoint's task."""
    from vlm_ppo.tasks import imported_module

    assert imported_module("gym_cards/NumberLine-v0") is None  # registered
    assert imported_module("FrozenLake-v1") is None  # a plain Gymnasium id
    assert imported_module("gym_cards:gym_cards/NumberLine-v0") is None  # gym_cards is imported already
    assert imported_module("not_imported_yet_module:make_task") == "not_imported_yet_module"
    assert imported_module("not_imported_yet_module:Plain-v0") == "not_imported_yet_module"
