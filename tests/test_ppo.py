"""The PPO maths (token/sequence log-probs, clipped loss) and the update loop (accumulation, clipping, lr)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from vlm_ppo.buffer import VLMRolloutBuffer, VLMRolloutSamples
from vlm_ppo.model_io import token_log_probs
from vlm_ppo.ppo import (
    NonFiniteError,
    UpdateSettings,
    normalize_advantages,
    ppo_loss,
    ppo_update,
    reference_kl,
    sequence_log_prob,
)
from vlm_ppo.run import cosine_schedule

VOCAB = 5
ANSWER_LENGTH = 3


# --- token and sequence log-probs ---------------------------------------------------------------


def test_token_log_probs_is_the_log_softmax_at_the_temperature():
    logits = torch.tensor([[[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]])  # 1 answer, 2 positions, 3-token vocabulary
    tokens = torch.tensor([[2, 0]])
    # temperature 1: log p(2 | [0,1,2]) = 2 - log(1 + e + e²) = 2 - log(11.107338) = -0.407606
    #                uniform row: log(1/3) = -1.098612
    np.testing.assert_allclose(token_log_probs(logits, tokens, 1.0), [[-0.407606, -1.098612]], atol=1e-6)
    # temperature 0.5 doubles the logits: [0,2,4] -> 4 - log(1 + e² + e⁴) = 4 - log(62.987206) = -0.142932;
    # the uniform row stays uniform: -1.098612
    np.testing.assert_allclose(token_log_probs(logits, tokens, 0.5), [[-0.142932, -1.098612]], atol=1e-6)
    assert token_log_probs(logits.bfloat16(), tokens, 1.0).dtype == torch.float32


def test_sequence_log_prob_weights_thoughts_by_lambda_and_ignores_padding():
    token_lp = torch.tensor([[-1.0, -2.0, -0.5, float("nan")], [-1.0, -1.0, -9.0, -9.0]], requires_grad=True)
    token_mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    action_mask = torch.tensor([[False, False, True, False], [True, True, False, False]])
    log_prob = sequence_log_prob(token_lp, token_mask, action_mask, thought_coef=0.5)
    # answer 0: thoughts -1, -2; action -0.5; padding (NaN) ignored -> 0.5 * (-3) + (-0.5) = -2.0
    # answer 1: all action (no thoughts): -1 + -1 = -2.0; the two padded -9s are ignored
    np.testing.assert_allclose(log_prob.detach(), [-2.0, -2.0])
    log_prob.sum().backward()
    # d/d(token): λ for thoughts, 1 for action tokens, 0 for padding (and no NaN leaks through)
    np.testing.assert_array_equal(token_lp.grad, [[0.5, 0.5, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])


# --- ppo_loss -------------------------------------------------------------------------------------


def loss_of(
    new_log_prob,
    old_log_prob,
    advantages,
    *,
    returns=(0.0,),
    new_values=(0.0,),
    old_values=(0.0,),
    clip_range=0.1,
    clip_range_vf=None,
    value_coef=0.5,
    normalize_advantage=False,
    **extra,
):
    as_tensor = lambda x: x if isinstance(x, torch.Tensor) else torch.tensor(x, dtype=torch.float32)  # noqa: E731
    return ppo_loss(
        as_tensor(new_log_prob),
        as_tensor(old_log_prob),
        as_tensor(advantages),
        as_tensor(returns),
        as_tensor(new_values),
        as_tensor(old_values),
        clip_range,
        clip_range_vf,
        value_coef,
        normalize_advantage,
        **extra,
    )


def test_policy_loss_takes_the_pessimistic_clipped_surrogate():
    # Each sample has log-ratio 0.2: r = e^0.2 = 1.221403, beyond 1 + ε = 1.1.
    positive = loss_of([0.2], [0.0], [1.0])
    # A = +1: -min(1.221403 * 1, 1.1 * 1) = -1.1 (the gain is capped)
    assert positive.policy_loss.item() == pytest.approx(-1.1, abs=1e-6)
    negative = loss_of([0.2], [0.0], [-1.0])
    # A = -1: -min(-1.221403, -1.1) = 1.221403 (the loss is not capped)
    assert negative.policy_loss.item() == pytest.approx(1.221403, abs=1e-6)
    # approx KL: (r - 1) - log r = 0.221403 - 0.2 = 0.021403; |r - 1| = 0.22 > 0.1: clipped
    assert positive.approx_kl.item() == pytest.approx(0.021403, abs=1e-6)
    assert positive.clip_fraction.item() == 1.0
    assert positive.ratio_mean.item() == pytest.approx(1.221403, abs=1e-6)


def test_dual_clip_caps_only_negative_advantage_samples_whose_ratio_ran_away():
    def losses(dual_clip):
        return [
            loss_of([log_ratio], [0.0], [advantage], clip_range=0.2, dual_clip=dual_clip).policy_loss.item()
            for log_ratio, advantage in [(2.0, -1.0), (math.log(1.1), -1.0), (2.0, 1.0)]
        ]

    # A = -1, r = e^2: plain PPO's loss is r = 7.39 (max of r and 1.2); dual-clip caps it at 3.
    # A = -1, r = 1.1 (inside the clip) and A = +1 (loss -min(r, 1.2) = -1.2) are untouched.
    assert losses(None) == pytest.approx([math.exp(2), 1.1, -1.2])
    assert losses(3.0) == pytest.approx([3.0, 1.1, -1.2])
    log_ratio = torch.tensor([2.0], requires_grad=True)
    loss_of(log_ratio, [0.0], [-1.0], clip_range=0.2, value_coef=0.0, dual_clip=3.0).loss.backward()
    assert log_ratio.grad.item() == 0.0  # a capped sample pushes nothing


def test_ppo_loss_means_over_the_minibatch_and_adds_the_weighted_value_loss():
    result = loss_of(
        [0.2, 0.2, 0.0],
        [0.0, 0.0, 0.0],
        [1.0, -1.0, 2.0],
        returns=[2.0, 0.0, 3.0],
        new_values=[1.5, 0.5, 3.0],
        old_values=[0.0, 0.0, 0.0],
    )
    # per sample: -1.1, 1.221403, and r = 1 with A = 2 -> -2;  mean = -1.878597 / 3 = -0.626199
    assert result.policy_loss.item() == pytest.approx(-0.626199, abs=1e-6)
    # value: 0.5 * mean((1.5-2)², (0.5-0)², (3-3)²) = 0.5 * 0.5/3 = 0.083333
    assert result.value_loss.item() == pytest.approx(0.083333, abs=1e-6)
    # loss = -0.626199 + 0.5 * 0.083333 = -0.584532
    assert result.loss.item() == pytest.approx(-0.584532, abs=1e-6)
    # KL: (0.021403 + 0.021403 + 0) / 3 = 0.014269; two of three clipped
    assert result.approx_kl.item() == pytest.approx(0.014269, abs=1e-6)
    assert result.clip_fraction.item() == pytest.approx(2 / 3)


def test_value_clipping_keeps_the_larger_of_the_clipped_and_unclipped_errors():
    new_values = torch.tensor([1.5, 1.5], requires_grad=True)
    result = ppo_loss(
        torch.zeros(2),
        torch.zeros(2),
        torch.zeros(2),
        returns=torch.tensor([2.0, 0.0]),
        new_values=new_values,
        old_values=torch.tensor([1.0, 1.0]),
        clip_range=0.1,
        clip_range_vf=0.2,
        value_coef=1.0,
        normalize_advantage=False,
    )
    # V_clipped = 1 + clip(0.5, ±0.2) = 1.2 for both.
    # sample 0 (R=2): unclipped (1.5-2)² = 0.25, clipped (1.2-2)² = 0.64 -> 0.64
    # sample 1 (R=0): unclipped (1.5-0)² = 2.25, clipped (1.2-0)² = 1.44 -> 2.25
    # 0.5 * mean(0.64, 2.25) = 0.7225
    assert result.value_loss.item() == pytest.approx(0.7225, abs=1e-6)
    result.loss.backward()
    # sample 0 uses the clipped value (no gradient); sample 1: 0.5 * (1/2) * 2 * (1.5 - 0) = 0.75
    np.testing.assert_allclose(new_values.grad, [0.0, 0.75])
    # without clipping: 0.5 * mean(0.25, 2.25) = 0.625
    unclipped = loss_of([0.0, 0.0], [0.0, 0.0], [0.0, 0.0], returns=[2.0, 0.0], new_values=[1.5, 1.5], old_values=[1.0, 1.0])
    assert unclipped.value_loss.item() == pytest.approx(0.625, abs=1e-6)


def test_advantages_are_normalised_per_minibatch_but_never_over_a_single_sample():
    # A = [1, 3]: mean 2, unbiased std √2 -> [-0.707107, 0.707107];  r = [1, e^0.05 = 1.051271] (unclipped)
    # policy loss = mean(0.707107 * 1, -0.707107 * 1.051271) = 0.707107 * (1 - 1.051271) / 2 = -0.018127
    normalised = loss_of(
        [0.0, 0.05], [0.0, 0.0], [1.0, 3.0], returns=[0, 0], new_values=[0, 0], old_values=[0, 0], normalize_advantage=True
    )
    assert normalised.policy_loss.item() == pytest.approx(-0.018127, abs=1e-6)
    # raw: mean(-1 * 1, -3 * 1.051271) = -4.153813 / 2 = -2.076907
    raw = loss_of([0.0, 0.05], [0.0, 0.0], [1.0, 3.0], returns=[0, 0], new_values=[0, 0], old_values=[0, 0])
    assert raw.policy_loss.item() == pytest.approx(-2.076907, abs=1e-6)
    # One sample: normalising would make A = 0; it is left at 2, so the loss is -2 * r = -2.
    single = loss_of([0.0], [0.0], [2.0], normalize_advantage=True)
    assert single.policy_loss.item() == pytest.approx(-2.0)


# --- the update loop ------------------------------------------------------------------------------


class TinyPolicy(torch.nn.Module):
    """Deterministic stand-in for a VLM: one learnable logit table and a value linear in the tokens."""

    def __init__(self):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor([0.1, -0.2, 0.3, 0.0, 0.5]))
        self.value_weight = torch.nn.Parameter(torch.tensor(0.3))
        self.value_bias = torch.nn.Parameter(torch.tensor(-0.1))

    def forward(self, samples: VLMRolloutSamples) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.logits.expand(*samples.tokens.shape, VOCAB)
        values = self.value_weight * samples.tokens.float().mean(-1) + self.value_bias
        return token_log_probs(logits, samples.tokens, temperature=1.0), values


class RecordingPolicy(TinyPolicy):
    """Also records the advantages of every minibatch it is asked to evaluate."""

    def __init__(self):
        super().__init__()
        self.seen_advantages: list[float] = []

    def forward(self, samples):
        self.seen_advantages += samples.advantages.tolist()
        return super().forward(samples)


def random_rollout(n_steps: int, n_envs: int, seed: int = 0) -> VLMRolloutBuffer:
    """A full text-only buffer of random answers, rewards and old log-probs, with GAE computed."""
    rng = np.random.default_rng(seed)
    buffer = VLMRolloutBuffer(
        n_steps, n_envs, ANSWER_LENGTH, None, gamma=0.9, gae_lambda=0.95, rng=np.random.default_rng(seed + 1)
    )
    for _ in range(n_steps):
        token_mask = np.arange(ANSWER_LENGTH) < rng.integers(1, ANSWER_LENGTH + 1, size=(n_envs, 1))
        action_mask = token_mask & (np.arange(ANSWER_LENGTH) >= rng.integers(0, ANSWER_LENGTH, size=(n_envs, 1)))
        buffer.add(
            None,
            ["prompt"] * n_envs,
            rng.integers(0, VOCAB, size=(n_envs, ANSWER_LENGTH)),
            token_mask,
            action_mask,
            rng.normal(size=n_envs),
            rng.random(n_envs) < 0.3,
            rng.normal(size=n_envs),
            rng.normal(-2.0, 0.3, size=n_envs),
        )
    buffer.compute_returns_and_advantage(torch.tensor(rng.normal(size=n_envs)), np.zeros(n_envs))
    return buffer


def update(policy, buffer, optimizer=None, scheduler=None, **overrides) -> tuple[dict[str, float], int]:
    """Run ppo_update with defaults that overrides replace; returns its metrics and the optimizer steps taken."""
    optimizer = optimizer or torch.optim.SGD(policy.parameters(), lr=0.1)
    steps = []
    handle = optimizer.register_step_post_hook(lambda *_: steps.append(1))
    settings = dict(
        ppo_epochs=1,
        minibatch_size=1,
        grad_accum_steps=1,
        clip_range=0.2,
        clip_range_vf=None,
        value_coef=0.5,
        max_grad_norm=1e6,
        normalize_advantage=True,
        thought_coef=0.5,
    )
    metrics = ppo_update(policy, optimizer, scheduler, buffer, UpdateSettings(**(settings | overrides)))
    handle.remove()
    return metrics, len(steps)


@pytest.mark.parametrize(
    "minibatch_size, grad_accum_steps, ppo_epochs, expected_steps",
    [
        (1, 4, 3, 6),  # 6 samples -> 6 minibatches -> ceil(6/4) = 2 steps per epoch, x3 epochs = 6
        (2, 2, 2, 4),  # 6/2 = 3 minibatches -> ceil(3/2) = 2 steps per epoch, x2 = 4
        (4, 1, 1, 2),  # ceil(6/4) = 2 minibatches (4 and 2 samples) -> 2 steps
        (1, 8, 1, 1),  # 6 minibatches, fewer than 8: one (short) step
    ],
)
def test_optimizer_steps_once_per_group_of_accumulated_minibatches(
    minibatch_size, grad_accum_steps, ppo_epochs, expected_steps
):
    _, steps = update(
        TinyPolicy(),
        random_rollout(3, 2),
        minibatch_size=minibatch_size,
        grad_accum_steps=grad_accum_steps,
        ppo_epochs=ppo_epochs,
    )
    assert steps == expected_steps


@pytest.mark.parametrize("n_envs, grad_accum_steps", [(4, 4), (2, 4)])  # a full group; a short last group
def test_accumulating_single_samples_equals_one_minibatch_of_all(n_envs, grad_accum_steps):
    # n_envs samples in minibatches of 1, accumulated, vs one minibatch of n_envs. Both normalise the
    # advantages over the same n_envs numbers (the rollout / the one minibatch, unbiased std), both
    # losses are means, and the group's gradient is divided by its real size (n_envs), so the single
    # optimizer step must move the parameters identically.
    accumulated_policy, full_batch_policy = TinyPolicy(), TinyPolicy()
    _, accumulated_steps = update(
        accumulated_policy, random_rollout(1, n_envs), minibatch_size=1, grad_accum_steps=grad_accum_steps
    )
    _, full_batch_steps = update(full_batch_policy, random_rollout(1, n_envs), minibatch_size=n_envs, grad_accum_steps=1)
    assert accumulated_steps == full_batch_steps == 1
    initial = TinyPolicy().state_dict()
    for name, value in accumulated_policy.state_dict().items():
        torch.testing.assert_close(value, full_batch_policy.state_dict()[name], rtol=1e-5, atol=1e-7)
        assert not torch.equal(value, initial[name])  # every parameter did move (policy and value)


def test_a_short_last_minibatch_weighs_its_samples_as_the_others():
    # Three samples, minibatches of 2 and 1 accumulated into one step, against one minibatch of 3
    # (advantages unnormalised, so both see the same numbers): the step's gradient is the mean over
    # the three samples. Averaging the two minibatches' means gave the lone sample twice the weight.
    cut_policy, whole_policy = TinyPolicy(), TinyPolicy()
    rollout = random_rollout(1, 3)
    _, cut_steps = update(cut_policy, copy.deepcopy(rollout), minibatch_size=2, grad_accum_steps=2, normalize_advantage=False)
    _, whole_steps = update(
        whole_policy, copy.deepcopy(rollout), minibatch_size=3, grad_accum_steps=1, normalize_advantage=False
    )
    assert cut_steps == whole_steps == 1
    for name, value in cut_policy.state_dict().items():
        torch.testing.assert_close(value, whole_policy.state_dict()[name], rtol=1e-5, atol=1e-7)


def test_gradients_are_clipped_to_max_grad_norm_and_the_pre_clip_norm_is_reported():
    initial = TinyPolicy()
    initial_vector = torch.nn.utils.parameters_to_vector(initial.parameters()).detach()

    def step_taken(max_grad_norm: float) -> tuple[torch.Tensor, float]:
        policy = copy.deepcopy(initial)
        optimizer = torch.optim.SGD(policy.parameters(), lr=1.0)  # lr 1: the step is minus the gradient
        metrics, _ = update(policy, random_rollout(2, 2), optimizer, minibatch_size=4, max_grad_norm=max_grad_norm)
        return torch.nn.utils.parameters_to_vector(policy.parameters()).detach() - initial_vector, metrics["losses/grad_norm"]

    unclipped_step, unclipped_norm = step_taken(1e6)
    clipped_step, clipped_norm = step_taken(1e-3)
    assert unclipped_step.norm().item() == pytest.approx(unclipped_norm, rel=1e-5) and unclipped_norm > 1e-2
    assert clipped_norm == pytest.approx(unclipped_norm, rel=1e-6)  # reported before clipping
    # clipped: same direction, length max_grad_norm (atol: float32 rounding of parameters near 0.3 is ~3e-8)
    assert clipped_step.norm().item() == pytest.approx(1e-3, rel=1e-4)
    torch.testing.assert_close(clipped_step, unclipped_step * 1e-3 / unclipped_norm, rtol=1e-4, atol=1e-7)


def test_rollout_normalisation_is_used_when_minibatches_hold_one_sample():
    buffer = random_rollout(2, 2)
    buffer.advantages = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    policy = RecordingPolicy()
    update(policy, buffer, minibatch_size=1)
    # mean 2.5, deviations ±1.5, ±0.5; unbiased var = 2*(2.25+0.25)/3 = 5/3, std = 1.290994
    # -> ±1.5/1.290994 = ±1.161895, ±0.5/1.290994 = ±0.387298
    np.testing.assert_allclose(sorted(policy.seen_advantages), [-1.161895, -0.387298, 0.387298, 1.161895], atol=1e-6)

    # With minibatches of 2, ppo_loss normalises each minibatch: the buffer keeps the raw advantages.
    buffer = random_rollout(2, 2)
    buffer.advantages = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    policy = RecordingPolicy()
    update(policy, buffer, minibatch_size=2)
    assert sorted(policy.seen_advantages) == [1.0, 2.0, 3.0, 4.0]


def test_a_last_minibatch_of_one_sample_gets_the_rollout_normalised_advantage():
    """5 samples in minibatches of 2: the lone last sample kept its raw advantage (5.0 among
    minibatches of mean 0, std 1); now every sample arrives rollout-normalised, and ppo_loss
    normalises the minibatches of two again (which changes nothing: normalising is affine-invariant)."""
    buffer = random_rollout(1, 5)
    buffer.advantages = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]], dtype=np.float32)
    policy = RecordingPolicy()
    update(policy, buffer, minibatch_size=2)
    # mean 3, unbiased std sqrt(10/4) = 1.581139: -2/1.581139 = -1.264911, -1/1.581139 = -0.632456
    np.testing.assert_allclose(sorted(policy.seen_advantages), [-1.264911, -0.632456, 0.0, 0.632456, 1.264911], atol=1e-6)


def test_normalize_advantages_leaves_returns_and_a_single_sample_alone():
    buffer = random_rollout(2, 2)
    buffer.advantages = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    returns = buffer.returns.copy()
    normalize_advantages(buffer)
    np.testing.assert_allclose(buffer.advantages, [[-1.161895, -0.387298], [0.387298, 1.161895]], atol=1e-6)
    np.testing.assert_array_equal(buffer.returns, returns)
    single = random_rollout(1, 1)
    advantage = single.advantages.copy()
    normalize_advantages(single)
    np.testing.assert_array_equal(single.advantages, advantage)


def test_rollout_normalisation_over_several_processes_uses_all_their_advantages():
    """Two processes, rollouts [1, 2] and [3, 4]: each is normalised by the mean and std of all
    four numbers (2.5, unbiased std 1.290994), as one process with all four envs would; alone,
    each would become [-0.707107, 0.707107]."""

    class TwoProcesses:
        """Process 0 of two; the other holds the advantages [3, 4]."""

        num_processes, device = 2, torch.device("cpu")

        def reduce(self, tensor, reduction):
            assert reduction == "sum"
            if len(tensor) == 2:  # count and sum: [3, 4] adds 2 and 7
                return tensor + torch.tensor([2.0, 7.0], dtype=tensor.dtype)
            return tensor + (3.0 - 2.5) ** 2 + (4.0 - 2.5) ** 2  # squares about the common mean 2.5

    buffer = random_rollout(1, 2)
    buffer.advantages = np.array([[1.0, 2.0]], dtype=np.float32)
    normalize_advantages(buffer, TwoProcesses())
    np.testing.assert_allclose(buffer.advantages, [[-1.161895, -0.387298]], atol=1e-6)


def test_metrics_report_the_explained_variance_of_the_rollout():
    buffer = VLMRolloutBuffer(1, 2, ANSWER_LENGTH, None, gamma=0.9, gae_lambda=0.95)
    buffer.add(
        None,
        ["a", "b"],
        np.zeros((2, ANSWER_LENGTH), dtype=np.int64),
        np.ones((2, ANSWER_LENGTH), bool),
        np.ones((2, ANSWER_LENGTH), bool),
        np.array([1.0, 3.0]),
        np.ones(2),
        np.array([1.0, 2.0]),
        np.zeros(2),
    )
    buffer.compute_returns_and_advantage(torch.zeros(2), np.ones(2))
    metrics, _ = update(TinyPolicy(), buffer, ppo_epochs=2)
    # both episodes end: returns = rewards = [1, 3], values [1, 2]
    # 1 - Var(R - V) / Var(R) = 1 - Var([0, 1]) / Var([1, 3]) = 1 - 0.25 / 1 = 0.75
    assert metrics["losses/explained_variance"] == pytest.approx(0.75)
    assert set(metrics) == {
        "losses/policy_loss",
        "losses/value_loss",
        "losses/approx_kl",
        "losses/clip_fraction",
        "losses/ratio_mean",
        "losses/explained_variance",
        "losses/grad_norm",
        "charts/learning_rate",
        "losses/optimizer_steps",
    }


def test_learning_rate_follows_the_cosine_once_per_update_and_stays_at_the_end():
    policy = TinyPolicy()
    optimizer = torch.optim.SGD(policy.parameters(), lr=1.0)
    scheduler = cosine_schedule(optimizer, init_lr=1.0, end_lr=0.1, max_steps=4)
    learning_rates = []
    for _ in range(7):  # several epochs and optimizer steps per update; the lr moves once per update
        metrics, steps = update(policy, random_rollout(2, 2), optimizer, scheduler, ppo_epochs=2, max_grad_norm=0.01)
        assert steps == 8
        learning_rates.append(metrics["charts/learning_rate"])
    # lr(s) = 0.1 + 0.9 * (1 + cos(π s/4)) / 2
    #   s=0: 1.0;  s=1: 0.1 + 0.45 * (1 + √2/2) = 0.868198;  s=2 (max/2): 0.1 + 0.45 = 0.55
    #   s=3: 0.1 + 0.45 * (1 - √2/2) = 0.231802;  s=4 (max): 0.1;  beyond max: 0.1 (no climb back)
    np.testing.assert_allclose(learning_rates, [1.0, 0.868198, 0.55, 0.231802, 0.1, 0.1, 0.1], atol=1e-6)


def test_an_accelerator_runs_backward_and_clipping():
    class RecordingAccelerator:
        num_processes = 1

        def __init__(self):
            self.calls: list[str] = []

        def backward(self, loss):
            self.calls.append("backward")
            loss.backward()

        def clip_grad_norm_(self, parameters, max_norm):
            self.calls.append("clip")
            return torch.nn.utils.clip_grad_norm_(parameters, max_norm)

    accelerator = RecordingAccelerator()
    settings = UpdateSettings(
        ppo_epochs=1,
        minibatch_size=1,
        grad_accum_steps=2,
        clip_range=0.2,
        clip_range_vf=None,
        value_coef=0.5,
        max_grad_norm=1.0,
        normalize_advantage=True,
        thought_coef=0.5,
    )
    ppo_update(
        TinyPolicy(),
        torch.optim.SGD(TinyPolicy().parameters(), lr=0.1),
        None,
        random_rollout(1, 4),
        settings,
        accelerator=accelerator,
    )
    # 4 minibatches, a step every 2
    assert accelerator.calls == ["backward", "backward", "clip", "backward", "backward", "clip"]


def test_target_kl_stops_the_update_before_the_minibatch_that_exceeds_it():
    # One minibatch of all 6 samples per epoch; the buffer's old log-probs are random, so the
    # first minibatch's approx-KL (measured before any step) is some K > 0. SB3's rule: stop when
    # approx-KL > 1.5 * target_kl, before that minibatch's backward.
    measured, steps = update(TinyPolicy(), random_rollout(3, 2), minibatch_size=6, ppo_epochs=1)
    first_kl = measured["losses/approx_kl"]
    assert steps == measured["losses/optimizer_steps"] == 1 and first_kl > 0

    stopped = TinyPolicy()
    metrics, steps = update(stopped, random_rollout(3, 2), minibatch_size=6, ppo_epochs=3, target_kl=first_kl / 1.5 * 0.99)
    assert steps == metrics["losses/optimizer_steps"] == 0
    assert metrics["losses/approx_kl"] == pytest.approx(first_kl)  # the minibatch that stopped it is reported
    for name, value in stopped.state_dict().items():
        assert torch.equal(value, TinyPolicy().state_dict()[name]), name  # nothing moved

    _, steps = update(TinyPolicy(), random_rollout(3, 2), minibatch_size=6, ppo_epochs=3, target_kl=first_kl / 1.5 * 1.01)
    assert steps >= 1


def test_without_target_kl_every_planned_step_is_taken():
    metrics, steps = update(TinyPolicy(), random_rollout(3, 2), minibatch_size=2, ppo_epochs=3, target_kl=None)
    assert steps == metrics["losses/optimizer_steps"] == 9
    metrics, steps = update(TinyPolicy(), random_rollout(3, 2), minibatch_size=2, ppo_epochs=3, target_kl=1e9)
    assert steps == metrics["losses/optimizer_steps"] == 9


# --- the KL penalty towards a reference model -----------------------------------------------------


def test_reference_kl_is_half_the_summed_squared_log_ratio_on_a_hand_example():
    new = torch.log(torch.tensor([[0.5, 0.25, 0.9]]))
    reference = torch.log(torch.tensor([[0.25, 0.5, 0.1]]))
    mask = torch.tensor([[True, True, False]])
    # log(new/ref) = log 2 and -log 2: ½ (log² 2 + log² 2) = log² 2; token 3 is padding.
    assert reference_kl(new, reference, mask).item() == pytest.approx(math.log(2) ** 2)


def test_reference_kl_has_the_gradient_of_the_exact_kl_on_the_policys_own_samples():
    logits = torch.tensor([0.3, -1.0, 2.0, 0.1], requires_grad=True)
    reference = torch.log_softmax(torch.tensor([1.0, 0.5, -0.5, 0.0]), 0)
    policy = torch.log_softmax(logits, 0)
    # All 4 one-token answers, each weighted by how often the policy (fixed, as in a rollout) writes it.
    per_answer = reference_kl(policy[:, None], reference[:, None], torch.ones(4, 1, dtype=torch.bool))
    (estimated,) = torch.autograd.grad((policy.exp().detach() * per_answer).sum(), logits, retain_graph=True)
    exact_kl = (policy.exp() * (policy - reference)).sum()
    (exact,) = torch.autograd.grad(exact_kl, logits)
    assert (per_answer >= 0).all()
    assert estimated.tolist() == pytest.approx(exact.tolist(), abs=1e-6)


def test_reference_kl_ignores_padding_even_when_it_holds_nan_or_minus_infinity():
    new = torch.tensor([[-1.0, float("-inf")]], requires_grad=True)
    reference = torch.tensor([[-1.5, float("nan")]])
    kl = reference_kl(new, reference, torch.tensor([[True, False]]))
    kl.sum().backward()
    assert kl.item() == pytest.approx(0.125)  # ½ · 0.5²
    assert new.grad[0].tolist() == pytest.approx([0.5, 0.0])  # d/d(new) = new - ref on the real token


def test_ppo_loss_adds_kl_coef_times_the_mean_kl():
    args = dict(
        new_log_prob=[-1.0, -2.0],
        old_log_prob=[-1.1, -1.9],
        advantages=[1.0, -1.0],
        returns=[0.0, 0.0],
        new_values=[0.0, 0.0],
        old_values=[0.0, 0.0],
    )
    plain = loss_of(**args)
    penalised = loss_of(**args, kl=torch.tensor([0.3, 0.5]), kl_coef=0.25)
    assert penalised.loss.item() == pytest.approx(plain.loss.item() + 0.25 * 0.4, abs=1e-6)
    assert penalised.reference_kl.item() == pytest.approx(0.4) and plain.reference_kl.isnan()


def with_reference(buffer: VLMRolloutBuffer, reference: TinyPolicy) -> VLMRolloutBuffer:
    """The buffer with the reference's log-probs of its answers filled in (as a rollout would)."""
    tokens = torch.as_tensor(buffer.tokens.reshape(-1, ANSWER_LENGTH))
    with torch.no_grad():
        log_probs, _ = reference(VLMRolloutSamples(None, [], tokens, None, None, None, None, None, None))
    buffer.ref_token_log_probs = log_probs.numpy().reshape(buffer.tokens.shape)
    return buffer


