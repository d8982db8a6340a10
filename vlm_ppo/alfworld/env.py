"""ALFWorld as a Gymnasium env that speaks the trainer's interface.

Observation: ``{"image": uint8 (H, W, 3), "prompt": str}`` (``{"prompt"}`` for text-only agents);
action: the model's raw answer text; ``info["action_parsed"]`` says whether an admissible command
was read from it. Everything that changes each step (the scene text, the admissible commands)
is in the prompt; the task is drawn once per episode.

Backends:

* ``"text"`` (default, always available): ALFWorld's text engine, i.e. TextWorld's PDDL engine
  with ALFWorld's domain, grammar and name demangler, exactly as ``AlfredTWEnv`` sets it up.
  The image is a rendering of the text, marked "TEXT RENDERING (no camera)"
  (:mod:`vlm_ppo.alfworld.render`).
* ``"thor"``: ALFWorld's embodied env (``AlfredThorEnv``'s per-env worker, run in-process) for
  real camera frames. Needs ``ai2thor`` (ALFWorld pins 2.1.0), an X display and ALFWorld's data
  with THOR scenes; without them construction fails with :class:`ThorUnavailableError` saying
  what is missing. ``ai2thor`` is imported only here.

Episodes end when the task is won (terminated) or after ``max_steps`` steps (truncated). Each
step's reward is the paper's ``50 * won + goal-condition rate - 1 * illegal``
(:func:`vlm_ppo.alfworld.reward.step_reward`).

Per-step info: ``action_parsed`` / ``action_legal`` (an admissible command was read),
``action_text`` (what was sent to the engine), ``action_value`` (the ``"action"`` field as
written), ``action_match`` (``"exact"``, ``"contains"`` or None), ``action_error``, ``won``,
``goal_condition_success_rate``, ``task_type``, ``gamefile``. When the episode ends:
``alfworld_won``, ``alfworld_goal_condition``, ``alfworld_illegal_rate``, ``alfworld_task_type``
(see :mod:`vlm_ppo.alfworld.metrics` to aggregate them).
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from gym_cards.envs.base import image_shape
from vlm_ppo.alfworld.games import Game, find_games, read_json, resolve_games, task_description
from vlm_ppo.alfworld.projection import project_action
from vlm_ppo.alfworld.prompts import alfworld_answer, alfworld_prompt, expert_thoughts
from vlm_ppo.alfworld.render import render_text_frame
from vlm_ppo.alfworld.reward import GC_MODES, ILLEGAL_PENALTY, WIN_REWARD, GoalConditions, facts_of, step_reward
from vlm_ppo.tasks.task import TaskError

ENV_ID = "alfworld/ALFWorld-v0"
BACKENDS = ("text", "thor")
EXPERTS = ("planner", "handcoded")
GAME_ORDERS = ("random", "cycle")
PROMPT_CHARSET = "".join(chr(c) for c in range(32, 127)) + "\n\t"
PROMPT_MAX_LENGTH = 32768
_WELCOME = re.compile(r"-= Welcome to TextWorld, ALFRED! =-\s*")
_TASK_LINE = re.compile(r"\s*Your task is to: [^\n]*")
_ALFWORLD_MISSING = (
    "the ALFWorld env needs the alfworld package: pip install 'gym-cards-vlm-ppo[alfworld]' (or pip install alfworld==0.4.2)"
)


DEFAULT_MAX_STEPS = 50
"""Steps before an episode is cut (truncated), RL4VLM's ALFWorld setting."""


class ThorUnavailableError(RuntimeError):
    """The THOR backend cannot run here (no ai2thor, no display, or no THOR scene data)."""


def _require_alfworld() -> None:
    if importlib.util.find_spec("alfworld") is None or importlib.util.find_spec("textworld") is None:
        raise ImportError(_ALFWORLD_MISSING)


def _ascii(text: str) -> str:
    return "".join(ch if ch in PROMPT_CHARSET else "?" for ch in text)


def clean_observation(feedback: str) -> str:
    """The engine's text without TextWorld's welcome banner and ALFWorld's own task line (the
    env states the task itself, worded once per episode)."""
    return _TASK_LINE.sub("", _WELCOME.sub("", feedback)).strip()


