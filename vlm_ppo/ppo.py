"""The PPO update of RL4VLM (Zhai et al. 2024), written to be checked against the paper.

The policy is a VLM that writes an answer: thoughts, then an ``"action"``. The paper scores an
answer with ``log π(answer) = λ · Σ log p(thought tokens) + Σ log p(action tokens)`` (λ =
``thought_coef``, 0.5 in the paper): a long chain of thought would otherwise dominate the ratio
and the action, the part the env sees, would barely move it. The rest is standard PPO with a value
head, in the same order as CleanRL's ``ppo.py``:

1. log p of each generated token at the sampling temperature (``vlm_ppo.model_io.token_log_probs``).
2. ``sequence_log_prob``: the λ-weighted sum above.
3. ``ppo_loss``: clipped surrogate + ``value_coef`` · value loss (+ ``kl_coef`` · ``reference_kl``,
   off in the paper). No entropy bonus: RL4VLM has none, and a generated sequence's entropy is
   not available from one forward pass.
4. ``ppo_update``: epochs over shuffled minibatches, gradient accumulation, clipping, then one
   learning-rate step per update (``vlm_ppo.run.cosine_schedule``, cosine over *updates* as in the paper).

Advantages are normalised per minibatch (CleanRL/SB3), except when a minibatch holds one sample,
the paper's setting (minibatch 1 with gradient accumulation) or the last of an uneven split: then
they are normalised once over the whole rollout, as RL4VLM's code does, since normalising a
single number makes it zero. With
several processes the rollout is every process's together; a minibatch is one process's own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np
import torch
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.utils import explained_variance

from vlm_ppo.buffer import VLMRolloutBuffer, VLMRolloutSamples

if TYPE_CHECKING:
    from accelerate import Accelerator

__all__ = [
    "NonFiniteError",
    "PPOLoss",
    "ScoringPolicy",
    "UpdateSettings",
    "explained_variance",
    "mean_answer_weight",
    "normalize_advantages",
    "ppo_loss",
    "ppo_update",
    "reference_kl",
    "sequence_log_prob",
    "token_level_loss",
    "token_reference_kl",
]


class NonFiniteError(RuntimeError):
    """A loss or gradient went NaN or infinite: the update stops before any weight takes it."""


@dataclass(frozen=True)
class UpdateSettings:
    """The update's hyperparameters, as one object (see :class:`vlm_ppo.config.TrainConfig` for
    each field's meaning; :meth:`from_config` takes them from there)."""

    ppo_epochs: int = 4
    minibatch_size: int = 1
    grad_accum_steps: int = 128
    clip_range: float = 0.1
    clip_range_vf: float | None = None
    value_coef: float = 0.5
    max_grad_norm: float = 0.01
    normalize_advantage: bool = True
    thought_coef: float = 0.5
    target_kl: float | None = None
    kl_coef: float = 0.0
    dual_clip: float | None = None
    critic: bool = True
    """False for critic-free algorithms: no value loss, the token-level objective, and advantages
    taken as they are (already normalised within their groups)."""

    @classmethod
    def from_config(cls, config) -> UpdateSettings:
        critic = config.algo == "ppo"
        return cls(**{f.name: getattr(config, f.name) for f in fields(cls) if f.name != "critic"}, critic=critic)


class ScoringPolicy(Protocol):
    """What ``ppo_update`` needs from a policy: re-scoring stored answers and its parameters.

    Scoring goes through ``__call__`` (``forward``), not a named method, because distributed
    data parallel only synchronises gradients of work done inside ``forward``.
    """

    def __call__(self, samples: VLMRolloutSamples) -> tuple[torch.Tensor, torch.Tensor]:
        """Return float32 token log-probs ``[B, T]`` (already at the sampling temperature) of
        ``samples.tokens`` and values ``[B]`` of the samples' observations."""
        ...

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...


