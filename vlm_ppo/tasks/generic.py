"""Any Gymnasium env with a ``Discrete`` action space, as a task, without writing code.

The user names the action words (one per action, in order) and describes the task in a sentence
or two; the model sees the env's ``rgb_array`` frames (or, text-only, the observation when it is
text, else the env's ``ansi`` rendering). For example Gymnasium's FrozenLake::

    vlm-ppo train --task FrozenLake-v1 --env-kwargs '{is_slippery: false}' \\
        --action-words left down right up \\
        --task-description "You walk on a frozen lake from the start to the goal without falling into a hole."
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
from gymnasium import spaces

from vlm_ppo.tasks.task import Task, TaskError, check_prompt, is_image_space


class GymTask(Task):
    """A task for a Gymnasium env from its action words and a description.

    :param env_id: the Gymnasium id (it must be registered: ``module:Env-v0`` imports ``module`` first).
    :param action_words: one word per action of the env's ``Discrete`` action space, in order.
    :param description: what the task is, for the prompt; the actions are listed after it.
    :param env_kwargs: default keyword arguments for ``gym.make``.
    :param preset: training settings that suit the task.
    """

    def __init__(
        self,
        env_id: str,
        action_words: Sequence[str],
        description: str,
        env_kwargs: Mapping[str, Any] | None = None,
        preset: Mapping[str, Any] | None = None,
    ) -> None:
        if not action_words:
            raise TaskError(
                f"{env_id} is not a registered task: give its action words (--action-words, one per action) and "
                "a --task-description"
            )
        if not description or not description.strip():
            raise TaskError(f"{env_id} needs a task description (--task-description): the prompt says what the task is")
        check_prompt(description.strip(), env_id, "--task-description")
        super().__init__(name=env_id, env_id=env_id, env_kwargs=env_kwargs, action_words=action_words, preset=preset)
        self.description = description.strip()

    def make_env(self, text_only: bool = False, **env_kwargs) -> gym.Env:
        """The env, rendering what its observations lack: ``rgb_array`` frames for image agents
        (added to the observation, see :meth:`Task.make_env`), ``ansi`` text for text-only agents
        whose observations are not text."""
        kwargs = {**self.env_kwargs, **env_kwargs}
        spec = _spec(self.env_id)
        modes = _metadata(spec).get("render_modes", ()) if spec is not None else ()
        wanted = "ansi" if text_only else "rgb_array"
        if "render_mode" not in kwargs and wanted in modes:
            kwargs["render_mode"] = wanted
        env = super().make_env(text_only, **kwargs)
        if text_only and not isinstance(env.observation_space, spaces.Text) and env.render_mode != "ansi":
            env.close()
            raise TaskError(
                f"{self.env_id} has neither text observations nor an 'ansi' render mode, so a text-only agent cannot read it"
            )
        if not text_only and not isinstance(env.observation_space, spaces.Dict) and not is_image_space(env.observation_space):
            env.close()
            if env.render_mode is not None and env.render_mode != "rgb_array":
                raise TaskError(
                    f"{self.env_id} has no image observations and render_mode {env.render_mode!r} gives the model no "
                    "frames: leave render_mode out (rgb_array is chosen where the env has it), or use --text-only"
                )
            raise TaskError(
                f"{self.env_id} has no image observations and renders no 'rgb_array' frames (render modes: "
                f"{list(modes) or 'unknown'}); pass --env-kwargs '{{render_mode: rgb_array}}' if it has them, or use "
                "--text-only"
            )
        return env

    def instructions(self, env: gym.Env, text_only: bool) -> str:
        actions = ", ".join(f'"{word}"' for word in self.action_words(env))
        seen = "The table below describes the current state." if text_only else "The image shows the current state."
        return f"{self.description} {seen} Actions: {actions}."

    def observation_text(self, env: gym.Env, observation: Any) -> str:
        if isinstance(observation, str):
            return observation
        return plain_text(str(env.render())).strip()


# An ANSI colour sequence that is not a reset, the text it colours, and the reset after it.
_HIGHLIGHT = re.compile(r"\x1b\[(?!0?m)[0-9;]*m(.*?)\x1b\[0?m", re.DOTALL)
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain_text(rendered: str) -> str:
    """A terminal rendering without its escape codes, each coloured stretch kept in brackets:
    FrozenLake and Taxi mark where the agent stands only by colour, which a tokenizer would
    otherwise get as ``\\x1b[41m`` noise."""
    return _ESCAPE.sub("", _HIGHLIGHT.sub(lambda match: f"[{match.group(1)}]", rendered))


def env_spec(env_id: str):
    """``gym.spec`` of an env id, importing the module of a ``module:EnvId-v0`` id first, as
    ``gym.make`` does (``gym.spec`` alone does not, so a user's own module would go unregistered)."""
    module, _, bare = env_id.rpartition(":")
    if module:
        importlib.import_module(module)
    return gym.spec(bare)


def _spec(env_id: str):
    try:
        return env_spec(env_id)
    except (gym.error.Error, ModuleNotFoundError):
        return None


def _metadata(spec) -> dict:
    """The env class's metadata (render modes) without making an env."""
    try:
        creator = (
            gym.envs.registration.load_env_creator(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
        )
    except (ImportError, AttributeError, ValueError, gym.error.Error):  # gym.make then says what is missing
        return {}
    return getattr(creator, "metadata", {}) or {}