# ---------------------------------------------------------------------------------- backends
class TextBackend:
    """ALFWorld's text engine for one env: TextWorld's ``PddlEnv`` behind ALFWorld's demangler."""

    image_kind = "text"

    def __init__(self) -> None:
        _require_alfworld()
        import textworld
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
        from textworld.envs import PddlEnv

        self._pddl = PddlEnv(textworld.EnvInfos(admissible_commands=True, facts=True, won=True))
        self._env = AlfredDemangler(self._pddl, shuffle=False)
        self._loaded: Path | None = None
        self._goals: dict[Path, GoalConditions] = {}
        self.state = None

    def start(self, game: Game) -> str:
        if self._loaded != game.path:  # parsing a game takes ~0.3 s; replaying one needs no reload
            data = read_json(game.path)
            missing = [key for key in ("pddl_problem", "pddl_domain") if key not in data]
            if missing:
                raise ValueError(f"{game.path} has no {' or '.join(missing)}: not an ALFWorld game file")
            self._env.load(data)  # the parsed data: TextWorld leaves a file open when given a path
            self._loaded = game.path
            if game.path not in self._goals:
                self._goals[game.path] = GoalConditions(data["pddl_problem"], data["pddl_domain"])
        self.goal = self._goals[game.path]
        self.state = self._env.reset()
        return self.state["feedback"]

    def step(self, command: str) -> str:
        self.state, _, _ = self._env.step(command)
        return self.state["feedback"]

    @property
    def admissible(self) -> list[str]:
        return list(self.state["admissible_commands"])

    @property
    def won(self) -> bool:
        return bool(self.state["won"])

    def goal_condition(self) -> float:
        return self.goal.rate(facts_of(self.state["_facts"]))

    def plan(self) -> list[str]:
        """Fast Downward's plan from the current state (ALFWorld's "planner" expert)."""
        return list(self._pddl._pddl_state.replan(self._pddl._entity_infos))

    def frame(self, task: str, observation: str, size: tuple[int, int]) -> np.ndarray:
        return render_text_frame(task, observation, size)

    def close(self) -> None:
        self.state = None


class ThorBackend:
    """ALFWorld's THOR worker (``AlfredThorEnv.Thor``), driven synchronously for one env."""

    image_kind = "thor"

    def __init__(self, image_size: tuple[int, int], max_steps: int) -> None:
        check_thor_available()
        from alfworld.agents.environment.alfred_thor_env import AlfredThorEnv

        height, width = image_size
        config = {
            "env": {
                "thor": {
                    "screen_height": height,
                    "screen_width": width,
                    "smooth_nav": False,
                    "save_frames_to_disk": False,
                    "save_frames_path": tempfile.mkdtemp(prefix="alfworld_thor_"),
                },
                "goal_desc_human_anns_prob": 0.0,
                "task_types": [1, 2, 3, 4, 5, 6],
            },
            "controller": {"type": "oracle", "load_receps": True, "debug": False},
            "general": {"training_method": "dagger"},
            "dagger": {"training": {"max_nb_steps_per_episode": max_steps}},
            "mask_rcnn": {"pretrained_model_path": ""},
        }
        self._thor = AlfredThorEnv.Thor(None, "train")
        self._thor.init_env(config)
        self._result = None

    def start(self, game: Game) -> str:
        traj = json.loads((game.folder / "traj_data.json").read_text())
        if not traj.get("scene", {}).get("object_poses"):
            raise ThorUnavailableError(
                f"{game.folder} has no THOR scene (the shipped tiny games are text-only); use ALFWorld's data "
                "(alfworld-download)"
            )
        self._thor.reset(str(game.folder / "traj_data.json"))
        self._result = self._thor.get_results()
        return self._result[0]

    def step(self, command: str) -> str:
        self._thor.step(command)
        self._result = self._thor.get_results()
        return self._result[0]

    @property
    def admissible(self) -> list[str]:
        return list(self._result[2])

    @property
    def won(self) -> bool:
        return bool(self._result[3])

    def goal_condition(self) -> float:
        return float(self._result[4])

    def plan(self) -> list[str]:
        return list(self._result[5])

    def frame(self, task: str, observation: str, size: tuple[int, int]) -> np.ndarray:
        from PIL import Image

        frame = np.asarray(self._thor.env.last_event.frame, dtype=np.uint8)
        if frame.shape[:2] != size:
            frame = np.asarray(Image.fromarray(frame).resize((size[1], size[0])), dtype=np.uint8)
        return frame

    def close(self) -> None:
        try:
            self._thor.env.stop()
        except Exception:  # noqa: BLE001 - best effort on shutdown
            pass


