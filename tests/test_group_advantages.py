"""Critic-free advantages by hand: GRPO (with and without std), RLOO, GiGPO's anchors; the
token-level clipped loss; and a GiGPO run through the command line, resumed exactly."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from vlm_ppo.buffer import VLMRolloutBuffer
from vlm_ppo.group_advantages import (
    anchor_key,
    discounted_returns,
    gigpo_advantages,
    group_normalized,
    grpo_advantages,
    rloo_advantages,
)
from vlm_ppo.model_io import token_log_probs
from vlm_ppo.ppo import UpdateSettings, mean_answer_weight, ppo_update, token_level_loss


def test_grpo_normalises_each_group_by_its_mean_and_unbiased_std():
    returns = np.array([1.0, 0.0, 0.0, 3.0, 5.0])
    groups = np.array([0, 0, 0, 1, 1])
    # group 0: mean 1/3, unbiased std sqrt(((2/3)^2 + 2 (1/3)^2) / 2) = sqrt(1/3) = 0.577350
    # group 1: mean 4, unbiased std sqrt((1 + 1) / 1) = 1.414214
    expected = [(2 / 3) / 0.577350, (-1 / 3) / 0.577350, (-1 / 3) / 0.577350, -1 / 1.414214, 1 / 1.414214]
    np.testing.assert_allclose(grpo_advantages(returns, groups), expected, rtol=1e-5)
    # Dr. GRPO: mean-centred only
    np.testing.assert_allclose(
        grpo_advantages(returns, groups, scale_std=False), [2 / 3, -1 / 3, -1 / 3, -1.0, 1.0], rtol=1e-12
    )


def test_groups_whose_returns_are_all_equal_get_zero_advantage_and_no_nan():
    returns = np.array([1.0, 1.0, 1.0, -2.0, -2.0])
    groups = np.array([0, 0, 0, 1, 1])
    for scale_std in (True, False):
        assert np.array_equal(grpo_advantages(returns, groups, scale_std), np.zeros(5))
    assert np.array_equal(rloo_advantages(returns, groups), np.zeros(5))
    assert np.array_equal(group_normalized(np.array([7.0]), np.array([0])), [0.0])  # a group of one


def test_rloo_takes_the_mean_of_the_other_episodes_as_the_baseline():
    returns = np.array([1.0, 0.0, 0.0, 4.0, 3.0, 5.0])
    groups = np.array([0, 0, 0, 1, 1, 1])
    # 1 - (0+0)/2, 0 - (1+0)/2, ...; 4 - (3+5)/2, 3 - (4+5)/2, 5 - (4+3)/2
    np.testing.assert_allclose(rloo_advantages(returns, groups), [1.0, -0.5, -0.5, 0.0, -1.5, 1.5])
    # = G / (G - 1) * (R - mean)
    np.testing.assert_allclose(rloo_advantages(returns, groups), 1.5 * grpo_advantages(returns, groups, scale_std=False))


def test_discounted_returns_run_backwards_over_an_episode():
    # R_2 = 1, R_1 = -1 + 0.5 * 1 = -0.5, R_0 = 0 + 0.5 * -0.5 = -0.25
    np.testing.assert_allclose(discounted_returns([0.0, -1.0, 1.0], 0.5), [-0.25, -0.5, 1.0])


def test_anchor_keys_are_exact_identities_of_what_the_agent_sees():
    image = np.zeros((4, 4, 3), np.uint8)
    changed = image.copy()
    changed[0, 0, 0] = 1
    assert anchor_key(image, "p") == anchor_key(image.copy(), "p")
    assert (
        len(
            {
                anchor_key(image, "p"),
                anchor_key(changed, "p"),
                anchor_key(image, "q"),
                anchor_key(None, "p"),
                anchor_key(image.reshape(2, 8, 3), "p"),
            }
        )
        == 5
    )


def test_gigpo_anchors_across_and_within_trajectories_with_discounting():
    """One group of three episodes (rewards per step, states by letter):

        episode 0: A r=0, B r=1          return 1
        episode 1: A r=0, C r=-1, A r=1  return 0   (A twice within one trajectory)
        episode 2: D r=2                 return 2   (D is a singleton)

    gamma 0.5: discounted step returns  e0: A 0.5, B 1 | e1: A -0.25, C -0.5, A 1 | e2: D 2.
    Anchor A holds {0.5, -0.25, 1}: mean 5/12, unbiased std sqrt(((1/12)^2 + (2/3)^2 + (7/12)^2) / 2) = 0.629153;
    B, C and D are met once: their step advantage is 0.
    Episode advantages: returns {1, 0, 2}, mean 1, std 1 -> {0, -1, 1}.
    """
    steps = [(0, 0.0, "A"), (0, 1.0, "B"), (1, 0.0, "A"), (1, -1.0, "C"), (1, 1.0, "A"), (2, 2.0, "D")]
    episodes, rewards, anchors = (np.array([s[i] for s in steps]) for i in range(3))
    advantages = gigpo_advantages(
        np.array([1.0, 0.0, 2.0]), np.zeros(3, int), episodes, rewards, anchors, gamma=0.5, step_coef=2.0
    )
    std = 0.629153
    step_a = [(0.5 - 5 / 12) / std, (-0.25 - 5 / 12) / std, (1 - 5 / 12) / std]
    expected = [0 + 2 * step_a[0], 0.0, -1 + 2 * step_a[1], -1.0, -1 + 2 * step_a[2], 1.0]
    np.testing.assert_allclose(advantages, expected, rtol=1e-5)
    # states of different groups never share an anchor
    two_groups = gigpo_advantages(np.array([1.0, 0.0, 2.0]), np.array([0, 1, 1]), episodes, rewards, anchors, gamma=0.5)
    assert two_groups[0] == 0.0  # episode 0 is alone in its group: no episode advantage, and its A meets no other A


def test_the_token_level_loss_by_hand():
    """Two answers of two tokens; the first's first token is a thought (λ 0.5), the rest action."""
    old = torch.zeros(2, 2)
    new = torch.log(torch.tensor([[1.5, 1.0], [0.5, 1.0]]))  # ratios 1.5, 1 | 0.5, 1
    mask = torch.tensor([[True, True], [True, False]])  # the second answer has one token
    action = torch.tensor([[False, True], [True, True]])
    advantages = torch.tensor([1.0, -1.0])
    losses = token_level_loss(new.requires_grad_(), old, advantages, mask, action, thought_coef=0.5, clip_range=0.2)
    # token losses: max(-A r, -A clip(r)): answer 0 (A=1): -min(1.5, 1.2) = -1.2, -1;  answer 1 (A=-1): max(0.5, 0.8) = 0.8
    # weights 0.5, 1 | 1:  (0.5 * -1.2 + 1 * -1 + 1 * 0.8) / 2.5 = -0.32
    assert losses.policy_loss.item() == pytest.approx(-0.32)
    assert losses.clip_fraction.item() == pytest.approx(2 / 3)  # 1.5 and 0.5 are outside [0.8, 1.2]
    assert losses.approx_kl.item() == pytest.approx(((0.5 - math.log(1.5)) + (-0.5 - math.log(0.5))) / 3)
    assert math.isnan(losses.value_loss.item()) and math.isnan(losses.reference_kl.item())
    losses.loss.backward()
    # only the unclipped tokens carry gradient: d/dnew of -A w r / 2.5 = -A w r / 2.5 at r = 1
    assert torch.allclose(new.grad, torch.tensor([[0.0, -1.0 / 2.5], [0.0, 0.0]]))


