"""TrainConfig: the paper's defaults, per-env presets, YAML and flags layered in that order."""

import argparse
import dataclasses

import pytest

from vlm_ppo.config import PRESETS, TrainConfig, add_config_flags, build_config, field_docs


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    return parser.parse_args(list(argv))


def test_defaults_are_the_papers():
    c = TrainConfig()
    paper = dict(
        init_lr=1e-5, end_lr=1e-9, lr_max_steps=25, gamma=0.9, gae_lambda=0.95, clip_range=0.1, ppo_epochs=4,
        minibatch_size=1, grad_accum_steps=128, max_grad_norm=0.01, temperature=0.2, max_new_tokens=256,
        thought_coef=0.5, lora_r=128, lora_alpha=256, lora_dropout=0.05, total_env_steps=15_000,
        kl_coef=0.0, dual_clip=None, target_kl=None,  # none of these in the paper
    )
    assert {key: getattr(c, key) for key in paper} == paper


@pytest.mark.parametrize("env_id, num_steps", [("gym_cards/NumberLine-v0", 512), ("gym_cards/Blackjack-v0", 512), ("gym_cards/EZPoints-v0", 1024), ("gym_cards/Points24-v0", 1024)])
def test_presets(env_id, num_steps):
    config = build_config(parse("--env-id", env_id))
    assert (config.num_steps, config.total_env_steps, config.thought_coef) == (num_steps, 15_000, 0.5)
    assert config.num_updates == -(-15_000 // num_steps)


def test_layers_flags_over_yaml_over_preset(tmp_path):
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("env_id: gym_cards/EZPoints-v0\nnum_steps: 64\ninit_lr: 0.001\n")
    config = build_config(parse("--init-lr", "3e-5", "--no-chain-of-thought", "--env-kwargs", "{}"), config_file=yaml_file)
    assert (config.env_id, config.num_steps, config.init_lr, config.chain_of_thought) == ("gym_cards/EZPoints-v0", 64, 3e-5, False)


def test_yaml_round_trip(tmp_path):
    config = build_config(parse("--clip-range-vf", "0.2", "--value-hidden-sizes", "32", "16", "--env-kwargs", "{max_position: 8}"))
    config.to_yaml(tmp_path / "c.yaml")
    assert build_config(config_file=tmp_path / "c.yaml") == config
    assert config.env_kwargs == {"max_position": 8} and config.value_hidden_sizes == (32, 16)


def test_none_on_the_command_line():
    assert build_config(parse("--clip-range-vf", "none")).clip_range_vf is None


@pytest.mark.parametrize(
    "text, error",
    [("lr: 0.1\n", "unknown config keys .*\\['lr'\\]"), ("- a list\n", "must hold a mapping")],
)
def test_bad_yaml_is_a_clear_error(tmp_path, text, error):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ValueError, match=error):
        build_config(config_file=tmp_path / "bad.yaml")


def test_missing_yaml_file():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_config(config_file="nope.yaml")


@pytest.mark.parametrize("field, value, error", [("train_vision", "half", "train_vision must be one of"), ("num_steps", 0, "num_steps must be at least 1"), ("temperature", 0.0, "temperature must be positive"), ("dtype", "int8", "dtype must be one of"),
    ("kl_coef", -0.1, "kl_coef must be non-negative"), ("dual_clip", 1.0, "dual_clip must be above 1")])
def test_invalid_values(field, value, error):
    with pytest.raises(ValueError, match=error):
        TrainConfig(**{field: value})


def test_every_field_is_documented_and_has_a_flag():
    docs = field_docs()
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    assert set(docs) == set(names) and all(docs[n].strip() for n in names)
    flags = vars(parse())
    assert set(names) <= set(flags)
    assert set(PRESETS) == {"gym_cards/NumberLine-v0", "gym_cards/Blackjack-v0", "gym_cards/EZPoints-v0", "gym_cards/Points24-v0", "alfworld/ALFWorld-v0"}


def test_alfworld_preset_is_the_papers():
    config = build_config(parse("--env-id", "alfworld/ALFWorld-v0"))
    assert (config.thought_coef, config.num_steps, config.grad_accum_steps, config.total_env_steps) == (0.2, 1024, 256, 12_000)