def check_thor_available() -> None:
    """Raise :class:`ThorUnavailableError` naming what the THOR backend lacks here."""
    if importlib.util.find_spec("ai2thor") is None:
        raise ThorUnavailableError(
            "the 'thor' backend renders real frames with AI2-THOR, and ai2thor is not installed. "
            "It needs `pip install ai2thor==2.1.0` (the version ALFWorld uses; it downloads a Unity "
            "build on first use), an X display (DISPLAY set, e.g. a GPU machine running Xorg or "
            "Xvfb), and ALFWorld's data (`alfworld-download`). Use backend='text' otherwise."
        )
    if not os.environ.get("DISPLAY"):
        raise ThorUnavailableError(
            "the 'thor' backend needs an X display for AI2-THOR's Unity player, and DISPLAY is not "
            "set (start Xorg/Xvfb and export DISPLAY=:0). Use backend='text' otherwise."
        )


# ---------------------------------------------------------------------------------- env
class AlfWorldEnv(gym.Env):
    """ALFWorld household tasks, one game per episode (see the module docstring).

    :param games: a folder of ALFWorld games, ``"shipped"`` for the package's tiny games, a list
        of :class:`~vlm_ppo.alfworld.games.Game`, or None for ALFWorld's data split ``split``.
    :param split: ``train``, ``valid_seen`` or ``valid_unseen`` (when ``games`` is None).
    :param task_types: keep only these task types (ALFWorld's long names).
    :param backend: ``"text"`` or ``"thor"``.
    :param text_only: no image in the observation (for plain language models).
    :param chain_of_thought: ask for ``"thoughts"`` before ``"action"``.
    :param image_size: side or ``(height, width)`` of the image.
    :param max_steps: steps before the episode is truncated (the paper: 50).
    :param gc_mode: ``"level"`` (the paper: the goal-condition rate every step) or ``"increment"``.
    :param win_reward: reward for winning (50). :param illegal_penalty: per illegal answer (1).
    :param expert: ``"planner"`` (Fast Downward from the current state, on demand) or
        ``"handcoded"`` (ALFWorld's ``HandCodedTWAgent``, which watches every step); used by
        :meth:`expert_command`.
    :param game_order: ``"random"`` (a game drawn per episode, as in training) or ``"cycle"``
        (games in order, for evaluation: a reset with seed ``s`` plays game ``s mod n``, an unseeded
        one the next). ``reset(options={"game": i or path})`` picks one.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 2}

    def __init__(
        self,
        games: str | os.PathLike | list[Game] | None = None,
        split: str = "train",
        task_types: tuple[str, ...] | list[str] | None = None,
        backend: str = "text",
        text_only: bool = False,
        chain_of_thought: bool = True,
        image_size: int | tuple[int, int] = 300,
        max_steps: int = DEFAULT_MAX_STEPS,
        gc_mode: str = "level",
        win_reward: float = WIN_REWARD,
        illegal_penalty: float = ILLEGAL_PENALTY,
        expert: str = "planner",
        game_order: str = "random",
        render_mode: str | None = None,
    ) -> None:
        for name, value, allowed in (
            ("backend", backend, BACKENDS),
            ("gc_mode", gc_mode, GC_MODES),
            ("expert", expert, EXPERTS),
            ("game_order", game_order, GAME_ORDERS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
            raise ValueError(f"max_steps must be a whole number of at least 1, got {max_steps!r}")
        self._kwargs = dict(
            games=games,
            split=split,
            task_types=task_types,
            backend=backend,
            text_only=text_only,
            chain_of_thought=chain_of_thought,
            image_size=image_size,
            max_steps=max_steps,
            gc_mode=gc_mode,
            win_reward=win_reward,
            illegal_penalty=illegal_penalty,
            expert=expert,
            game_order=game_order,
            render_mode=render_mode,
        )
        task_types = tuple(task_types) if task_types is not None else None
        if backend == "thor":
            check_thor_available()  # before anything else: the clearest error first
        _require_alfworld()
        self.games: list[Game] = list(games) if isinstance(games, (list, tuple)) else resolve_games(games, split, task_types)
        if not self.games:
            raise ValueError("games is empty: give at least one game (or 'shipped', a directory, or None for $ALFWORLD_DATA)")
        self.backend_name = backend
        self.text_only = text_only
        self.chain_of_thought = chain_of_thought
        self.image_size = image_shape(image_size)
        self.max_steps = int(max_steps)
        self.gc_mode = gc_mode
        self.win_reward = float(win_reward)
        self.illegal_penalty = float(illegal_penalty)
        self.expert = expert
        self.game_order = game_order
        self.render_mode = render_mode
        self._backend = TextBackend() if backend == "text" else ThorBackend(self.image_size, self.max_steps)

        prompt_space = spaces.Text(max_length=PROMPT_MAX_LENGTH, min_length=0, charset=PROMPT_CHARSET)
        if text_only:
            self.observation_space = spaces.Dict({"prompt": prompt_space})
        else:
            self.observation_space = spaces.Dict(
                {"image": spaces.Box(0, 255, (*self.image_size, 3), np.uint8), "prompt": prompt_space}
            )
        self.action_space = spaces.Text(max_length=PROMPT_MAX_LENGTH, min_length=0, charset=PROMPT_CHARSET)

        self.game: Game | None = None
        self.task = ""
        self.observation_text = ""
        self._episodes = 0
        self._history: list[str] = []
        self._steps = 0
        self._illegal = 0
        self._gc = 0.0
        self._done = True
        self._expert_random = random.Random(0)
        self._handcoded = None
        self._handcoded_next: str | None = None
        self._expert_random_at_reset = None

    # -------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        if seed is not None:  # "cycle": a seeded reset plays game seed mod n, so that seeds 0, 1, ... cycle
            self._episodes = seed % len(self.games)
        self.game = self._pick_game(options.get("game"))
        self.task = task_description(self.game, self.np_random)
        self._expert_random = random.Random(int(self.np_random.integers(2**63)))
        self._expert_random_at_reset = self._expert_random.getstate()
        self._history, self._steps, self._illegal = [], 0, 0
        feedback = self._backend.start(self.game)
        self._start_expert(feedback)
        self.observation_text = clean_observation(feedback)
        self._gc = self._backend.goal_condition()
        self._done = False
        self._episodes += 1
        return self._observation(), self._info()

    def step(self, answer: str):
        if self._done:
            raise RuntimeError("the episode is over: call reset() before step()")
        projection = project_action(answer, self._backend.admissible)
        self._apply(projection.sent)
        legal = projection.legal
        self._illegal += not legal
        won = self._backend.won
        previous, self._gc = self._gc, self._backend.goal_condition()
        reward = step_reward(won, self._gc, legal, previous, self.gc_mode, self.win_reward, self.illegal_penalty)
        terminated = won
        truncated = not won and self._steps >= self.max_steps
        self._done = terminated or truncated
        info = {
            **self._info(),
            "action_parsed": legal,
            "action_legal": legal,
            "action_text": projection.sent,
            "action_value": projection.value,
            "action_match": projection.how,
            "action_error": projection.error,
        }
        if self._done:
            info.update(
                alfworld_won=bool(won),
                alfworld_goal_condition=float(self._gc),
                alfworld_illegal_rate=self._illegal / self._steps,
                alfworld_task_type=self.game.task_type,
            )
        return self._observation(), reward, terminated, truncated, info

    def render(self):
        if self.render_mode == "ansi":
            return self.describe()
        if self.render_mode == "rgb_array":
            return self._backend.frame(self.task, self.observation_text, self.image_size)
        return None

    def close(self) -> None:
        self._backend.close()

    # -------------------------------------------------------------- what the agent sees
    @property
    def admissible_commands(self) -> list[str]:
        """The commands the engine accepts now."""
        return self._backend.admissible

    def describe(self) -> str:
        """The task and the latest observation, in words."""
        return f"Your task is to: {self.task}.\n{self.observation_text}"

    def prompt(self) -> str:
        """The prompt of the current step."""
        return _ascii(
            alfworld_prompt(
                self.task,
                self.observation_text,
                self.admissible_commands,
                self.chain_of_thought,
                None if self.text_only else self._backend.image_kind,
            )
        )

    def goal_condition_rate(self) -> float:
        """The goal-condition success rate of the current state."""
        return self._gc

    # -------------------------------------------------------------- the expert
    def expert_command(self) -> str:
        """The expert's next command in the current state (always admissible).

        ``expert="planner"``: the first step of Fast Downward's plan from here (ALFWorld's
        "planner" expert). ``"handcoded"``: ALFWorld's ``HandCodedTWAgent``, which has watched
        every step of the episode; when it gives up (it is heuristic), the planner answers.
        """
        if self._done:
            raise RuntimeError("the episode is over: call reset() first")
        admissible = self.admissible_commands
        if self.expert == "handcoded" and self._handcoded_next in admissible:
            return self._handcoded_next
        plan = self._backend.plan()
        if plan and plan[0] in admissible:
            return plan[0]
        return "look" if "look" in admissible else admissible[0]

    def expert_answer(self, command: str | None = None) -> str:
        """The answer an expert writes now (thoughts, then the command), for demonstrations.

        :param command: write the answer for this command instead of the expert's (a deliberate
            mistake in noisy demonstrations).
        """
        command = self.expert_command() if command is None else command
        if not self.chain_of_thought:
            return alfworld_answer(command)
        return alfworld_answer(command, expert_thoughts(self.task, command))

    # -------------------------------------------------------------- internals
    def _pick_game(self, choice) -> Game:
        if choice is None:
            if self.game_order == "cycle":
                return self.games[self._episodes % len(self.games)]
            return self.games[int(self.np_random.integers(len(self.games)))]
        if isinstance(choice, Game):
            return choice
        if isinstance(choice, (int, np.integer)):
            return self.games[int(choice) % len(self.games)]
        path = Path(choice)
        for game in self.games:
            if path in (game.path, game.folder):
                return game
        found = find_games(path) if path.is_dir() else []
        if not found:
            raise ValueError(f"{choice!r} is neither an index nor a game of this env")
        return found[0]

    def _apply(self, command: str) -> None:
        feedback = self._backend.step(command)
        self._history.append(command)
        self._steps += 1
        self.observation_text = clean_observation(feedback)
        self._watch_expert(command)

    def _observation(self) -> dict:
        prompt = self.prompt()
        if self.text_only:
            return {"prompt": prompt}
        return {"image": self._backend.frame(self.task, self.observation_text, self.image_size), "prompt": prompt}

    def _info(self) -> dict:
        return {
            "won": self._backend.won,
            "goal_condition_success_rate": float(self._gc),
            "task_type": self.game.task_type,
            "gamefile": str(self.game.path),
            "episode_steps": self._steps,
        }

    def _with_expert_random(self, fn, *args):
        """ALFWorld's hand-coded expert draws from the global ``random``; give it its own stream."""
        saved = random.getstate()
        random.setstate(self._expert_random.getstate())
        try:
            return fn(*args)
        finally:
            self._expert_random.setstate(random.getstate())
            random.setstate(saved)

    def _start_expert(self, feedback: str) -> None:
        self._handcoded, self._handcoded_next = None, None
        if self.expert != "handcoded" or self.backend_name != "text":
            return
        from alfworld.agents.expert import HandCodedTWAgent

        self._handcoded = HandCodedTWAgent(max_steps=200)
        self._handcoded.reset(str(self.game.path))
        self._handcoded.observe(feedback)
        self._handcoded_next = "look"  # as ALFWorld's AlfredExpert wrapper, before the first step

    def _watch_expert(self, command: str) -> None:
        if self._handcoded is None:
            return
        from alfworld.agents.expert import HandCodedAgentFailed, HandCodedAgentTimeout

        state = self._backend.state
        try:
            self._handcoded_next = self._with_expert_random(self._handcoded.act, state, 0, state["won"], command)
        except (HandCodedAgentFailed, HandCodedAgentTimeout):
            self._handcoded, self._handcoded_next = None, None  # the planner takes over