def test_the_token_level_loss_with_dual_clip_and_a_kl_penalty():
    new = torch.log(torch.tensor([[5.0]]))
    losses = token_level_loss(
        new, torch.zeros(1, 1), torch.tensor([-1.0]), torch.tensor([[True]]), torch.tensor([[True]]), 0.5, 0.2, dual_clip=3.0
    )
    assert losses.policy_loss.item() == pytest.approx(3.0)  # max(5, 1.2) = 5, capped at 3 |A|
    # the penalty is the token-weighted mean of each token's k2, like the policy term:
    # answer 0: a thought (w 0.5) with k2 0.4 and an action (w 1) with 0.2; answer 1: one action with 0.6
    token_kl = torch.tensor([[0.4, 0.2], [0.6, 0.0]])
    mask = torch.tensor([[True, True], [True, False]])
    action = torch.tensor([[False, True], [True, True]])
    losses = token_level_loss(
        torch.zeros(2, 2), torch.zeros(2, 2), torch.zeros(2), mask, action, 0.5, 0.2, token_kl=token_kl, kl_coef=0.5
    )
    assert losses.loss.item() == pytest.approx(0.5 * (0.5 * 0.4 + 0.2 + 0.6) / 2.5)
    assert losses.reference_kl.item() == pytest.approx((0.6 + 0.6) / 2)  # per answer, as PPO reports it


