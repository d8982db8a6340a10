"""ALFWorld's episode metrics: success overall and per task type, goal-condition rate, illegal answers.

The env puts ``alfworld_won``, ``alfworld_goal_condition``, ``alfworld_illegal_rate`` and
``alfworld_task_type`` in the info of an episode's last step. :class:`AlfWorldEpisodes` collects
them (from single-env infos, or from a vector env's infos with same-step autoreset, where the
finished episode's info is under ``final_info``) and :meth:`AlfWorldEpisodes.summary` gives the
means, NaN where no episode of a kind finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vlm_ppo.alfworld.games import SHORT_NAMES, TASK_TYPES

ALFWORLD_METRICS = (
    "alfworld/success_rate",
    "alfworld/goal_condition_rate",
    "alfworld/illegal_action_rate",
    "alfworld/episodes",
    *(f"alfworld/success_rate/{SHORT_NAMES[t]}" for t in TASK_TYPES),
)
_KEYS = ("alfworld_won", "alfworld_goal_condition", "alfworld_illegal_rate", "alfworld_task_type")


@dataclass
class AlfWorldEpisodes:
    """Finished ALFWorld episodes, to summarise."""

    won: list[bool] = field(default_factory=list)
    goal_condition: list[float] = field(default_factory=list)
    illegal_rate: list[float] = field(default_factory=list)
    task_type: list[str] = field(default_factory=list)

    def add(self, won: bool, goal_condition: float, illegal_rate: float, task_type: str) -> None:
        self.won.append(bool(won))
        self.goal_condition.append(float(goal_condition))
        self.illegal_rate.append(float(illegal_rate))
        self.task_type.append(str(task_type))

    def add_info(self, info: dict) -> int:
        """Add the episodes that finished in this step's ``info`` (a single env's, or a vector
        env's); returns how many."""
        source = info.get("final_info", info)  # same-step autoreset keeps the last step there
        if "alfworld_won" not in source:
            return 0
        mask = source.get("_alfworld_won")
        if mask is None:  # a single env's info
            self.add(*(source[key] for key in _KEYS))
            return 1
        added = 0
        for env in np.flatnonzero(mask):
            self.add(*(source[key][env] for key in _KEYS))
            added += 1
        return added

    def summary(self) -> dict[str, float]:
        """The metrics of :data:`ALFWORLD_METRICS` over the episodes collected."""
        nan = float("nan")

        def mean(values) -> float:
            return float(np.mean(values)) if len(values) else nan

        out = {
            "alfworld/success_rate": mean(self.won),
            "alfworld/goal_condition_rate": mean(self.goal_condition),
            "alfworld/illegal_action_rate": mean(self.illegal_rate),
            "alfworld/episodes": float(len(self.won)),
        }
        for task_type in TASK_TYPES:
            out[f"alfworld/success_rate/{SHORT_NAMES[task_type]}"] = mean([w for w, t in zip(self.won, self.task_type) if t == task_type])
        return out

    def clear(self) -> None:
        for values in (self.won, self.goal_condition, self.illegal_rate, self.task_type):
            values.clear()