def sequence_log_prob(
    token_log_probs: torch.Tensor, token_mask: torch.Tensor, action_mask: torch.Tensor, thought_coef: float
) -> torch.Tensor:
    """The paper's log π(answer): ``λ · Σ log p(thought tokens) + Σ log p(action tokens)``.

    Thought tokens are ``token_mask & ~action_mask``, action tokens ``token_mask & action_mask``;
    padding contributes nothing (not even a NaN it may hold).

    :param token_log_probs: ``[B, T]`` per-token log-probs.
    :param token_mask: ``[B, T]`` true for real answer tokens.
    :param action_mask: ``[B, T]`` true from the ``"action"`` key on.
    :param thought_coef: λ, the weight of the thoughts.
    :return: ``[B]`` log-probs of the answers.
    """
    thought_tokens = token_mask & ~action_mask
    action_tokens = token_mask & action_mask
    zero = torch.zeros_like(token_log_probs)
    thought_log_prob = torch.where(thought_tokens, token_log_probs, zero).sum(-1)
    action_log_prob = torch.where(action_tokens, token_log_probs, zero).sum(-1)
    return thought_coef * thought_log_prob + action_log_prob


def reference_kl(
    token_log_probs: torch.Tensor, reference_token_log_probs: torch.Tensor, token_mask: torch.Tensor
) -> torch.Tensor:
    """Per-answer penalty for moving away from a reference model: ``½ Σ_t (log p_θ(t) - log p_ref(t))²``
    over the answer tokens (Schulman's k2 estimate of KL(π_θ ‖ π_ref)).

    Why k2: on answers the policy sampled itself, its gradient at each token is an unbiased
    estimate of the gradient of that position's KL(p_θ(·|prefix) ‖ p_ref(·|prefix))
    (``E[(log p_θ - log p_ref) ∇ log p_θ]``), the prefixes held fixed (the whole answer's KL would
    also charge each token for its effect on later positions); after an update's first optimizer
    step the answers are slightly off-policy, with no importance weight. It grows only linearly
    with the gap. k3
    (``exp(-d) + d - 1``, GRPO's) has the gradient of the *forward* KL instead, which divides by
    p_θ: a token the update has made unlikely gets a gradient of ``p_ref / p_θ`` (pre-clip gradient
    norms of 1e4-1e5 in NumberLine runs, against 5-50 without it).

    :param token_log_probs: ``[B, T]`` log-probs under the policy being trained.
    :param reference_token_log_probs: ``[B, T]`` log-probs of the same tokens under the reference.
    :param token_mask: ``[B, T]`` true for real answer tokens.
    :return: ``[B]`` non-negative penalties.
    """
    return token_reference_kl(token_log_probs, reference_token_log_probs, token_mask).sum(-1)


def token_reference_kl(
    token_log_probs: torch.Tensor, reference_token_log_probs: torch.Tensor, token_mask: torch.Tensor
) -> torch.Tensor:
    """``½ (log p_θ(t) - log p_ref(t))²`` of every answer token, 0 where ``token_mask`` is false
    (:func:`reference_kl` is its sum over each answer)."""
    # Masked before squaring: padding may hold NaN or -inf, and must not reach the gradient either.
    difference = torch.where(token_mask, token_log_probs - reference_token_log_probs, 0.0)
    return 0.5 * difference.square()


class PPOLoss(NamedTuple):
    """The loss to minimise and its diagnostics (scalar tensors; only ``loss`` carries gradients)."""

    loss: torch.Tensor
    policy_loss: torch.Tensor
    value_loss: torch.Tensor
    approx_kl: torch.Tensor
    clip_fraction: torch.Tensor
    ratio_mean: torch.Tensor
    reference_kl: torch.Tensor


