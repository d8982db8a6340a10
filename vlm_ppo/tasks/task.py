"""The task: everything the agent side knows about one env, and the one thing a user extends.

An env says what happens; a task says how a language model takes part: what it is told (the
prompt), what it sees (the frame or a description in words), the JSON it must answer with and
how the answer's ``"action"`` maps to the env's actions, who plays well (an optional expert, for
demonstrations), what counts as success, which extra numbers to log per episode, and the
hyperparameters that suit it (the preset). The trainer, evaluation and data collection ask the
task and never the env id, as Gymnasium keeps everything about an env in its ``EnvSpec``.

Write one by subclassing :class:`Task` and overriding what differs (usually ``instructions``,
and ``answer_fields`` for what the model should read before it thinks), then register it::

    from vlm_ppo.tasks import Task, register_task

    class MyTask(Task):
        def instructions(self, env, text_only):
            return "You are playing ... Actions: ..."

    register_task(MyTask(name="my-task", env_id="MyEnv-v0", action_words=("left", "right")))

or point the command line at a factory: ``vlm-ppo train --task my_module:my_task``. For any
Gymnasium env with a ``Discrete`` action space, :class:`~vlm_ppo.tasks.generic.GymTask` needs no
code at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from gym_cards.experts import Advice
from gym_cards.wrappers import TextAction
from gym_cards.wrappers.text_observation import text_space

PROMPT_MAX_LENGTH = 32768


class TaskError(ValueError):
    """A task cannot be made, or does not fit its env: one line that says what is missing."""


class Task:
    """How a language model plays one Gymnasium env.

    :param name: the name the task is registered (and asked for) under.
    :param env_id: the Gymnasium id the task makes its envs with.
    :param env_kwargs: default keyword arguments for ``gym.make`` (a run's own are added on top).
    :param action_words: the word of each env action, in action order; None: the env's own
        ``action_words`` attribute (the gym_cards envs have one).
    :param preset: training settings that suit the task (a :class:`~vlm_ppo.config.TrainConfig`
        field -> value), applied over the defaults and under a config file and flags.
    :param metrics: the names of the extra per-episode metrics :meth:`episode_metrics` reports.
    """

    def __init__(
        self,
        name: str,
        env_id: str,
        env_kwargs: Mapping[str, Any] | None = None,
        action_words: Sequence[str] | None = None,
        preset: Mapping[str, Any] | None = None,
        metrics: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self._action_words = tuple(action_words) if action_words is not None else None
        self.preset = dict(preset or {})
        self.metrics = tuple(metrics)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, env_id={self.env_id!r})"

    # ------------------------------------------------------------------ the env
    def make_env(self, text_only: bool = False, **env_kwargs) -> gym.Env:
        """The env: ``gym.make`` of ``env_id`` with the task's and the run's kwargs. For image
        agents, an env that renders ``rgb_array`` frames but does not observe images gets its
        frames added to the observation (Gymnasium's ``AddRenderObservation``, as ``"pixels"``)."""
        kwargs = {**self.env_kwargs, **env_kwargs}
        try:
            env = gym.make(self.env_id, **kwargs)
        except (gym.error.Error, ImportError, TypeError, ValueError, KeyError, AssertionError) as error:
            # An env's constructor says "bad option" in many ways: Gymnasium's own raise KeyError
            # (FrozenLake's map_name), AssertionError or DependencyNotInstalled, too.
            raise TaskError(
                f"task {self.name!r} cannot make its env {self.env_id!r} with {kwargs or 'no options'}: "
                f"{type(error).__name__}: {error}"
            ) from None
        if not text_only and not is_image_space(env.observation_space) and env.render_mode == "rgb_array":
            env = gym.wrappers.AddRenderObservation(env, render_only=False)
        return env

    def action_words(self, env: gym.Env) -> tuple[str, ...]:
        """The word of each env action, in action order."""
        words = self._action_words or getattr(env.unwrapped, "action_words", None)
        if words is None:
            raise TaskError(f"task {self.name!r} names no action words and {self.env_id} has no action_words attribute")
        return tuple(words)

    def make_agent_env(self, chain_of_thought: bool = True, text_only: bool = False, **env_kwargs) -> gym.Env:
        """The env as agents see it: ``{"image", "prompt"}`` observations (``{"prompt"}`` when
        ``text_only``), the model's raw answer as the action (a random action when none can be
        read, as in the paper), and ``info["episode"]`` statistics."""
        env = self.make_env(text_only, **env_kwargs)
        self.check_env(env, text_only)
        env = AgentObservation(env, self, chain_of_thought, text_only)
        env = TextAction(env, on_invalid="random", action_words=self.action_words(env))
        return gym.wrappers.RecordEpisodeStatistics(env)

    def check_env(self, env: gym.Env, text_only: bool) -> None:
        """Refuse an env this task cannot drive, with one line that says why."""
        if not isinstance(env.action_space, spaces.Discrete):
            raise TaskError(
                f"{self.env_id} has a {type(env.action_space).__name__} action space; a language agent's answer "
                "picks one of a Discrete action space's actions"
            )
        words = self.action_words(env)
        if len(words) != env.action_space.n:
            raise TaskError(
                f"{self.env_id} has {env.action_space.n} actions but {len(words)} action words were given: {list(words)}"
            )
        if len({word.lower() for word in words}) != len(words):
            raise TaskError(f"the action words of {self.env_id} must differ (ignoring case): {list(words)}")
        unreadable = [word for word in words if not isinstance(word, str) or not word.strip() or word != word.strip()]
        if unreadable:  # the parser strips the answer's value, so such a word could never be chosen
            raise TaskError(
                f"the action words of {self.env_id} must be non-empty text without surrounding spaces: {unreadable}"
            )
        if text_only and type(self).observation_text is Task.observation_text and not hasattr(env.unwrapped, "describe"):
            raise TaskError(
                f"task {self.name!r} cannot put {self.env_id}'s observations into words for --text-only: override "
                "Task.observation_text, or give the env a describe() method"
            )

    # ---------------------------------------------------------- what the model sees
    def image_space(self, env: gym.Env) -> spaces.Box:
        """The space of the frames :meth:`image` returns: the observation space when it holds
        images, or the ``"pixels"`` of Gymnasium's ``AddRenderObservation``."""
        space = env.observation_space
        if isinstance(space, spaces.Dict) and "pixels" in space.spaces:
            space = space["pixels"]
        if not is_image_space(space):
            raise TaskError(
                f"{self.env_id} gives no images (observation space {env.observation_space}); render it with "
                "rgb_array frames, or use --text-only"
            )
        return space

    def image(self, env: gym.Env, observation: Any) -> np.ndarray:
        """The frame the model looks at: the observation, or its rendered ``"pixels"``."""
        return observation["pixels"] if isinstance(observation, dict) else observation

    def observation_text(self, env: gym.Env, observation: Any) -> str:
        """What the table shows, in words, for text-only agents (the env's ``describe()`` here)."""
        describe = getattr(env.unwrapped, "describe", None)
        if describe is None:
            raise TaskError(f"task {self.name!r} cannot put {self.env_id}'s observations into words")
        return describe()

    def instructions(self, env: gym.Env, text_only: bool) -> str:
        """The game and its actions, as the prompt's first paragraph. Override this."""
        raise NotImplementedError(f"{type(self).__name__} must say what the game is: override instructions()")

    def answer_fields(self, env: gym.Env) -> dict[str, str]:
        """The fields the answer holds before ``"thoughts"`` (what the model should read off the
        table), each with the placeholder the prompt shows; none by default."""
        return {}

    def thoughts_hint(self, env: gym.Env) -> str:
        """What the ``"thoughts"`` field should hold, as the prompt shows it."""
        return "think about the current state and decide the next action"

    def action_choices(self, env: gym.Env) -> str:
        """The ``"action"`` placeholder of the answer format: every action word, quoted."""
        words = [f'"{word}"' for word in self.action_words(env)]
        return " or ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + " or " + words[-1]

    def prompt(self, env: gym.Env, chain_of_thought: bool = True, text_only: bool = False, observation: Any = None) -> str:
        """The instruction of the current step: the game, the table in words when ``text_only``,
        and the exact JSON format of the answer (reading fields, ``"thoughts"``, then ``"action"``;
        ``"action"`` alone without chain of thought, the paper's ablation)."""
        lines = [self.instructions(env, text_only)]
        if text_only:
            lines.append(f"Table: {self.observation_text(env, observation)}")
        fields = {**self.answer_fields(env), "thoughts": self.thoughts_hint(env)} if chain_of_thought else {}
        template = ", ".join(
            [*(f'"{key}": "{value}"' for key, value in fields.items()), f'"action": {self.action_choices(env)}']
        )
        lines.append(f"Answer with one JSON object and nothing else, in this format: {{{template}}}")
        return "\n".join(lines)

    # ------------------------------------------------------------- demonstrations
    def expert(self, env: gym.Env) -> Advice | None:
        """The expert's move in the env's current state, with the facts behind it; None: the task
        has no expert (no demonstrations, no hints)."""
        return None

    def read_values(self, env: gym.Env, advice: Advice) -> dict[str, Any]:
        """The values of :meth:`answer_fields` in the current state, from the expert's facts."""
        return {}

    def answer(self, env: gym.Env, advice: Advice, chain_of_thought: bool = True) -> str:
        """The answer an expert writes for ``advice``: the reading fields, the reason as the
        thoughts, then the action word. Exactly the text the policy learns to write."""
        if not chain_of_thought:
            return answer_json({"action": advice.word})
        return answer_json({**self.read_values(env, advice), "thoughts": advice.reason, "action": advice.word})

    def mistake(self, env: gym.Env, advice: Advice, rng: np.random.Generator) -> Advice:
        """A plausible wrong move in place of ``advice``, with a reason in the expert's words, for
        deliberately weak demonstrations. By default: another action, the same reason."""
        words = self.action_words(env)
        start = discrete_start(env)  # Advice.action is the env's action: start + the word's index
        others = [i for i in range(len(words)) if start + i != advice.action]
        index = others[int(rng.integers(len(others)))]
        return Advice(start + index, words[index], advice.reason, advice.facts)

    # ------------------------------------------------------------------ outcomes
    def is_success(self, episode_return: float, info: Mapping[str, Any]) -> bool:
        """Whether a finished episode succeeded: the env's own ``info["is_success"]`` when its last
        step reports one (Stable-Baselines3's convention), else a positive return (the paper's
        count for the card games).

        :param info: the episode's last step info.
        """
        if info.get("is_success") is not None:
            return bool(info["is_success"])
        return episode_return > 0

    def episode_metrics(self, info: Mapping[str, Any]) -> dict[str, float]:
        """Extra numbers about a finished episode (keys from ``metrics``), averaged over the
        episodes that report them; from the episode's last step info. None by default."""
        return {}


UNLIMITED_EPISODE_STEPS = 1000
"""Steps after which an episode of an env without a time limit is refused: episodes are played to
their end (evaluation, the group methods, demonstrations), so an env that never ends would hang."""


def time_limit(env: gym.Env) -> int | None:
    """The env's own time limit: the ``max_episode_steps`` of a ``TimeLimit`` among its wrappers
    or of its spec; None: it has none."""
    limits = []
    layer = env
    while isinstance(layer, gym.Wrapper):
        if isinstance(layer, gym.wrappers.TimeLimit):
            limits.append(int(layer._max_episode_steps))
        layer = layer.env
    spec = getattr(env, "spec", None)
    if spec is not None and spec.max_episode_steps is not None:
        limits.append(int(spec.max_episode_steps))
    return min(limits) if limits else None


def episode_step_cap(env: gym.Env, unlimited: int = UNLIMITED_EPISODE_STEPS) -> int:
    """How many steps an episode of ``env`` may run before it is refused as endless: ``unlimited``
    without a time limit; with one, at least that limit, so a long limit (an Atari game's
    thousands of steps) is the env's to enforce."""
    limit = time_limit(env)
    return unlimited if limit is None else max(unlimited, limit)


def endless_episode(who: str, task_name: str, limit: int) -> str:
    """The one-line error for an episode that has not ended after ``limit`` steps."""
    return (
        f"{who}: an episode of task {task_name!r} has run {limit} steps without ending; episodes are played to "
        "their end, so give the env a time limit (gymnasium.wrappers.TimeLimit, or max_episode_steps when "
        "registering it)"
    )


def discrete_start(env: gym.Env) -> int:
    """The ``start`` of the ``Discrete`` action space under an agent env's text actions (the
    i-th action word is action ``start + i``); 0 when there is none."""
    layer = env
    while True:
        if isinstance(layer.action_space, spaces.Discrete):
            return int(layer.action_space.start)
        if not isinstance(layer, gym.Wrapper):
            return 0
        layer = layer.env


def answer_json(fields: Mapping[str, object]) -> str:
    """A JSON answer with the fields in the given order (``"action"`` last by convention)."""
    return json.dumps(dict(fields), ensure_ascii=True)


class AgentObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """``{"image": frame, "prompt": instruction}``; text-only agents get ``{"prompt"}`` with the
    table described in words inside the prompt. The task writes both."""

    def __init__(self, env: gym.Env, task: Task, chain_of_thought: bool = True, text_only: bool = False) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, task=task, chain_of_thought=chain_of_thought, text_only=text_only)
        super().__init__(env)
        self.task = task
        self.chain_of_thought = chain_of_thought
        self.text_only = text_only
        prompt_space = spaces.Text(max_length=PROMPT_MAX_LENGTH, min_length=0, charset=text_space().character_set)
        if text_only:
            self.observation_space = spaces.Dict({"prompt": prompt_space})
        else:
            self.observation_space = spaces.Dict({"image": task.image_space(env), "prompt": prompt_space})

    def observation(self, observation) -> dict:
        prompt = self.task.prompt(self.env, self.chain_of_thought, self.text_only, observation)
        check_prompt(prompt, self.task.name)
        if self.text_only:
            return {"prompt": prompt}
        return {"image": self.task.image(self.env, observation), "prompt": prompt}


PROMPT_CHARSET = frozenset(text_space().character_set)


def check_prompt(text: str, task_name: str, what: str = "prompt") -> None:
    """Refuse a prompt outside the agent env's declared ``Text`` space (printable ASCII, at most
    ``PROMPT_MAX_LENGTH`` characters), naming what falls outside, rather than hand Gymnasium's
    checkers and users observations that break the space's promise."""
    outside = sorted(set(text) - PROMPT_CHARSET)
    if outside:
        raise TaskError(
            f"task {task_name!r}: its {what} holds characters outside printable ASCII ({''.join(outside)!r}); "
            "the agent env's prompts are ASCII text, so write them in ASCII"
        )
    if len(text) > PROMPT_MAX_LENGTH:
        raise TaskError(f"task {task_name!r}: its {what} has {len(text)} characters, more than {PROMPT_MAX_LENGTH}")


def is_image_space(space: gym.Space) -> bool:
    """Whether observations of ``space`` are RGB frames (uint8 ``(H, W, 3)``)."""
    return isinstance(space, spaces.Box) and len(space.shape) == 3 and space.shape[-1] == 3 and space.dtype == np.uint8
