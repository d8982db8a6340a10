"""Rollout collection: the policy plays its envs and fills a buffer that an algorithm consumes.

Every episode starts from a seed chosen here, never from an env's leftover generator state, so
the envs' whole state is data: each env's episode seed and the answers given since its reset.
A checkpoint stores that, and a resumed run replays it (:class:`SeededEnvs`); nothing is
pickled. The envs are a plain list rather than a Gymnasium vector env because collection needs
what those do not offer: a seed for every episode, and (for group rollouts) stepping only the
envs whose episodes are still running.

Training episodes are seeded below 10^9 (:func:`episode_seed`); evaluation's start at 10^9
(:data:`vlm_ppo.evaluation.EVAL_SEED_OFFSET`), so no evaluation episode is dealt like a training
one.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from vlm_ppo.buffer import VLMRolloutBuffer, bootstrap_truncated
from vlm_ppo.group_advantages import anchor_key, gigpo_advantages, grpo_advantages, rloo_advantages
from vlm_ppo.tasks import Task
from vlm_ppo.tasks.task import UNLIMITED_EPISODE_STEPS, endless_episode, episode_step_cap

TRAIN_SEED_LIMIT = 10**9


def episode_seed(seed: int, *stream: int) -> int:
    """The reset seed of one training episode: ``seed`` and the episode's coordinates (rank, env,
    episode number, ...) mixed by NumPy's ``SeedSequence``, below 10^9."""
    return int(np.random.SeedSequence([seed, *stream]).generate_state(1, np.uint64)[0] % TRAIN_SEED_LIMIT)


class SeededEnvs:
    """Agent envs whose episodes start from given seeds, with their state as data.

    :param make_env: makes one agent env (``{"image", "prompt"}`` observations, answer actions).
    :param count: how many envs.
    """

    def __init__(self, make_env: Callable[[], gym.Env], count: int) -> None:
        self.envs = [make_env() for _ in range(count)]
        self.seeds: list[int | None] = [None] * count
        self.answers: list[list[str]] = [[] for _ in range(count)]
        self.views: list[str | None] = [None] * count  # what each env shows now, hashed (anchor_key)

    def __len__(self) -> int:
        return len(self.envs)

    def reset(self, index: int, seed: int) -> dict:
        """Start env ``index``'s next episode from ``seed``; returns its first observation."""
        self.seeds[index], self.answers[index] = int(seed), []
        observation, _ = self.envs[index].reset(seed=int(seed))
        self.views[index] = _view(observation)
        return observation

    def step(self, index: int, answer: str):
        """Env ``index`` takes ``answer``; Gymnasium's ``(observation, reward, terminated, truncated, info)``."""
        self.answers[index].append(answer)
        result = self.envs[index].step(answer)
        self.views[index] = _view(result[0])
        return result

    def state(self) -> list[dict[str, Any]]:
        """Every env's episode seed, the answers it has taken since, and a hash of what it shows."""
        return [
            {"seed": seed, "answers": list(answers), "view": view}
            for seed, answers, view in zip(self.seeds, self.answers, self.views)
        ]

    def restore(self, states: Sequence[dict[str, Any]]) -> list[dict | None]:
        """Replay :meth:`state`: reset each env with its seed and take its answers again; returns
        the observations the envs are at (None for an env that had not started). Warns when an
        env does not come back to what it showed: it does not honour ``reset(seed=...)`` (or draws
        from a generator the seed does not reach), so the run continues, but not exactly."""
        if len(states) != len(self.envs):
            raise ValueError(f"the saved state holds {len(states)} envs, this run has {len(self.envs)}")
        observations: list[dict | None] = []
        differ = 0
        for index, state in enumerate(states):
            if state["seed"] is None:
                observations.append(None)
                continue
            observation = self.reset(index, state["seed"])
            for answer in state["answers"]:
                observation, *_ = self.step(index, answer)
            observations.append(observation)
            differ += state.get("view") is not None and state["view"] != self.views[index]
        if differ:
            warnings.warn(
                f"{differ} of {len(states)} envs replayed from their seeds and answers show another state than "
                "when they were saved: the env does not honour reset(seed=...) (or draws from a generator the seed "
                "does not reach), so this resume is not exact",
                stacklevel=2,
            )
        return observations

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _view(observation: dict) -> str:
    """A hash of what an agent env's observation shows (its image and prompt)."""
    return anchor_key(observation.get("image"), observation["prompt"])