def ppo_loss(
    new_log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    clip_range: float,
    clip_range_vf: float | None,
    value_coef: float,
    normalize_advantage: bool,
    kl: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    dual_clip: float | None = None,
    critic: bool = True,
) -> PPOLoss:
    """PPO's clipped surrogate plus value loss, in CleanRL's form (plus a KL penalty if asked).

    ``policy_loss = mean(max(-A·r, -A·clip(r, 1-ε, 1+ε)))`` with ``r = exp(new - old)``.
    ``value_loss = 0.5 · mean((V - R)²)``; with ``clip_range_vf``, CleanRL's
    ``0.5 · mean(max((V - R)², (V_clipped - R)²))`` where ``V_clipped = V_old + clip(V - V_old, ±c)``
    (SB3 uses ``mse_loss``, without the 0.5; RL4VLM, like CleanRL, has it).
    ``approx_kl = mean((r - 1) - log r)``, the low-variance estimator of KL(old‖new).
    With ``kl``, ``loss`` adds ``kl_coef · mean(kl)``: the penalty that holds the policy near a
    reference model (see ``reference_kl``). With ``dual_clip`` c (Ye et al. 2020, "dual-clip
    PPO"), a sample with A < 0 loses at most ``-c·A``: the max above is unbounded in r there, and
    a sequence ratio, a product over every answer token, can grow far within one update.

    :param new_log_prob: ``[B]`` log π_θ(answer) now.
    :param old_log_prob: ``[B]`` log π(answer) when it was generated.
    :param advantages: ``[B]`` GAE advantages.
    :param returns: ``[B]`` λ-returns (value targets).
    :param new_values: ``[B]`` V_θ now.
    :param old_values: ``[B]`` V at rollout time.
    :param clip_range: ε, the ratio clip.
    :param clip_range_vf: value clip around ``old_values``; None: no value clipping.
    :param value_coef: weight of the value loss in ``loss``.
    :param normalize_advantage: normalise ``advantages`` over this minibatch (mean 0, std 1, std
        + 1e-8); skipped for a single sample, where it would zero the advantage.
    :param kl: ``[B]`` KL of each answer to the reference (``reference_kl``), with gradients; None: no penalty.
    :param kl_coef: β, the penalty's weight.
    :param dual_clip: c > 1, the bound on negative-advantage samples; None: plain PPO.
    :param critic: False for critic-free algorithms: no value loss (NaN in the diagnostics).
    """
    if normalize_advantage and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

    log_ratio = new_log_prob - old_log_prob
    ratio = log_ratio.exp()
    surrogate = torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - clip_range, 1 + clip_range))
    if dual_clip is not None:
        surrogate = torch.where(advantages < 0, torch.min(surrogate, -dual_clip * advantages), surrogate)
    policy_loss = surrogate.mean()

    value_loss = _value_loss(new_values, old_values, returns, clip_range_vf) if critic else None
    loss = policy_loss + value_coef * value_loss if critic else policy_loss
    mean_kl = torch.full((), float("nan"), device=loss.device)
    if kl is not None:
        mean_kl = kl.mean()
        loss = loss + kl_coef * mean_kl

    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clip_fraction = ((ratio - 1).abs() > clip_range).float().mean()

    return PPOLoss(
        loss=loss,
        policy_loss=policy_loss.detach(),
        value_loss=value_loss.detach() if critic else torch.full((), float("nan"), device=loss.device),
        approx_kl=approx_kl,
        clip_fraction=clip_fraction,
        ratio_mean=ratio.detach().mean(),
        reference_kl=mean_kl.detach(),
    )


def _value_loss(
    new_values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip_range_vf: float | None
) -> torch.Tensor:
    value_loss_unclipped = (new_values - returns) ** 2
    if clip_range_vf is None:
        return 0.5 * value_loss_unclipped.mean()
    values_clipped = old_values + (new_values - old_values).clamp(-clip_range_vf, clip_range_vf)
    return 0.5 * torch.max(value_loss_unclipped, (values_clipped - returns) ** 2).mean()


