"""Held-out evaluation: success rate (return > 0, as the paper counts it for the card games; a
win for ALFWorld), mean return, and how often the model's answers could not be parsed.

Evaluation episodes are reset with seeds from ``EVAL_SEED_OFFSET`` up, far from the small seeds
training resets its envs with, so no evaluation episode is seeded like a training one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from vlm_ppo.agent_env import make_agent_env
from vlm_ppo.policy import VLMPolicy

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

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2))


def evaluate_policy(
    policy: VLMPolicy,
    env_id: str,
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
    seeds = [EVAL_SEED_OFFSET + seed + k for k in range(episodes)]
    envs = [make_agent_env(env_id, chain_of_thought, text_only, **(env_kwargs or {})) for _ in range(min(batch, episodes))]
    next_seed = iter(seeds)
    observations = [env.reset(seed=next(next_seed))[0] for env in envs]
    active = list(range(len(envs)))
    totals = np.zeros(len(envs))
    returns: list[float] = []
    successes: list[bool] = []
    parsed: list[bool] = []
    bar = tqdm(total=episodes, unit="episode", desc="eval", disable=not progress)
    while active:
        images = np.stack([observations[i]["image"] for i in active]) if not text_only else None
        answers = policy.act(images, [observations[i]["prompt"] for i in active]).answers
        still_active = []
        for slot, answer in zip(active, answers):
            observation, reward, terminated, truncated, info = envs[slot].step(answer)
            totals[slot] += reward
            parsed.append(bool(info["action_parsed"]))
            if terminated or truncated:
                returns.append(float(totals[slot]))
                successes.append(bool(info["alfworld_won"]) if "alfworld_won" in info else totals[slot] > 0)
                totals[slot] = 0.0
                bar.update(1)
                seed_for_slot = next(next_seed, None)
                if seed_for_slot is None:
                    continue
                observation, _ = envs[slot].reset(seed=seed_for_slot)
            observations[slot] = observation
            still_active.append(slot)
        active = still_active
    bar.close()
    outcome = np.array(returns)
    return EvalResult(
        env_id=env_id,
        model=model_name,
        episodes=len(returns),
        seeds=[seeds[0], seeds[-1]],
        success_rate=float(np.mean(successes)),
        mean_return=float(np.mean(outcome)),
        parse_failure_rate=1.0 - float(np.mean(parsed)),
        returns=returns,
    )
