"""Collection and the trainer's pieces that end-to-end runs reach only by chance."""

import json

import numpy as np
import pytest

from vlm_ppo.rollout import TRAIN_SEED_LIMIT, EpisodeLog, SeededEnvs, episode_seed
from vlm_ppo.tasks import make_task

NUMBER_LINE = make_task("gym_cards/NumberLine-v0")


def test_episode_seeds_are_below_the_evaluation_seeds_and_differ_by_coordinates():
    from vlm_ppo.evaluation import EVAL_SEED_OFFSET

    seeds = {episode_seed(1, rank, env, k) for rank in range(2) for env in range(4) for k in range(50)}
    assert len(seeds) == 400 and max(seeds) < TRAIN_SEED_LIMIT <= EVAL_SEED_OFFSET
    assert episode_seed(1, 0, 0, 0) == episode_seed(1, 0, 0, 0) != episode_seed(2, 0, 0, 0)


def test_an_envs_state_is_its_seed_and_answers_and_replaying_them_restores_it():
    envs = SeededEnvs(lambda: NUMBER_LINE.make_agent_env(text_only=True), 2)
    envs.reset(0, seed=11)
    envs.reset(1, seed=12)
    for answer in ['{"action": "+"}', "junk: a random action drawn from the env's own seeded stream", '{"action": "-"}']:
        envs.step(0, answer)
    state = json.loads(json.dumps(envs.state()))  # as a checkpoint stores it
    assert [{key: env[key] for key in ("seed", "answers")} for env in state] == [
        {
            "seed": 11,
            "answers": ['{"action": "+"}', "junk: a random action drawn from the env's own seeded stream", '{"action": "-"}'],
        },
        {"seed": 12, "answers": []},
    ]
    assert [env["view"] for env in state] == envs.views and len(set(envs.views)) == 2  # what each shows, hashed
    copy = SeededEnvs(lambda: NUMBER_LINE.make_agent_env(text_only=True), 2)
    restored = copy.restore(state)
    for index in range(2):
        original, again = envs.envs[index].unwrapped, copy.envs[index].unwrapped
        assert (original.position, original.target) == (again.position, again.target)
        assert restored[index]["prompt"] == NUMBER_LINE.prompt(envs.envs[index], True, True)
    for answer in ("junk", '{"action": "+"}'):  # the same future, random fallback included
        assert envs.step(0, answer)[1:4] == copy.step(0, answer)[1:4]
    with pytest.raises(ValueError, match="holds 2 envs, this run has 3"):
        SeededEnvs(lambda: NUMBER_LINE.make_agent_env(text_only=True), 3).restore(state)


def test_episode_log_means_and_the_tasks_success_rule():
    log = EpisodeLog()
    for total, parsed in ((1.0, True), (-3.0, False), (0.0, True)):
        log.add_step({"action_parsed": parsed})
        log.add_episode(NUMBER_LINE, {"episode": {"r": total, "l": 2}})
    summary = log.summary(NUMBER_LINE)
    assert summary["charts/success_rate"] == pytest.approx(1 / 3)  # return > 0
    assert summary["charts/episodic_return"] == pytest.approx(-2 / 3) and summary["charts/episodes"] == 3.0
    assert summary["charts/parse_failure_rate"] == pytest.approx(1 / 3)
    assert np.isnan(EpisodeLog().summary(NUMBER_LINE)["charts/success_rate"])


def test_time_limit_truncation_bootstraps_with_the_final_observations_value(tmp_path, monkeypatch):
    """NumberLine with max_position=1 truncates after 2 steps; the stored reward of a truncated
    step must be r + gamma * V(final observation), and other steps keep r."""
    from vlm_ppo.config import ModelConfig, TrainConfig
    from vlm_ppo.tiny import build_tiny_model
    from vlm_ppo.trainer import Trainer

    model = build_tiny_model(tmp_path / "m", "llava")
    config = TrainConfig(
        env_kwargs={"max_position": 1},
        model=ModelConfig(path=str(model), lora_r=2, lora_alpha=4),
        num_envs=4,
        num_steps=6,
        max_new_tokens=4,
        value_hidden_sizes=(8,),
        output_dir=str(tmp_path / "run"),
        seed=5,
    )
    trainer = Trainer(config)
    policy = trainer._policy
    monkeypatch.setattr(policy, "value", lambda images, prompts: np.full(len(prompts), 5.0, np.float32))
    raw = {}
    original_step = trainer.envs.step

    def recording_step(index, answer):
        result = original_step(index, answer)
        raw.setdefault(index, []).append((result[1], result[2], result[3]))
        return result

    monkeypatch.setattr(trainer.envs, "step", recording_step)
    trainer.collector.collect(policy, config.num_steps, kl_coef=0.0)
    rewards, terminated, truncated = (np.array([[raw[env][t][k] for env in range(4)] for t in range(6)]) for k in range(3))
    cut = truncated & ~terminated
    assert cut.any() and (~cut).any()
    expected = np.where(cut, rewards + config.gamma * 5.0, rewards)
    np.testing.assert_allclose(trainer.collector.buffer.rewards, expected, rtol=1e-6)