def token_level_loss(
    new_token_log_probs: torch.Tensor,
    old_token_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    token_mask: torch.Tensor,
    action_mask: torch.Tensor,
    thought_coef: float,
    clip_range: float,
    token_kl: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    dual_clip: float | None = None,
    mean_answer_weight: float | None = None,
) -> PPOLoss:
    """The clipped objective per token, as the group methods (GRPO, RLOO, GiGPO) use it.

    Every token ``t`` of an answer gets its own ratio ``r_t = exp(new_t - old_t)`` and the answer's
    advantage ``A``; its loss is ``max(-A·r_t, -A·clip(r_t, 1-ε, 1+ε))`` (capped at ``-c·A`` for
    ``A < 0`` with ``dual_clip``), weighted λ (``thought_coef``) on thought tokens and 1 on action
    tokens. The loss is the mean over the minibatch's answers of each answer's weighted token sum,
    divided by one constant, ``mean_answer_weight`` (the mean weighted length of the rollout's
    answers): at ``r = 1`` an answer's gradient is ``A · Σ_t w_t ∇ log p_t / w̄``, the paper's
    λ-weighted answer log-prob over a constant. A constant, not each minibatch's own token count,
    so that the objective does not depend on how the rollout is cut into minibatches: dividing by
    the minibatch's count gives, with minibatches of one answer, original GRPO's ``1/|o_i|``, which
    weighs a long answer's tokens less (Dr. GRPO's length bias); with the rollout's mean it is
    verl's "token-mean" over the whole rollout. The KL penalty is aggregated the same way (each
    token's k2, weighted), so that β weighs it against the policy term as it does in the
    sequence-level PPO loss; there both are sums over an answer's tokens. Diagnostics are means
    over the real tokens; the reported reference KL is the mean per answer, as PPO reports it.

    :param new_token_log_probs: ``[B, T]`` log-probs now (with gradients).
    :param old_token_log_probs: ``[B, T]`` log-probs when the answers were generated.
    :param advantages: ``[B]`` one advantage per answer.
    :param token_mask: ``[B, T]`` true for real answer tokens.
    :param action_mask: ``[B, T]`` true from the ``"action"`` key on.
    :param thought_coef: λ, the weight of thought tokens.
    :param clip_range: ε.
    :param token_kl: ``[B, T]`` each token's KL to the reference (:func:`token_reference_kl`),
        with gradients; None: no penalty.
    :param kl_coef: β, the penalty's weight.
    :param dual_clip: c > 1, the bound on negative-advantage tokens; None: plain clipping.
    :param mean_answer_weight: ``w̄``, the rollout's mean of ``Σ_t w_t`` per answer
        (:func:`mean_answer_weight`); None: this minibatch's own (its weighted token mean).
    """
    weights = torch.where(action_mask, 1.0, thought_coef) * token_mask
    log_ratio = torch.where(token_mask, new_token_log_probs - old_token_log_probs, 0.0)
    ratio = log_ratio.exp()
    per_token_advantage = advantages[:, None].expand_as(ratio)
    surrogate = torch.max(-per_token_advantage * ratio, -per_token_advantage * ratio.clamp(1 - clip_range, 1 + clip_range))
    if dual_clip is not None:
        surrogate = torch.where(per_token_advantage < 0, torch.min(surrogate, -dual_clip * per_token_advantage), surrogate)
    if mean_answer_weight is None:
        total_weight = weights.sum().clamp(min=1e-8)
    else:
        total_weight = weights.new_tensor(max(mean_answer_weight, 1e-8) * weights.shape[0])
    policy_loss = (weights * surrogate).sum() / total_weight
    loss = policy_loss
    mean_kl = torch.full((), float("nan"), device=loss.device)
    if token_kl is not None:
        loss = loss + kl_coef * (weights * token_kl).sum() / total_weight
        mean_kl = token_kl.sum(-1).mean()
    with torch.no_grad():
        count = token_mask.sum().clamp(min=1)
        approx_kl = torch.where(token_mask, (ratio - 1) - log_ratio, 0.0).sum() / count
        clip_fraction = (token_mask & ((ratio - 1).abs() > clip_range)).sum() / count
        ratio_mean = torch.where(token_mask, ratio, 0.0).sum() / count
    return PPOLoss(
        loss=loss,
        policy_loss=policy_loss.detach(),
        value_loss=torch.full((), float("nan"), device=loss.device),
        approx_kl=approx_kl,
        clip_fraction=clip_fraction.float(),
        ratio_mean=ratio_mean,
        reference_kl=mean_kl.detach(),
    )