def stack_observations(observations: Sequence[dict]) -> tuple[np.ndarray | None, list[str]]:
    """(images ``[B, H, W, 3]`` or None for text-only agents, prompts) of a batch of observations."""
    images = np.stack([o["image"] for o in observations]) if "image" in observations[0] else None
    return images, [o["prompt"] for o in observations]


@dataclass
class EpisodeLog:
    """Finished episodes and every answer's parse result, for the metrics."""

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    successes: list[bool] = field(default_factory=list)
    parsed: list[bool] = field(default_factory=list)
    finished: list[bool] = field(default_factory=list)
    extra: list[dict[str, float]] = field(default_factory=list)

    def add_step(self, info: dict, finished: bool = True) -> None:
        """One answer: whether the env could read its action, and whether it ended by itself
        (rather than being cut at ``max_new_tokens``)."""
        self.parsed.append(bool(info.get("action_parsed", True)))
        self.finished.append(bool(finished))

    def add_episode(self, task: Task, info: dict) -> None:
        episode = info["episode"]
        self.returns.append(float(episode["r"]))
        self.lengths.append(int(episode["l"]))
        self.successes.append(bool(task.is_success(float(episode["r"]), info)))
        self.extra.append(task.episode_metrics(info))

    def summary(self, task: Task, gather: Callable[[list], list] = lambda values: values) -> dict[str, float]:
        """Means over the episodes of every process (``gather`` collects lists across them)."""
        returns, lengths, successes, parsed, finished, extra = (
            gather(list(x)) for x in (self.returns, self.lengths, self.successes, self.parsed, self.finished, self.extra)
        )

        def mean(values) -> float:
            return float(np.mean(values)) if len(values) else float("nan")

        stats = {
            "charts/episodic_return": mean(returns),
            "charts/success_rate": mean(successes),
            "charts/episode_length": mean(lengths),
            "charts/episodes": float(len(returns)),
            "charts/parse_failure_rate": 1.0 - mean(parsed) if parsed else float("nan"),
            "charts/unfinished_answer_rate": 1.0 - mean(finished) if finished else float("nan"),
        }
        for name in task.metrics:
            stats[name] = mean([episode[name] for episode in extra if name in episode])
        return stats


class StepCollector:
    """PPO's rollouts: every env plays ``num_steps`` steps per update, episodes running on across
    updates; GAE (SB3's) turns the rewards and values into advantages.

    :param task: what counts as success, and the extra metrics.
    :param envs: the envs (one process's).
    :param seed: the run's seed; env ``i`` of process ``rank`` plays episode ``k`` from
        ``episode_seed(seed, rank, i, k)``.
    :param rank: this process's index.
    """

    def __init__(self, task: Task, envs: SeededEnvs, buffer: VLMRolloutBuffer, seed: int, rank: int, gamma: float) -> None:
        self.task, self.envs, self.buffer = task, envs, buffer
        self.groups_all_equal = float("nan")  # group methods only
        self.seed, self.rank, self.gamma = seed, rank, gamma
        self.episodes = [0] * len(envs)
        self.observations = [self._start(i) for i in range(len(envs))]
        self.episode_starts = np.ones(len(envs), dtype=bool)

    def _start(self, index: int) -> dict:
        observation = self.envs.reset(index, episode_seed(self.seed, self.rank, index, self.episodes[index]))
        self.episodes[index] += 1
        return observation

    def state(self) -> dict[str, Any]:
        return {"envs": self.envs.state(), "episodes": list(self.episodes), "episode_starts": self.episode_starts.tolist()}

    def restore(self, state: dict[str, Any]) -> None:
        self.observations = self.envs.restore(state["envs"])
        self.episodes = list(state["episodes"])
        self.episode_starts = np.asarray(state["episode_starts"], dtype=bool)

    @torch.no_grad()
    def collect(self, policy, num_steps: int, kl_coef: float, on_step: Callable[[int], None] = lambda n: None) -> EpisodeLog:
        """Fill the buffer with ``num_steps`` steps of every env and compute its advantages."""
        log = EpisodeLog()
        self.buffer.reset()
        count = len(self.envs)
        for _ in range(num_steps):
            images, prompts = stack_observations(self.observations)
            step = policy.act(images, prompts)
            reference = policy.reference_log_probs(images, prompts, step.tokens, step.token_mask) if kl_coef else None
            rewards = np.zeros(count, dtype=np.float32)
            cut_short = np.zeros(count, dtype=bool)
            done = np.zeros(count, dtype=bool)
            finals: list[dict] = []
            for i, answer in enumerate(step.answers):
                observation, reward, terminated, truncated, info = self.envs.step(i, answer)
                rewards[i] = reward
                log.add_step(info, step.finished[i])
                done[i] = terminated or truncated
                if done[i]:
                    log.add_episode(self.task, info)
                    if truncated and not terminated:  # bootstrap with the value of the observation the time limit cut off
                        cut_short[i] = True
                        finals.append(observation)
                    observation = self._start(i)
                self.observations[i] = observation
            if cut_short.any():
                final_images, final_prompts = stack_observations(finals)
                terminal_values = np.zeros(count, dtype=np.float32)
                terminal_values[cut_short] = policy.value(final_images, final_prompts)
                rewards = bootstrap_truncated(rewards, cut_short, terminal_values, self.gamma)
            self.buffer.add(
                images,
                prompts,
                step.tokens,
                step.token_mask,
                step.action_mask,
                rewards,
                self.episode_starts,
                step.values,
                step.log_probs,
                ref_token_log_probs=reference,
            )
            self.episode_starts = done
            on_step(count)
        images, prompts = stack_observations(self.observations)
        self.buffer.compute_returns_and_advantage(torch.as_tensor(policy.value(images, prompts)), self.episode_starts)
        return log