def _whole(value: Any) -> Any:
    """A NumPy integer as a Python int (Gymnasium's TimeLimit takes only ints); anything else as
    it is, for the env's own check to name."""
    return int(value) if isinstance(value, np.integer) else value


def make_alfworld_env(env_id: str = ENV_ID, chain_of_thought: bool = True, text_only: bool = False, **env_kwargs) -> gym.Env:
    """The env as the trainer sees it (what :meth:`vlm_ppo.tasks.Task.make_agent_env` makes of
    other envs): prompt observations, answer-text actions, and ``info["episode"]`` statistics.

    ``env_kwargs`` go to :class:`AlfWorldEnv` (``games="shipped"`` plays the tiny shipped games).
    """
    if env_id != ENV_ID:
        raise ValueError(f"unknown ALFWorld env id {env_id!r}; use {ENV_ID!r}")
    try:
        # The env cuts its episodes at max_steps itself; the TimeLimit (at the same step) tells
        # the rest of Gymnasium, and the trainer's endless-episode cap, that it has a limit.
        env = gym.make(
            env_id,
            chain_of_thought=chain_of_thought,
            text_only=text_only,
            max_episode_steps=_whole(env_kwargs.get("max_steps", DEFAULT_MAX_STEPS)),
            **env_kwargs,
        )
    except (TypeError, ThorUnavailableError) as error:  # an unknown option; the THOR backend not installed
        raise TaskError(f"cannot make {env_id} with {env_kwargs or 'no options'}: {type(error).__name__}: {error}") from None
    return gym.wrappers.RecordEpisodeStatistics(env)