def mean_answer_weight(buffer: VLMRolloutBuffer, thought_coef: float, accelerator: Accelerator | None = None) -> float:
    """The mean over the rollout's answers of ``Σ_t w_t`` (λ per thought token, 1 per action
    token): the constant :func:`token_level_loss` divides by. With several processes, over all of
    them, so that every process weighs a token alike.
    """
    weights = np.where(buffer.action_mask, 1.0, thought_coef) * buffer.token_mask
    totals = torch.tensor([weights.sum(), float(buffer.buffer_size * buffer.n_envs)], dtype=torch.float64)
    if accelerator is not None and accelerator.num_processes > 1:
        totals = accelerator.reduce(totals.to(accelerator.device), "sum").cpu()
    return float(totals[0] / totals[1])


def normalize_advantages(buffer: RolloutBuffer, accelerator: Accelerator | None = None) -> None:
    """Normalise the buffer's advantages in place over the whole rollout (mean 0, std 1).

    For minibatches of one sample. The std is the unbiased one (``ddof=1``), like ``torch.std`` in
    per-minibatch normalisation, so a minibatch holding the whole rollout gets the same numbers.
    With several processes the mean and std are those of every process's rollout together, as one
    process with all their envs would compute them. Returns are untouched (they were computed from
    the raw advantages). A rollout of one sample is left as is.

    :param buffer: a buffer after ``compute_returns_and_advantage``.
    :param accelerator: its processes share the statistics; None: this rollout alone.
    """
    advantages = buffer.advantages.astype(np.float64)

    def summed(*values: float) -> list[float]:  # over every process
        sums = torch.tensor(values, dtype=torch.float64)
        if accelerator is not None and accelerator.num_processes > 1:
            sums = accelerator.reduce(sums.to(accelerator.device), "sum").cpu()
        return sums.tolist()

    count, total = summed(advantages.size, advantages.sum())
    if count < 2:
        return
    mean = total / count
    (squares,) = summed(((advantages - mean) ** 2).sum())  # about the mean: no cancellation
    buffer.advantages = ((advantages - mean) / (math.sqrt(squares / (count - 1)) + 1e-8)).astype(np.float32)