def exact_kl(policy: TinyPolicy, reference: TinyPolicy) -> float:
    p, q = torch.log_softmax(policy.logits.detach(), 0), torch.log_softmax(reference.logits.detach(), 0)
    return float((p.exp() * (p - q)).sum())


def test_the_kl_penalty_pulls_the_policy_back_towards_the_reference():
    reference = TinyPolicy()
    drifted = TinyPolicy()
    with torch.no_grad():
        drifted.logits += torch.tensor([1.0, -0.5, 0.0, 0.7, -1.0])
    before = exact_kl(drifted, reference)
    buffer = with_reference(random_rollout(4, 3), reference)
    buffer.advantages[:] = 0.0  # no policy-gradient signal: only the penalty can move the logits
    untouched = copy.deepcopy(drifted)
    metrics, _ = update(untouched, copy.deepcopy(buffer), value_coef=0.0, kl_coef=0.0)
    assert torch.equal(untouched.logits, drifted.logits) and "losses/reference_kl" not in metrics
    metrics, _ = update(drifted, buffer, value_coef=0.0, kl_coef=1.0, ppo_epochs=8, minibatch_size=4)
    assert exact_kl(drifted, reference) < 0.5 * before
    assert 0.0 < metrics["losses/reference_kl"]


def test_a_kl_penalty_without_reference_log_probs_is_refused():
    policy = TinyPolicy()
    with pytest.raises(ValueError, match="ref_token_log_probs"):
        update(policy, random_rollout(2, 2), kl_coef=0.1)


