"""Held-out evaluation: success rate (the task's rule: a positive return for the card games, a
win for ALFWorld), mean return, how often the model's answers could not be parsed, and the
task's extra metrics.

Evaluation episodes are reset with seeds from ``EVAL_SEED_OFFSET`` up; training episodes are
seeded below it (:func:`vlm_ppo.rollout.episode_seed`), so no evaluation episode is dealt like a
training one.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from vlm_ppo.policy import VLMPolicy
from vlm_ppo.rollout import EpisodeLog, GroupCollector, SeededEnvs, stack_observations
from vlm_ppo.tasks import Task
from vlm_ppo.tasks.task import endless_episode, episode_step_cap

EVAL_SEED_OFFSET = 1_000_000_000


@dataclass
class EvalResult:
    env_id: str
    model: str
    episodes: int
    seeds: list[int]
    success_rate: float
    mean_return: float
    parse_failure_rate: float
    returns: list[float] = field(repr=False)
    """One per episode, in seed order (episode k: seed seeds[0] + k)."""
    unfinished_answer_rate: float = float("nan")
    metrics: dict[str, float | None] = field(default_factory=dict)

    def to_json(self, path: str | Path) -> None:
        """Write the result as JSON; a number that is not finite (no episode reported it) is null."""
        Path(path).write_text(json.dumps(_finite_or_null(asdict(self)), indent=2, allow_nan=False))


def _finite_or_null(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_null(v) for v in value]
    return value


def evaluate_policy(
    policy: VLMPolicy,
    task: Task,
    episodes: int,
    seed: int = 0,
    batch: int = 8,
    chain_of_thought: bool = True,
    text_only: bool = False,
    env_kwargs: dict | None = None,
    model_name: str = "",
    progress: bool = True,
) -> EvalResult:
    """Play ``episodes`` episodes, ``batch`` at a time, episode ``k`` reset with seed
    ``EVAL_SEED_OFFSET + seed + k``.

    :param policy: the policy to evaluate (it samples at its own temperature).
    """
    if episodes < 1 or batch < 1:
        raise ValueError(f"need at least one episode and one env, got episodes={episodes}, batch={batch}")
    if seed < 0:
        raise ValueError(f"the evaluation seed must be non-negative, got {seed}")
    seeds = [EVAL_SEED_OFFSET + seed + k for k in range(episodes)]
    envs = SeededEnvs(lambda: task.make_agent_env(chain_of_thought, text_only, **(env_kwargs or {})), min(batch, episodes))
    cap = episode_step_cap(envs.envs[0], GroupCollector.MAX_EPISODE_STEPS)
    next_seed = iter(seeds)
    slot_seeds = [next(next_seed) for _ in range(len(envs))]
    observations = [envs.reset(i, slot_seeds[i]) for i in range(len(envs))]
    returns_by_seed: dict[int, float] = {}
    active = list(range(len(envs)))
    lengths = [0] * len(envs)  # steps of each slot's current episode
    log = EpisodeLog()
    bar = tqdm(total=episodes, unit="episode", desc="eval", disable=not progress)
    while active:
        images, prompts = stack_observations([observations[i] for i in active])
        rollout = policy.act(images, prompts)
        still_active = []
        for slot, answer, finished in zip(active, rollout.answers, rollout.finished):
            observation, _, terminated, truncated, info = envs.step(slot, answer)
            log.add_step(info, finished)
            lengths[slot] += 1
            if terminated or truncated:
                log.add_episode(task, info)
                returns_by_seed[slot_seeds[slot]] = log.returns[-1]
                bar.update(1)
                lengths[slot] = 0
                seed_for_slot = next(next_seed, None)
                if seed_for_slot is None:
                    continue
                slot_seeds[slot] = seed_for_slot
                observation = envs.reset(slot, seed_for_slot)
            elif lengths[slot] >= cap:
                bar.close()
                envs.close()
                raise ValueError(endless_episode("eval", task.name, cap))
            observations[slot] = observation
            still_active.append(slot)
        active = still_active
    bar.close()
    envs.close()
    summary = log.summary(task)
    return EvalResult(
        env_id=task.name,
        model=model_name,
        episodes=len(log.returns),
        seeds=[seeds[0], seeds[-1]],
        success_rate=summary["charts/success_rate"],
        mean_return=summary["charts/episodic_return"],
        parse_failure_rate=summary["charts/parse_failure_rate"],
        returns=[returns_by_seed[s] for s in seeds],  # in seed order, whichever episode finished first
        unfinished_answer_rate=summary["charts/unfinished_answer_rate"],
        metrics={name: summary[name] for name in task.metrics},
    )
