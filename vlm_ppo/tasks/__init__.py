"""Tasks: what the agent side knows about an env, registered by name (see :mod:`vlm_ppo.tasks.task`).

``make_task(name)`` finds a task three ways: a registered name (the four gym_cards games,
``alfworld/ALFWorld-v0`` alias ``alfworld``, and whatever ``register_task`` added); a
``module:factory`` reference, which imports ``module`` and calls ``factory()`` for a
:class:`Task`; or any Gymnasium env id together with its action words and a description, which
makes a :class:`GymTask` without code.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Sequence

import gymnasium as gym

from gym_cards.experts import Advice
from vlm_ppo.tasks.generic import GymTask, env_spec
from vlm_ppo.tasks.gym_cards import GYM_CARDS_TASKS
from vlm_ppo.tasks.task import AgentObservation, Task, TaskError, answer_json

__all__ = [
    "Advice",
    "AgentObservation",
    "GymTask",
    "Task",
    "TaskError",
    "answer_json",
    "imported_module",
    "make_task",
    "refuse_unasked_import",
    "register_task",
    "task_names",
]

_TASKS: dict[str, Task] = {}
_ALIASES: dict[str, str] = {}
_builtins_registered = False
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def register_task(task: Task, aliases: Sequence[str] = (), replace: bool = False) -> Task:
    """Make ``task`` available under ``task.name`` (and ``aliases``) to :func:`make_task`, the
    trainer, evaluation, ``sft-data`` and the command line; returns it.

    :param replace: allow replacing a task already registered under that name.
    """
    _register_builtins()
    return _register(task, aliases, replace)


def _register(task: Task, aliases: Sequence[str] = (), replace: bool = False) -> Task:
    if not isinstance(task, Task):
        raise TaskError(f"register_task takes a Task, got {type(task).__name__}")
    for name in (task.name, *aliases):
        if not replace and (name in _TASKS or name in _ALIASES):
            raise TaskError(f"a task named {name!r} is already registered; pass replace=True to replace it")
    _TASKS[task.name] = task
    _ALIASES.update({alias: task.name for alias in aliases})
    return task


def task_names() -> list[str]:
    """The registered task names (aliases not included)."""
    _register_builtins()
    return sorted(_TASKS)


def make_task(name: str, action_words: Sequence[str] | None = None, description: str | None = None) -> Task:
    """The task for ``name`` (see the module docstring); a :class:`TaskError` saying what is
    missing otherwise.

    :param action_words: for a Gymnasium env id: the word of each action, in order.
    :param description: for a Gymnasium env id: what the task is.
    """
    if not isinstance(name, str) or not name:
        raise TaskError(f"a task name must be a non-empty string, got {name!r}")
    _register_builtins()
    registered = _TASKS.get(_ALIASES.get(name, name))
    if registered is not None:
        if action_words or description:
            raise TaskError(
                f"task {name!r} has its own action words and prompt; --action-words and --task-description are "
                "for Gymnasium env ids"
            )
        return registered
    if _FACTORY.match(name):
        task = _from_factory(name)
        if task is not None:
            return task
    try:
        env_spec(name)
    except (gym.error.Error, ModuleNotFoundError) as error:
        raise TaskError(
            f"unknown task {name!r} ({error}): use a registered task ({', '.join(task_names())}), "
            "module:factory for your own Task, or a Gymnasium env id with --action-words and --task-description"
        ) from None
    return GymTask(name, action_words or (), description or "")


def imported_module(name: str) -> str | None:
    """The module that building the task ``name`` would import, and so run: ``module`` of
    ``module:factory`` or of a Gymnasium id ``module:Env-v0``, unless it is imported already
    (``gym_cards:gym_cards/NumberLine-v0`` runs nothing new); None for a registered task or a
    plain env id. A name read from a checkpoint someone handed over must not run their code
    unasked, so eval and resume ask for such a task to be given again."""
    _register_builtins()
    if not isinstance(name, str) or _ALIASES.get(name, name) in _TASKS or ":" not in name:
        return None
    module = name.split(":", 1)[0]
    return None if module in sys.modules else module


def refuse_unasked_import(name: str, checkpoint) -> None:
    """A :class:`TaskError` when the task ``name`` that ``checkpoint`` records would import new
    code (:func:`imported_module`): eval and resume build it only when it is given again."""
    module = imported_module(name)
    if module is not None:
        raise TaskError(
            f"{checkpoint}'s task {name!r} imports the module {module!r}, which runs its code: give it again "
            f"(--task {name}; task={name!r} from Python) to confirm"
        )


def _from_factory(reference: str) -> Task | None:
    """The task ``module:factory`` makes; None when ``module`` has no such attribute but registered
    a Gymnasium env of that name (an unversioned id such as ``my_envs:Plain`` is both forms)."""
    module_name, factory_name = reference.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise TaskError(f"cannot import {module_name!r} for the task {reference!r}: {error}") from None
    factory = getattr(module, factory_name, None)
    env_class = isinstance(factory, type) and issubclass(factory, gym.Env)
    if factory_name in gym.registry and (factory is None or env_class):  # an env id, its class often of that name
        return None
    if not callable(factory):
        raise TaskError(f"{module_name} has no callable {factory_name!r} to make the task {reference!r}")
    try:
        task = factory()
    except Exception as error:  # the user's code: one line that names it (a class given for its factory, say)
        raise TaskError(f"{reference}() failed: {type(error).__name__}: {error}") from None
    if not isinstance(task, Task):
        raise TaskError(f"{reference} returned {type(task).__name__}, not a vlm_ppo.tasks.Task")
    return task


def _register_builtins() -> None:
    """The four games and ALFWorld, registered on first use (ALFWorld's task module imports this
    package, so it cannot be imported while this package is)."""
    global _builtins_registered
    if _builtins_registered:
        return
    _builtins_registered = True
    from vlm_ppo.alfworld.task import ALFWORLD_TASK

    for task in GYM_CARDS_TASKS:
        _register(task)
    _register(ALFWORLD_TASK, aliases=("alfworld",))