def test_token_log_probs_leave_out_suppressed_tokens():
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0]]])
    # token 3 (an image placeholder) suppressed: the three others are uniform
    np.testing.assert_allclose(
        token_log_probs(logits, torch.tensor([[1]]), 1.0, suppressed_ids=[3]), [[math.log(1 / 3)]], atol=1e-6
    )


def test_update_settings_come_from_the_config_field_by_field():
    from vlm_ppo.config import TrainConfig

    config = TrainConfig(ppo_epochs=3, clip_range=0.3, kl_coef=0.1, target_kl=0.5)
    settings = UpdateSettings.from_config(config)
    assert (settings.ppo_epochs, settings.clip_range, settings.kl_coef, settings.target_kl) == (3, 0.3, 0.1, 0.5)


@pytest.mark.parametrize("poison", ["loss", "gradient"])
def test_a_non_finite_loss_or_gradient_stops_the_update_before_any_weight_takes_it(poison):
    policy = TinyPolicy()
    before = copy.deepcopy(policy.state_dict())
    buffer = random_rollout(2, 3)
    if poison == "loss":
        buffer.returns[0, 0] = np.nan  # a NaN value target: the loss is NaN
    else:
        policy.logits.register_hook(lambda grad: grad * float("inf"))  # a finite loss whose gradient overflows
    with pytest.raises(NonFiniteError, match="no weight has taken it"):
        update(policy, buffer, grad_accum_steps=2)
    assert all(torch.equal(before[k], v) for k, v in policy.state_dict().items())
