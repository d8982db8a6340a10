"""Trainer pieces that the end-to-end runs reach only by chance."""

import gymnasium as gym

from vlm_ppo.agent_env import make_agent_env
from vlm_ppo.trainer import step_info_values


def toward_target(info, env):
    return '{"action": "+"}' if info["Target"][env] > info["Current"][env] else '{"action": "-"}'


def test_step_info_comes_from_final_info_for_envs_that_just_finished():
    """Same-step autoreset moves a finished env's step info into final_info; a wrong merge would
    count its answer as unparsed, or fail outright when every env finishes at once."""
    envs = gym.vector.SyncVectorEnv(
        [lambda: make_agent_env("gym_cards/NumberLine-v0", max_position=1)] * 3,
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    _, info = envs.reset(seed=0)  # max_position=1: the right move ends the episode at once
    _, _, terminated, _, info = envs.step(tuple(toward_target(info, env) for env in range(3)))
    assert terminated.all() and "action_parsed" not in info
    assert step_info_values(info, "action_parsed") == [True, True, True]
    wrong = '{"action": "-"}' if info["Target"][1] > info["Current"][1] else '{"action": "+"}'
    _, _, terminated, _, info = envs.step((toward_target(info, 0), wrong, "junk"))
    assert terminated[0] and not terminated[1]
    assert [bool(v) for v in step_info_values(info, "action_parsed")] == [True, True, False]


def test_time_limit_truncation_bootstraps_with_the_final_observations_value(tmp_path, monkeypatch):
    """NumberLine with max_position=1 truncates after 2 steps; the stored reward of a truncated
    step must be r + gamma * V(final observation), and other steps keep r."""
    import numpy as np

    from vlm_ppo.config import TrainConfig
    from vlm_ppo.tiny import build_tiny_model
    from vlm_ppo.trainer import Trainer

    model = build_tiny_model(tmp_path / "m", "llava")
    config = TrainConfig(
        env_kwargs={"max_position": 1}, model=str(model), num_envs=4, num_steps=6, max_new_tokens=4,
        lora_r=2, lora_alpha=4, value_hidden_sizes=(8,), output_dir=str(tmp_path / "run"), seed=5,
    )
    trainer = Trainer(config)
    policy = trainer._policy
    monkeypatch.setattr(policy, "value", lambda images, prompts: np.full(len(prompts), 5.0, np.float32))
    raw = []
    original_step = trainer.envs.step

    def recording_step(actions):
        result = original_step(actions)
        raw.append((result[1].copy(), result[2].copy(), result[3].copy()))
        return result

    monkeypatch.setattr(trainer.envs, "step", recording_step)

    class NoProgress:
        def update(self, n):
            pass

    trainer.collect_rollout(NoProgress())
    rewards, terminated, truncated = (np.stack(x) for x in zip(*raw))
    cut = truncated & ~terminated
    assert cut.any() and (~cut).any()
    expected = np.where(cut, rewards + config.gamma * 5.0, rewards)
    np.testing.assert_allclose(trainer.buffer.rewards, expected, rtol=1e-6)


def test_q4_needs_cuda(tmp_path):
    import pytest
    import torch

    from vlm_ppo.model_loading import load_base_model
    from vlm_ppo.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "m", "text")
    with pytest.raises(ValueError, match="--q4 needs a CUDA GPU"):
        load_base_model(model, torch.device("cpu"), torch.float32, q4=True)