def ppo_update(
    policy: ScoringPolicy,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    buffer: VLMRolloutBuffer,
    settings: UpdateSettings,
    accelerator: Accelerator | None = None,
) -> dict[str, float]:
    """One PPO update on a full rollout: ``ppo_epochs`` passes of shuffled minibatches.

    With a critic (``settings.critic``), the paper's PPO: the sequence-level clipped loss on the
    λ-weighted answer log-prob plus the value loss. Without one (GRPO, RLOO, GiGPO), the
    :func:`token_level_loss` on the buffer's advantages as they are (normalised within their
    groups by :mod:`vlm_ppo.group_advantages`; ``normalize_advantage`` does not apply).

    Every ``grad_accum_steps`` minibatches (and after the last of an epoch) the gradients are
    clipped to ``max_grad_norm`` and the optimizer steps; each step's gradient is the mean over the
    samples of its minibatches (each minibatch's mean loss weighted by its size, so a short last
    minibatch's samples count as the others'), a shorter last group included. The scheduler then
    steps once.

    :param policy: called as ``policy(samples) -> (token log-probs [B, T], values [B])``, on the
        buffer's device, and ``parameters()``.
    :param optimizer: over the policy's trainable parameters.
    :param scheduler: stepped once at the end (e.g. ``cosine_schedule``); None: constant lr.
    :param buffer: after ``compute_returns_and_advantage``. With ``normalize_advantage`` and
        minibatches of one sample (``minibatch_size == 1``, or a last minibatch of one) its
        advantages are normalised in place.
    :param settings: the hyperparameters. ``target_kl`` is Stable-Baselines3's: the update stops
        (before that minibatch's backward, dropping a partly accumulated gradient) once a
        minibatch's approx-KL exceeds ``1.5 * target_kl``; clipping alone does not stop a policy
        from running away when its log-probs are sums over many tokens. With several processes
        the decision uses the mean over processes, so all stop together. ``kl_coef`` weighs the
        penalty ``β · reference_kl`` towards the buffer's reference log-probs
        (``ref_token_log_probs``, which the rollout must have filled).
    :param accelerator: an ``accelerate.Accelerator`` to run ``backward`` and gradient clipping
        through (mixed precision, distributed); None: plain torch.
    :return: means over minibatches (``losses/*``), the mean pre-clip gradient norm over optimizer
        steps, the explained variance of the rollout's values, the learning rate used, and
        ``losses/optimizer_steps`` (fewer than planned when ``target_kl`` stopped the update), and
        with ``kl_coef`` ``losses/reference_kl``, the mean KL of an answer to the reference.
    :raises NonFiniteError: when a loss or a gradient is NaN or infinite; no optimizer step has
        taken it (the gradients are dropped).
    """
    ppo_epochs, minibatch_size, grad_accum_steps = settings.ppo_epochs, settings.minibatch_size, settings.grad_accum_steps
    normalize_advantage, thought_coef, target_kl, kl_coef = (
        settings.normalize_advantage,
        settings.thought_coef,
        settings.target_kl,
        settings.kl_coef,
    )
    backward = accelerator.backward if accelerator is not None else torch.Tensor.backward
    clip_grad_norm = accelerator.clip_grad_norm_ if accelerator is not None else torch.nn.utils.clip_grad_norm_

    # How well the rollout's values predicted its returns (before this update changes anything).
    critic = settings.critic
    value_explained_variance = (
        explained_variance(buffer.values.flatten(), buffer.returns.flatten()) if critic else float("nan")
    )
    answer_weight = None if critic else mean_answer_weight(buffer, thought_coef, accelerator)
    normalize_advantage = normalize_advantage and critic  # group advantages are normalised within their groups
    normalize_per_minibatch = normalize_advantage and minibatch_size > 1
    n_samples = buffer.buffer_size * buffer.n_envs
    # A minibatch of one sample keeps the rollout-normalised advantage: minibatch 1 (the paper's),
    # or the last of an uneven split (5 samples in minibatches of 2), which kept the raw one, on
    # the reward's scale among minibatches of mean 0 and std 1. Normalising the others again per
    # minibatch gives what it gave before.
    if normalize_advantage and (not normalize_per_minibatch or n_samples % minibatch_size == 1):
        normalize_advantages(buffer, accelerator)
    learning_rate = optimizer.param_groups[0]["lr"]
    n_minibatches = math.ceil(n_samples / minibatch_size)

    if kl_coef and np.isnan(buffer.ref_token_log_probs[buffer.token_mask]).any():
        raise ValueError("kl_coef needs every answer token's reference log-prob: pass ref_token_log_probs to buffer.add")
    if not critic and np.isnan(buffer.old_token_log_probs[buffer.token_mask]).any():
        raise ValueError(
            "the token-level objective needs every answer token's old log-prob: pass token_log_probs to buffer.add"
        )
    stat_names = ("policy_loss", "value_loss", "approx_kl", "clip_fraction", "ratio_mean") + (
        ("reference_kl",) if kl_coef else ()
    )
    minibatch_stats: dict[str, list[float]] = {name: [] for name in stat_names}
    grad_norms: list[float] = []
    stop = False
    optimizer.zero_grad()
    for _epoch in range(ppo_epochs):
        if stop:
            break
        for minibatch_index, samples in enumerate(buffer.get(minibatch_size)):
            new_token_log_probs, new_values = policy(samples)
            token_kl = (
                token_reference_kl(new_token_log_probs, samples.ref_token_log_probs, samples.token_mask) if kl_coef else None
            )
            kl = token_kl.sum(-1) if token_kl is not None else None
            if critic:
                new_log_prob = sequence_log_prob(new_token_log_probs, samples.token_mask, samples.action_mask, thought_coef)
                losses = ppo_loss(
                    new_log_prob,
                    samples.old_log_prob,
                    samples.advantages,
                    samples.returns,
                    new_values.flatten(),
                    samples.old_values,
                    clip_range=settings.clip_range,
                    clip_range_vf=settings.clip_range_vf,
                    value_coef=settings.value_coef,
                    normalize_advantage=normalize_per_minibatch,
                    kl=kl,
                    kl_coef=kl_coef,
                    dual_clip=settings.dual_clip,
                )
            else:
                losses = token_level_loss(
                    new_token_log_probs,
                    samples.old_token_log_probs,
                    samples.advantages,
                    samples.token_mask,
                    samples.action_mask,
                    thought_coef,
                    settings.clip_range,
                    token_kl=token_kl,
                    kl_coef=kl_coef,
                    dual_clip=settings.dual_clip,
                    mean_answer_weight=answer_weight,
                )
            non_finite = (~torch.isfinite(losses.loss.detach())).float()
            if accelerator is not None and accelerator.num_processes > 1:
                non_finite = accelerator.reduce(non_finite, "sum")  # every process stops together
            if non_finite.item():
                optimizer.zero_grad()
                raise NonFiniteError(
                    f"the loss is {float(losses.loss.detach())} (policy {float(losses.policy_loss)}, value "
                    f"{float(losses.value_loss)}); no weight has taken it"
                )
            for name, values in minibatch_stats.items():  # the stopping minibatch's too (SB3 logs its KL)
                values.append(getattr(losses, name).item())
            if target_kl is not None:
                approx_kl = losses.approx_kl.detach()
                if accelerator is not None and accelerator.num_processes > 1:
                    approx_kl = accelerator.reduce(approx_kl, "mean")
                if float(approx_kl) > 1.5 * target_kl:
                    optimizer.zero_grad()
                    stop = True
                    break
            # The optimizer step averages over the samples of its group: each minibatch's mean loss
            # weighs by its share of the group's samples, so a short last minibatch's samples count
            # as much as the others' (dividing by the number of minibatches gave each of them up to
            # minibatch_size times the weight of a sample in a full minibatch).
            group_start = minibatch_index - minibatch_index % grad_accum_steps
            group_size = min(grad_accum_steps, n_minibatches - group_start)
            group_samples = min((group_start + group_size) * minibatch_size, n_samples) - group_start * minibatch_size
            backward(losses.loss * (len(samples.advantages) / group_samples))

            if minibatch_index + 1 == group_start + group_size:
                grad_norm = float(clip_grad_norm(policy.parameters(), settings.max_grad_norm))
                if not math.isfinite(grad_norm):
                    optimizer.zero_grad()
                    raise NonFiniteError(f"the gradient norm is {grad_norm}; no weight has taken it")
                grad_norms.append(grad_norm)
                optimizer.step()
                optimizer.zero_grad()

    if scheduler is not None:
        scheduler.step()

    metrics = {f"losses/{name}": float(np.mean(values)) for name, values in minibatch_stats.items()}
    metrics["losses/explained_variance"] = float(value_explained_variance)
    metrics["losses/grad_norm"] = float(np.mean(grad_norms)) if grad_norms else 0.0
    metrics["charts/learning_rate"] = float(learning_rate)
    metrics["losses/optimizer_steps"] = float(len(grad_norms))
    return metrics
