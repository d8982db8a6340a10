"""Configs: the paper's defaults, task presets, YAML and flags layered in that order, every value
checked when a config is built, and a resumed run's own settings kept."""

import argparse
import dataclasses
import typing

import pytest

from vlm_ppo.config import (
    TRAIN_FIXED_ON_RESUME,
    ConfigError,
    ModelConfig,
    TrainConfig,
    add_config_flags,
    build_config,
    config_from_dict,
    field_docs,
    given_values,
    resume_config,
    to_dict,
)
from vlm_ppo.sft import SFTConfig


def parse(*argv, config_class=TrainConfig):
    parser = argparse.ArgumentParser()
    add_config_flags(parser, config_class)
    return parser.parse_args(list(argv))


def test_defaults_are_the_papers():
    c = TrainConfig()
    paper = dict(
        init_lr=1e-5,
        end_lr=1e-9,
        lr_max_steps=25,
        gamma=0.9,
        gae_lambda=0.95,
        clip_range=0.1,
        ppo_epochs=4,
        minibatch_size=1,
        grad_accum_steps=128,
        max_grad_norm=0.01,
        temperature=0.2,
        max_new_tokens=256,
        thought_coef=0.5,
        total_env_steps=15_000,
        kl_coef=0.0,
        dual_clip=None,
        target_kl=None,  # none of these in the paper
    )
    assert {key: getattr(c, key) for key in paper} == paper
    assert (c.model.lora_r, c.model.lora_alpha, c.model.lora_dropout) == (128, 256, 0.05)


@pytest.mark.parametrize(
    "task, num_steps",
    [
        ("gym_cards/NumberLine-v0", 512),
        ("gym_cards/Blackjack-v0", 512),
        ("gym_cards/EZPoints-v0", 1024),
        ("gym_cards/Points24-v0", 1024),
    ],
)
def test_task_presets(task, num_steps):
    config = build_config(parse("--task", task))
    assert (config.num_steps, config.total_env_steps, config.thought_coef) == (num_steps, 15_000, 0.5)


def test_layers_flags_over_yaml_over_preset(tmp_path):
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("task: gym_cards/EZPoints-v0\nnum_steps: 64\ninit_lr: 0.001\nlora_r: 4\nmodel:\n  dtype: float32\n")
    config = build_config(
        parse("--init-lr", "3e-5", "--no-chain-of-thought", "--env-kwargs", "{}", "--lora-alpha", "8"), config_file=yaml_file
    )
    assert (config.task, config.num_steps, config.init_lr, config.chain_of_thought) == (
        "gym_cards/EZPoints-v0",
        64,
        3e-5,
        False,
    )
    assert (config.model.lora_r, config.model.lora_alpha, config.model.dtype) == (4, 8, "float32")  # model keys flat or nested


def test_the_older_env_id_key_names_the_task(tmp_path):
    (tmp_path / "old.yaml").write_text("env_id: gym_cards/Blackjack-v0\n")
    assert build_config(config_file=tmp_path / "old.yaml").task == "gym_cards/Blackjack-v0"


def test_yaml_round_trip(tmp_path):
    config = build_config(
        parse(
            "--clip-range-vf", "0.2", "--value-hidden-sizes", "32", "16", "--env-kwargs", "{max_position: 8}", "--model", "m"
        )
    )
    config.to_yaml(tmp_path / "c.yaml")
    assert build_config(config_file=tmp_path / "c.yaml") == config
    assert config.env_kwargs == {"max_position": 8} and config.value_hidden_sizes == (32, 16) and config.model.path == "m"


def test_none_on_the_command_line():
    assert build_config(parse("--clip-range-vf", "none")).clip_range_vf is None


@pytest.mark.parametrize(
    "text, error",
    [
        ("lr: 0.1\n", "unknown config keys .*\\['lr'\\]"),
        ("- a list\n", "must hold a mapping"),
        ("ppo_epochs: abc\n", "ppo_epochs must be an integer, got 'abc'"),
        ("init_lr: [1]\n", "init_lr must be a number"),
        ("chain_of_thought: 1\n", "chain_of_thought must be true/false"),
        ("env_kwargs: [1, 2]\n", "env_kwargs must be a mapping"),
        ("value_hidden_sizes: 16\n", "value_hidden_sizes must be a list of an integer"),
        ("model: 3\n", "model must hold a mapping"),
        ("num_steps: [\n", "is not valid YAML"),
    ],
)
def test_bad_yaml_is_one_clear_error_before_anything_loads(tmp_path, text, error):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError, match=error):
        build_config(config_file=tmp_path / "bad.yaml")


def test_missing_yaml_file():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_config(config_file="nope.yaml")


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("num_steps", 0, "num_steps must be at least 1"),
        ("temperature", 0.0, "temperature must be positive"),
        ("kl_coef", -0.1, "kl_coef must be non-negative"),
        ("dual_clip", 1.0, "dual_clip must be above 1"),
        ("gamma", 1.5, "gamma must be between 0 and 1"),
        ("seed", -1, "seed must be at least 0"),
        ("old_log_probs", "cache", "old_log_probs must be one of"),
        ("target_kl", 0.0, "target_kl must be positive or None"),
    ],
)
def test_invalid_values(field, value, error):
    with pytest.raises(ConfigError, match=error):
        TrainConfig(**{field: value})


def _float_fields() -> list[tuple[type, str]]:
    fields = []
    for config_class in (TrainConfig, ModelConfig, SFTConfig):
        for name, kind in typing.get_type_hints(config_class).items():
            if kind is float or float in typing.get_args(kind):
                fields.append((config_class, name))
    return fields