@pytest.mark.parametrize(
    "groups, group_size, env_count, words",
    [(2, 1, 2, "groups of at least 2 episodes"), (2, 3, 4, "2 groups of 3 need 6 envs, got 4")],
)
def test_a_group_collector_refuses_groups_that_cannot_compare(groups, group_size, env_count, words):
    # Through the Python API a group of one gave every answer a zero advantage, silently.
    from vlm_ppo.rollout import GroupCollector, SeededEnvs
    from vlm_ppo.tasks import make_task

    task = make_task("gym_cards/NumberLine-v0")
    envs = SeededEnvs(lambda: task.make_agent_env(True, True), env_count)
    with pytest.raises(ValueError, match=words):
        GroupCollector(task, envs, groups, group_size, 0, 0, "grpo", True, 1.0, 0.9, lambda steps: None)


class TokenTable(torch.nn.Module):
    """One learnable logit per token of a 4-token vocabulary, the same at every position."""

    def __init__(self):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor([0.2, -0.1, 0.4, 0.0]))

    def forward(self, samples):
        logits = self.logits.expand(*samples.tokens.shape, 4)
        return token_log_probs(logits, samples.tokens, temperature=1.0), torch.zeros(samples.tokens.shape[0])


def group_rollout(policy: TokenTable, lengths: list[int], thoughts: list[int], advantages: list[float]):
    """One step of len(lengths) answers (answer i: lengths[i] tokens, the first thoughts[i] of them
    thoughts), old log-probs the policy's own (ratio 1), advantages set as a group method sets them."""
    n, width = len(lengths), max(lengths)
    buffer = VLMRolloutBuffer(1, n, width, None, gamma=1.0, gae_lambda=1.0, rng=np.random.default_rng(0))
    tokens = np.arange(n * width).reshape(n, width) % 4
    token_mask = np.arange(width) < np.array(lengths)[:, None]
    action_mask = token_mask & (np.arange(width) >= np.array(thoughts)[:, None])
    with torch.no_grad():
        old = token_log_probs(policy.logits.expand(n, width, 4), torch.as_tensor(tokens), temperature=1.0)
    buffer.add(None, ["p"] * n, tokens, token_mask, action_mask, np.zeros(n), np.ones(n, bool), np.zeros(n),
               np.zeros(n), token_log_probs=old.numpy())  # fmt: skip
    buffer.compute_returns_and_advantage(torch.zeros(n), np.ones(n))
    buffer.advantages[:] = np.asarray(advantages, dtype=np.float32)[None, :]
    return buffer


@pytest.mark.parametrize("minibatch_size", [1, 2])
def test_group_advantages_reach_the_loss_as_they_are(minibatch_size):
    """The group methods normalise within their groups; PPO's normalisation (over the rollout at
    minibatch 1, per minibatch otherwise) must not touch them: two answers with A = 2 each would
    become 0 and teach nothing."""
    policy = TokenTable()
    buffer = group_rollout(policy, [3, 3], [1, 1], [2.0, 2.0])
    before = policy.logits.detach().clone()
    settings = UpdateSettings(ppo_epochs=1, minibatch_size=minibatch_size, grad_accum_steps=2, clip_range=0.2,
                              max_grad_norm=1e6, thought_coef=0.5, normalize_advantage=True, critic=False)  # fmt: skip
    ppo_update(policy, torch.optim.SGD(policy.parameters(), lr=1.0), None, buffer, settings)
    np.testing.assert_array_equal(buffer.advantages.flatten(), [2.0, 2.0])
    assert not torch.allclose(policy.logits.detach(), before)