@dataclass
class _Step:
    """One answered step of a group rollout, until the advantages are known."""

    image: np.ndarray | None
    prompt: str
    tokens: np.ndarray
    token_mask: np.ndarray
    action_mask: np.ndarray
    log_prob: float
    token_log_probs: np.ndarray
    reference: np.ndarray | None
    reward: float
    episode: int
    anchor: str


GROUP_ALGORITHMS = ("grpo", "rloo", "gigpo")


class GroupCollector:
    """Rollouts of the critic-free group methods (:mod:`vlm_ppo.group_advantages`): each update,
    ``groups`` groups of ``group_size`` envs, every env of a group reset with the same seed
    (``episode_seed(seed, rank, GROUP_STREAM, update, group)``), play their episodes to the end;
    then every step gets its episode's (GiGPO: plus its anchor state's) advantage and the buffer
    is filled, one sample per step.

    :param algo: ``"grpo"``, ``"rloo"`` or ``"gigpo"``.
    :param scale_std: divide by the group's std (GRPO's, GiGPO's); False: Dr. GRPO's mean-centring.
    :param step_coef: GiGPO's ω.
    :param gamma: the discount of GiGPO's step-level returns.
    :param make_buffer: makes an empty buffer for a given number of samples.
    :param same_size: the largest sample count over the processes (identity for one process);
        a process with fewer samples repeats some of its own, so that every process runs the same
        number of minibatches (as verl-agent pads its batches).
    """

    GROUP_STREAM = 0x6A0
    MAX_EPISODE_STEPS = UNLIMITED_EPISODE_STEPS
    """Longer episodes of an env without a time limit are refused (:func:`episode_step_cap`):
    groups are played to their end, so an env that never ends would otherwise hang the run with
    its buffer growing (evaluation refuses them too)."""

    def __init__(
        self,
        task: Task,
        envs: SeededEnvs,
        groups: int,
        group_size: int,
        seed: int,
        rank: int,
        algo: str,
        scale_std: bool,
        step_coef: float,
        gamma: float,
        make_buffer: Callable[[int], VLMRolloutBuffer],
        same_size: Callable[[int], int] = lambda n: n,
    ) -> None:
        if algo not in GROUP_ALGORITHMS:
            raise ValueError(f"algo must be one of {GROUP_ALGORITHMS}, got {algo!r}")
        if group_size < 2 or groups < 1:
            raise ValueError(f"a group method needs groups of at least 2 episodes, got {groups} group(s) of {group_size}")
        if len(envs) != groups * group_size:
            raise ValueError(f"{groups} groups of {group_size} need {groups * group_size} envs, got {len(envs)}")
        self.task, self.envs, self.groups, self.group_size = task, envs, groups, group_size
        self.seed, self.rank, self.algo = seed, rank, algo
        self.scale_std, self.step_coef, self.gamma = scale_std, step_coef, gamma
        self.make_buffer, self.same_size = make_buffer, same_size
        self.rollouts = 0
        self.buffer: VLMRolloutBuffer | None = None
        self.groups_all_equal = float("nan")
        self.anchor_counts = (0, 0)  # GiGPO: (steps whose state recurs in their group, steps)

    def state(self) -> dict[str, Any]:
        return {"rollouts": self.rollouts}

    def restore(self, state: dict[str, Any]) -> None:
        self.rollouts = int(state["rollouts"])

    @torch.no_grad()
    def collect(
        self, policy, kl_coef: float, rng: np.random.Generator, on_step: Callable[[int], None] = lambda n: None
    ) -> EpisodeLog:
        """Play one update's groups to their end and fill :attr:`buffer`; returns the episodes."""
        log = EpisodeLog()
        observations: list[dict | None] = []
        for env in range(len(self.envs)):
            group = env // self.group_size
            observations.append(
                self.envs.reset(env, episode_seed(self.seed, self.rank, self.GROUP_STREAM, self.rollouts, group))
            )
        self.rollouts += 1
        steps: list[_Step] = []
        returns = np.zeros(len(self.envs))
        active = list(range(len(self.envs)))
        length = 0  # every group starts together: the longest episode so far
        cap = episode_step_cap(self.envs.envs[0], self.MAX_EPISODE_STEPS)
        while active:
            length += 1
            images, prompts = stack_observations([observations[i] for i in active])
            answer = policy.act(images, prompts)
            reference = policy.reference_log_probs(images, prompts, answer.tokens, answer.token_mask) if kl_coef else None
            still_active = []
            for row, env in enumerate(active):
                image = None if images is None else images[row]
                observation, reward, terminated, truncated, info = self.envs.step(env, answer.answers[row])
                log.add_step(info, answer.finished[row])
                steps.append(
                    _Step(
                        image,
                        prompts[row],
                        answer.tokens[row],
                        answer.token_mask[row],
                        answer.action_mask[row],
                        float(answer.log_probs[row]),
                        answer.token_log_probs[row],
                        None if reference is None else reference[row],
                        float(reward),
                        env,
                        anchor_key(image, prompts[row]),
                    )
                )
                returns[env] += reward
                if terminated or truncated:
                    log.add_episode(self.task, info)
                else:
                    observations[env] = observation
                    still_active.append(env)
            on_step(len(active))
            active = still_active
            if active and length >= cap:
                raise ValueError(endless_episode(self.algo, self.task.name, cap))
        advantages = self._advantages(steps, returns)
        self.buffer = self._fill(steps, advantages, rng)
        return log

    def _advantages(self, steps: list[_Step], returns: np.ndarray) -> np.ndarray:
        groups = np.arange(len(self.envs)) // self.group_size
        episode = np.asarray([step.episode for step in steps])
        self.groups_all_equal = float(np.mean([np.ptp(returns[groups == g]) == 0 for g in range(self.groups)]))
        if self.algo == "grpo":
            return grpo_advantages(returns, groups, self.scale_std)[episode]
        if self.algo == "rloo":
            return rloo_advantages(returns, groups)[episode]
        rewards = np.asarray([step.reward for step in steps])
        # Without recurring states GiGPO's step level is 0 everywhere and it is GRPO: a prompt
        # holding history or a step counter, or a renderer that is not pixel-exact, does that silently.
        keys = [f"{groups[step.episode]}/{step.anchor}" for step in steps]
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        self.anchor_counts = (int((counts[inverse] > 1).sum()), len(steps))
        return gigpo_advantages(
            returns, groups, episode, rewards, [step.anchor for step in steps], self.gamma, self.step_coef, self.scale_std
        )

    def _fill(self, steps: list[_Step], advantages: np.ndarray, rng: np.random.Generator) -> VLMRolloutBuffer:
        order = list(range(len(steps)))
        target = self.same_size(len(order))
        if target > len(order):
            order += rng.choice(len(steps), size=target - len(order)).tolist()
        buffer = self.make_buffer(len(order))
        for index in order:
            step = steps[index]
            buffer.add(
                None if step.image is None else step.image[None],
                [step.prompt],
                step.tokens[None],
                step.token_mask[None],
                step.action_mask[None],
                np.zeros(1, np.float32),
                np.ones(1, bool),
                np.full(1, np.nan, np.float32),
                np.asarray([step.log_prob], np.float32),
                ref_token_log_probs=None if step.reference is None else step.reference[None],
                token_log_probs=step.token_log_probs[None],
            )
        buffer.advantages[:, 0] = advantages[order]
        buffer.returns[:, 0] = advantages[order]  # no critic learns from them; kept finite for SB3's arrays
        return buffer