FLOAT_FIELDS = _float_fields()


def test_the_float_fields_checked_include_those_a_review_found_accepting_nan():
    names = {name for _, name in FLOAT_FIELDS}
    assert {"end_lr", "kl_coef", "value_coef", "step_advantage_coef", "dual_clip", "lora_dropout", "lr"} <= names


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("config_class, name", FLOAT_FIELDS, ids=[f"{c.__name__}.{n}" for c, n in FLOAT_FIELDS])
def test_every_float_field_refuses_a_non_finite_value(config_class, name, value):
    """NaN compares False with every bound, so a range check alone lets it through."""
    required = {"data": "d"} if config_class is SFTConfig else {}
    with pytest.raises(ConfigError, match=f"^{name} must be a finite number"):
        config_class(**required, **{name: value})


def test_the_seed_must_fit_numpys_seed_range():
    with pytest.raises(ConfigError, match="seed must be at least 0 and below 2\\*\\*32"):
        TrainConfig(seed=2**32)
    assert TrainConfig(seed=2**32 - 1).seed == 2**32 - 1


@pytest.mark.parametrize("text, argv", [("model: 5\nlora_r: 8\n", ()), ("model: 5\n", ("--lora-r", "8"))])
def test_a_model_that_is_not_a_mapping_is_refused_when_model_keys_merge_into_it(tmp_path, text, argv):
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError, match="c.yaml: model must be a mapping of config keys"):
        build_config(parse(*argv), config_file=tmp_path / "c.yaml")


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("train_vision", "half", "train_vision must be one of"),
        ("dtype", "int8", "dtype must be one of"),
        ("lora_r", 0, "lora_r must be at least 1"),
    ],
)
def test_invalid_model_values(field, value, error):
    with pytest.raises(ConfigError, match=error):
        ModelConfig(**{field: value})


def test_every_field_is_documented_and_has_a_flag():
    for config_class in (TrainConfig, ModelConfig, SFTConfig):
        docs = field_docs(config_class)
        names = [f.name for f in dataclasses.fields(config_class)]
        assert set(docs) == set(names) and all(docs[n].strip() for n in names)
    flags = vars(parse())
    assert {f.name for f in dataclasses.fields(TrainConfig) if f.name != "model"} <= set(flags)
    assert {f"model.{f.name}" for f in dataclasses.fields(ModelConfig)} <= set(flags)


def test_sft_and_rl_share_the_model_config_with_their_own_lora_defaults():
    sft = build_config(parse("--data", "d", config_class=SFTConfig), config_class=SFTConfig)
    assert isinstance(sft.model, ModelConfig) and (sft.model.lora_r, sft.model.lora_alpha) == (16, 32)
    assert (TrainConfig().model.lora_r, TrainConfig().model.lora_alpha) == (128, 256)
    assert given_values(parse("--data", "d", "--no-lora", config_class=SFTConfig), SFTConfig) == {
        "data": "d",
        "model": {"lora": False},
    }


def test_alfworld_preset_is_the_papers():
    config = build_config(parse("--task", "alfworld"))
    assert (config.thought_coef, config.num_steps, config.grad_accum_steps, config.total_env_steps) == (0.2, 1024, 256, 12_000)
    assert config.model.train_vision == "all"


def test_resume_keeps_the_saved_settings_and_reports_what_changed():
    saved = to_dict(TrainConfig(task="gym_cards/Blackjack-v0", num_steps=8, total_env_steps=16, output_dir="runs/bj"))
    config, changes = resume_config(TrainConfig, saved, {"total_env_steps": 64, "save_every": 2}, TRAIN_FIXED_ON_RESUME)
    assert (config.task, config.num_steps, config.output_dir) == ("gym_cards/Blackjack-v0", 8, "runs/bj")  # not the defaults
    assert (config.total_env_steps, config.save_every) == (64, 2)
    assert changes == ["total_env_steps 16 -> 64", "save_every 5 -> 2"]
    same, none = resume_config(TrainConfig, saved, {"num_steps": 8}, TRAIN_FIXED_ON_RESUME)
    assert none == [] and same == config_from_dict(TrainConfig, saved, "x")


@pytest.mark.parametrize(
    "given, refused",
    [
        ({"task": "gym_cards/EZPoints-v0"}, "task"),
        ({"model": {"lora_r": 4}}, "model.lora_r"),
        ({"lora": False}, "model.lora"),
        ({"num_envs": 4}, "num_envs"),
    ],
)
def test_resume_refuses_changes_the_saved_state_depends_on(given, refused):
    saved = to_dict(TrainConfig(num_envs=2))
    with pytest.raises(ConfigError, match=f"cannot change {refused}"):
        resume_config(TrainConfig, saved, given, TRAIN_FIXED_ON_RESUME)


def test_resume_sees_keys_removed_from_a_fixed_mapping():
    saved = to_dict(TrainConfig(env_kwargs={"max_position": 8, "games": "a"}))
    with pytest.raises(ConfigError, match="cannot change env_kwargs.max_position 8 -> '\\(unset\\)'"):
        resume_config(TrainConfig, saved, {"env_kwargs": {"games": "a"}}, TRAIN_FIXED_ON_RESUME)


def test_a_model_path_may_be_written_as_model(tmp_path):
    (tmp_path / "c.yaml").write_text("model: models/mine\nlora_r: 8\n")
    config = build_config(config_file=tmp_path / "c.yaml")
    assert (config.model.path, config.model.lora_r) == ("models/mine", 8)
    assert config_from_dict(TrainConfig, {"model": "x"}, "t").model.path == "x"