@pytest.mark.parametrize("minibatch_size, grad_accum_steps", [(1, 2), (2, 1)])
def test_the_token_level_objective_does_not_depend_on_how_the_rollout_is_cut(minibatch_size, grad_accum_steps):
    """Two answers, both A = -1, of 2 and 8 tokens (one thought each, λ 0.5). Weighted lengths
    1.5 and 7.5, mean w̄ = 4.5. At ratio 1 each token's loss is -A·r_t = r_t, so the objective's
    gradient in the token log-probs is w_t / (B · w̄) = w_t / 9 for every token, whether the two
    answers share a minibatch or each has its own (then each minibatch divided by its own weight,
    1.5 or 7.5, gave the short answer's tokens 1/3 and the long one's 1/15: GRPO's length bias)."""
    policy = TokenTable()
    buffer = group_rollout(policy, [2, 8], [1, 1], [-1.0, -1.0])
    assert mean_answer_weight(buffer, 0.5) == pytest.approx(4.5)
    expected = torch.zeros(4)
    tokens, weights = torch.as_tensor(buffer.tokens[0]), np.where(buffer.action_mask[0], 1.0, 0.5) * buffer.token_mask[0]
    probs = policy.logits.detach().softmax(-1)
    for token, weight in zip(tokens.flatten().tolist(), weights.flatten().tolist()):
        expected += weight / 9 * (torch.nn.functional.one_hot(torch.tensor(token), 4) - probs)  # ∇ log p(token)
    optimizer = torch.optim.SGD(policy.parameters(), lr=1.0)
    before = policy.logits.detach().clone()
    settings = UpdateSettings(ppo_epochs=1, minibatch_size=minibatch_size, grad_accum_steps=grad_accum_steps,
                              clip_range=0.2, max_grad_norm=1e6, thought_coef=0.5, critic=False)  # fmt: skip
    ppo_update(policy, optimizer, None, buffer, settings)
    # SGD with lr 1 moves the logits by minus the gradient of the loss = + Σ w_t ∇ log p_t / 9 · (-A) ... with A = -1:
    torch.testing.assert_close(policy.logits.detach() - before, -expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("minibatch_size, grad_accum_steps", [(2, 2), (1, 3), (2, 3)])
def test_a_short_last_minibatch_weighs_its_answers_as_the_others(minibatch_size, grad_accum_steps):
    """Three answers (2, 8 and 4 tokens, advantages -1, 0.5 and 2) in one optimizer step. Cut into
    minibatches of 2 and 1, each answer must weigh 1 / (3 · w̄), as in one minibatch of three:
    averaging the two minibatches' losses gave the lone answer 1 / (2 · w̄) and the pair's
    answers 1 / (4 · w̄) each, a weight that depended on the shuffle."""

    def step(minibatch_size: int, grad_accum_steps: int) -> torch.Tensor:
        policy = TokenTable()
        buffer = group_rollout(policy, [2, 8, 4], [1, 1, 1], [-1.0, 0.5, 2.0])
        before = policy.logits.detach().clone()
        settings = UpdateSettings(ppo_epochs=1, minibatch_size=minibatch_size, grad_accum_steps=grad_accum_steps,
                                  clip_range=0.2, max_grad_norm=1e6, thought_coef=0.5, critic=False)  # fmt: skip
        ppo_update(policy, torch.optim.SGD(policy.parameters(), lr=1.0), None, buffer, settings)
        return policy.logits.detach() - before

    torch.testing.assert_close(step(minibatch_size, grad_accum_steps), step(3, 1), rtol=1e-5, atol=1e-7)


def coin_flip_policy(seed: int):
    """A stub policy for NumberLine that answers "+" or "-" at random, with the fields a
    collector reads (one token per answer, log-probs 0)."""
    from types import SimpleNamespace

    answer_rng = np.random.default_rng(seed)

    def act(images, prompts):
        n = len(prompts)
        return SimpleNamespace(
            answers=[f'{{"action": "{answer_rng.choice(["+", "-"])}"}}' for _ in range(n)],
            finished=[True] * n,
            tokens=torch.zeros(n, 1, dtype=torch.long),
            token_mask=torch.ones(n, 1, dtype=torch.bool),
            action_mask=torch.ones(n, 1, dtype=torch.bool),
            log_probs=torch.zeros(n),
            token_log_probs=torch.zeros(n, 1),
        )

    return SimpleNamespace(act=act)


def collect_number_line_groups(algo: str, group_size: int, seed: int, step_coef: float, gamma: float, answer_seed: int):
    """Two groups of text NumberLine episodes collected with :func:`coin_flip_policy`: (task,
    envs, collector)."""
    from vlm_ppo.rollout import GroupCollector, SeededEnvs
    from vlm_ppo.tasks import make_task

    task = make_task("gym_cards/NumberLine-v0")
    envs = SeededEnvs(lambda: task.make_agent_env(True, True), 2 * group_size)
    collector = GroupCollector(
        task, envs, 2, group_size, seed, 0, algo, True, step_coef, gamma,
        lambda steps: VLMRolloutBuffer(steps, 1, 1, None, 0.9, 1.0, rng=np.random.default_rng(0)),
    )  # fmt: skip
    collector.collect(coin_flip_policy(answer_seed), 0.0, np.random.default_rng(0))
    return task, envs, collector


def test_a_gigpo_collector_gives_each_step_its_episode_and_anchor_state_advantage():
    """Two GiGPO groups of four text NumberLine episodes (γ 0.8, ω 0.3), a stub policy answering
    "+" or "-" at random. Replaying each episode alone gives its rewards and the prompt of every
    state it answered in; by hand: A = (R - mean R of the group) / (std + 1e-6) plus 0.3 times the
    discounted return from the step, normalised over the steps of the group answered in the same
    state (0 for a state met once). Keying anchors on the next state, passing γ for ω, or
    pooling the groups' anchors all break it."""

    task, envs, collector = collect_number_line_groups("gigpo", 4, seed=1, step_coef=0.3, gamma=0.8, answer_seed=5)

    def normalised(values):
        values = np.asarray(values, dtype=np.float64)
        return np.zeros_like(values) if len(values) < 2 else (values - values.mean()) / (values.std(ddof=1) + 1e-6)

    returns, step_returns, states = [], [], []  # per episode: its return; per step: G_t and the state
    for seed, answers in zip(envs.seeds, envs.answers):  # replayed alone
        env = task.make_agent_env(True, True)
        observation, _ = env.reset(seed=seed)
        rewards, prompts = [], []
        for answer in answers:
            prompts.append(observation["prompt"])
            observation, reward, *_ = env.step(answer)
            rewards.append(reward)
        returns.append(sum(rewards))
        discounted, later = [], 0.0
        for reward in reversed(rewards):
            later = reward + 0.8 * later
            discounted.insert(0, later)
        step_returns.append(discounted)
        states.append(prompts)
    groups = [0, 0, 0, 0, 1, 1, 1, 1]
    episode_advantage = np.concatenate([normalised(returns[:4]), normalised(returns[4:])])
    step_advantage = [np.zeros(len(r)) for r in step_returns]
    recurring = 0
    for group in (0, 1):
        members = [(e, t) for e in range(8) if groups[e] == group for t in range(len(states[e]))]
        for state in {states[e][t] for e, t in members}:
            same = [(e, t) for e, t in members if states[e][t] == state]
            recurring += len(same) * (len(same) > 1)
            for (e, t), value in zip(same, normalised([step_returns[e][t] for e, t in same])):
                step_advantage[e][t] = value
    lengths = [len(answers) for answers in envs.answers]
    expected = [episode_advantage[e] + 0.3 * step_advantage[e][t] for t in range(max(lengths)) for e in range(8)
                if lengths[e] > t]  # fmt: skip
    assert any(np.abs(a).max() > 0.1 for a in step_advantage)  # the step level does contribute
    np.testing.assert_allclose(collector.buffer.advantages[:, 0], expected, rtol=1e-6, atol=1e-9)
    assert collector.anchor_counts == (recurring, sum(lengths)) and recurring > 0


# ------------------------------------------------------------------------------ end to end
GROUP = [
    "--task",
    "gym_cards/NumberLine-v0",
    "--env-kwargs",
    "{max_position: 2}",
    "--group-size",
    "3",
    "--groups-per-update",
    "2",
    "--max-new-tokens",
    "10",
    "--lora-r",
    "2",
    "--lora-alpha",
    "4",
    "--ppo-epochs",
    "1",
    "--minibatch-size",
    "4",
    "--grad-accum-steps",
    "2",
    "--save-every",
    "1",
    "--seed",
    "5",
]


def rows(run):
    from vlm_ppo.trainer import TIME_METRICS

    with open(run / "metrics.csv", newline="") as file:
        return [{k: v for k, v in row.items() if k not in TIME_METRICS} for row in csv.DictReader(file)]


@pytest.mark.parametrize("algo", ["gigpo", "grpo", "rloo"])
def test_a_group_method_trains_two_updates_without_a_value_head_and_resumes_exactly(tmp_path, algo):
    from vlm_ppo.cli import main
    from vlm_ppo.tiny import build_tiny_model

    model = str(build_tiny_model(tmp_path / "m", "llava"))
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    args = [*GROUP, "--algo", algo, "--model", model]
    assert main(["train", *args, "--total-env-steps", "40", "--output-dir", str(straight)]) == 0
    table = rows(straight)
    assert len(table) >= 2
    for row in table:
        assert row["losses/value_loss"] == "nan" and row["losses/explained_variance"] == "nan"
        assert float(row["charts/episodes"]) == 6.0  # 2 groups x 3 episodes, every one to its end
        assert 6 <= int(row["charts/update_env_steps"]) <= 6 * 4  # NumberLine(max 2) ends within 4 steps
    assert [int(r["env_steps"]) for r in table] == list(np.cumsum([int(r["charts/update_env_steps"]) for r in table]))
    checkpoint = straight / "checkpoints" / "update_000001"
    assert not (checkpoint / "value_head.safetensors").exists() and (checkpoint / "adapter").is_dir()
    assert main(["train", *args, "--total-env-steps", "1", "--output-dir", str(resumed)]) == 0
    assert main(["train", "--resume", str(resumed), "--total-env-steps", "40"]) == 0
    assert rows(resumed) == table


def test_an_episode_that_never_ends_is_refused_with_a_way_out(monkeypatch):
    """Groups are played to their end, and evaluation plays every episode to its end: an env
    without a time limit would hang either. The limit counts the longest episode's steps, not the
    mean over envs (one group ending at once would let the other run twice as long)."""
    from types import SimpleNamespace

    import gymnasium as gym

    from vlm_ppo.evaluation import evaluate_policy
    from vlm_ppo.rollout import GroupCollector, SeededEnvs

    made = []

    class Endless(gym.Env):
        """The first two envs made (group 0) end at their first step; the others never end."""

        observation_space = gym.spaces.Dict({"prompt": gym.spaces.Text(8)})
        action_space = gym.spaces.Text(8)

        def __init__(self):
            self.ends = len(made) < 2
            made.append(self)

        def reset(self, *, seed=None, options=None):
            return {"prompt": "p"}, {}

        def step(self, action):
            return {"prompt": "p"}, 0.0, self.ends, False, {"episode": {"r": 0.0, "l": 1}}

    def act(images, prompts):
        n = len(prompts)
        return SimpleNamespace(
            answers=["a"] * n,
            finished=[True] * n,
            tokens=torch.zeros(n, 1, dtype=torch.long),
            token_mask=torch.ones(n, 1),
            action_mask=torch.ones(n, 1),
            log_probs=torch.zeros(n),
            token_log_probs=torch.zeros(n, 1),
        )

    monkeypatch.setattr(GroupCollector, "MAX_EPISODE_STEPS", 7)
    task = SimpleNamespace(
        name="endless",
        is_success=lambda episode_return, info: False,
        episode_metrics=lambda info: {},
        make_agent_env=lambda *args, **kwargs: Endless(),
    )
    collector = GroupCollector(task, SeededEnvs(Endless, 4), 2, 2, 0, 0, "grpo", True, 0.0, 0.9, None)
    envs = collector.envs
    with pytest.raises(ValueError, match="task 'endless' has run 7 steps without ending.*TimeLimit"):
        collector.collect(SimpleNamespace(act=act), 0.0, np.random.default_rng(0))
    assert [len(answers) for answers in envs.answers] == [1, 1, 7, 7]

    made.clear()
    made.extend([None, None])  # every env evaluation makes never ends
    with pytest.raises(ValueError, match="eval: an episode of task 'endless' has run 7 steps without ending"):
        evaluate_policy(SimpleNamespace(act=act), task, episodes=3, batch=2, progress=False)


def test_a_group_collector_deals_each_group_one_start_and_gives_each_step_its_episodes_advantage():
    """Two GRPO groups of three NumberLine episodes, a stub policy that answers "+" or "-" at
    random: the members of a group are reset with one seed (one start), the groups with two; every
    buffer row carries the GRPO advantage of the episode it was a step of, computed here by
    replaying each episode from its seed and answers."""

    task, envs, collector = collect_number_line_groups("grpo", 3, seed=0, step_coef=1.0, gamma=0.9, answer_seed=3)
    assert envs.seeds[0] == envs.seeds[1] == envs.seeds[2] != envs.seeds[3] == envs.seeds[4] == envs.seeds[5]

    returns = []
    for seed, answers in zip(envs.seeds, envs.answers):  # replayed alone
        env = task.make_agent_env(True, True)
        env.reset(seed=seed)
        returns.append(sum(env.step(answer)[1] for answer in answers))
    expected = grpo_advantages(np.array(returns), np.array([0, 0, 0, 1, 1, 1]))
    assert len({tuple(envs.answers[i]) for i in range(6)}) > 2  # the stub made the episodes differ
    # rows are in play order: at each step, the envs still playing, in order
    lengths = [len(answers) for answers in envs.answers]
    episode_of_row = [env for t in range(max(lengths)) for env in range(6) if lengths[env] > t]
    np.testing.assert_allclose(collector.buffer.advantages[:, 0], expected[episode_of_row], rtol=1e-6)