def test_q4_needs_cuda(tmp_path):
    import torch

    from vlm_ppo.model_loading import load_base_model
    from vlm_ppo.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "m", "text")
    with pytest.raises(ValueError, match="--q4 needs a CUDA GPU"):
        load_base_model(model, torch.device("cpu"), torch.float32, q4=True)


def test_a_4bit_model_computes_alike_fresh_resumed_and_evaluated(tmp_path, monkeypatch):
    """peft's 4-bit preparation (every other weight to float32) ran only for fresh adapters: a
    resumed or evaluated q4 checkpoint kept its norms, embeddings and LM head in bfloat16. A bf16
    model that says it is 4-bit stands in for bitsandbytes, which needs CUDA."""
    import torch

    import vlm_ppo.model_loading as model_loading
    from vlm_ppo.config import ModelConfig
    from vlm_ppo.tiny import build_tiny_model

    path = build_tiny_model(tmp_path / "m", "text")
    real_load = model_loading.load_base_model

    def load_as_4bit(*args, **kwargs):
        model, processor = real_load(*args, **kwargs)
        model.is_loaded_in_4bit = True
        return model, processor

    monkeypatch.setattr(model_loading, "load_base_model", load_as_4bit)
    config = ModelConfig(path=str(path), dtype="bfloat16", lora_r=2, lora_alpha=4, device="cpu")
    cpu = torch.device("cpu")
    fresh = model_loading.prepare_model(config, cpu, text_only=True).model
    fresh.save_pretrained(tmp_path / "checkpoint" / "adapter")

    def dtypes(model):
        return {name.replace(".default", ""): p.dtype for name, p in model.named_parameters()}

    assert set(dtypes(fresh).values()) == {torch.float32}
    for trainable in (True, False):
        loaded = model_loading.prepare_model(config, cpu, True, tmp_path / "checkpoint", trainable=trainable).model
        assert dtypes(loaded) == dtypes(fresh)


def test_vision_lr_gives_the_vision_tower_and_projector_their_own_group(tmp_path):
    """With train_vision="all" and vision_lr, the optimizer holds two groups: the vision tower's
    LoRA adapters and the projector at vision_lr, everything else trainable (language adapters,
    value head) at init_lr; a resume keeps the ratio (``lr_scale``)."""
    from vlm_ppo.config import ConfigError, ModelConfig, TrainConfig
    from vlm_ppo.model_loading import module_part
    from vlm_ppo.tiny import build_tiny_model
    from vlm_ppo.trainer import Trainer

    model = build_tiny_model(tmp_path / "m", "llava")
    values = dict(
        model=ModelConfig(path=str(model), lora_r=2, lora_alpha=4, train_vision="all"),
        num_envs=2, num_steps=2, max_new_tokens=4, value_hidden_sizes=(8,), output_dir=str(tmp_path / "run"),
        init_lr=1e-4, vision_lr=1e-6,
    )  # fmt: skip
    trainer = Trainer(TrainConfig(**values))
    groups = trainer.optimizer.param_groups
    assert [g["lr"] for g in groups] == pytest.approx([1e-4, 1e-6])
    assert [g["lr_scale"] for g in groups] == pytest.approx([1.0, 1e-2])
    by_id = {id(p): name for name, p in trainer._policy.named_parameters() if p.requires_grad}
    vision = {by_id[id(p)] for p in groups[1]["params"]}
    assert vision and all(module_part(name) in ("vision", "projector") for name in vision)
    assert any(module_part(name) == "projector" for name in vision) and any(module_part(name) == "vision" for name in vision)
    assert vision | {by_id[id(p)] for p in groups[0]["params"]} == set(by_id.values())
    with pytest.raises(ConfigError, match="vision_lr needs train_vision"):
        TrainConfig(**{**values, "model": ModelConfig(path=str(model))})
