"""Configuration: dataclasses whose fields document themselves, checked before anything loads.

One :class:`ModelConfig` (which model, dtype, 4-bit, LoRA, what of the vision side trains) is
embedded in both the RL config (:class:`TrainConfig`) and the SFT config
(:class:`vlm_ppo.sft.SFTConfig`). Values are layered: the dataclass defaults (the paper's), then
the task's preset, then a YAML file, then command-line flags (one per field, generated from the
dataclasses; model fields too, e.g. ``--model``, ``--lora-r``). In YAML the model settings may sit
under ``model:`` or at the top level. Every value's type and range is checked when a config is
built, so a wrong value fails in one line before any model loads.

A resumed run keeps its own config: only values the user gives (flags, a ``--config`` file)
change it, the run says which, and settings the saved state depends on (the model, the task, the
envs) cannot change.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import math
import textwrap
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

TRAIN_VISION = ("none", "projector", "all")
DTYPES = ("auto", "float32", "bfloat16", "float16")
OLD_LOG_PROBS = ("auto", "generate", "forward")
ALGORITHMS = ("ppo", "grpo", "rloo", "gigpo")


class ConfigError(ValueError):
    """A configuration value, file or key is wrong: one line that names it."""


@dataclass
class ModelConfig:
    """Which model trains, and how: shared by RL and SFT."""

    path: str | None = None
    """A Hugging Face model directory (flag --model); None builds a tiny random smoke-test model in the run directory."""
    dtype: str = "auto"
    """Compute dtype: auto = bfloat16 on a GPU that has it, else float32. Trained full weights stay float32 under autocast."""
    q4: bool = False
    """Load the base model in 4 bits (needs bitsandbytes and CUDA)."""
    lora: bool = True
    """Train LoRA adapters; False trains every language-model weight (tiny models: their random LM
    head is out of LoRA's reach)."""
    lora_r: int = 128
    """LoRA rank."""
    lora_alpha: int = 256
    """LoRA alpha."""
    lora_dropout: float = 0.05
    """LoRA dropout, active in SFT only: RL runs the model without dropout (rollout and update must
    score an answer with the same function), so there it only ends up in the adapter's config."""
    train_vision: str = "none"
    """What of the vision side trains: none, projector (the multimodal projector), all (projector +
    LoRA on the vision tower)."""
    device: str = "auto"
    """auto (CUDA when available), cpu or cuda."""

    def __post_init__(self) -> None:
        check_types(self)
        _choice("train_vision", self.train_vision, TRAIN_VISION)
        _choice("dtype", self.dtype, DTYPES)
        _choice("device", self.device, ("auto", "cpu", "cuda"))
        _at_least(self, ("lora_r", "lora_alpha"), 1)
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ConfigError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")

    def check_trainable(self) -> None:
        """Refuse what would train wrongly (evaluation may still use these settings)."""
        if self.dtype == "float16":
            raise ConfigError(
                "dtype float16 would train without loss scaling (small gradients underflow to zero); use "
                "bfloat16 (Ampere GPUs or newer) or float32"
            )
        if self.q4 and not self.lora:
            raise ConfigError("q4 weights cannot be trained themselves: --q4 needs LoRA (drop --no-lora)")


@dataclass
class TrainConfig:
    """RL fine-tuning of a VLM (or text LM) on one task. Defaults follow RL4VLM."""

    # --- task
    task: str = "gym_cards/NumberLine-v0"
    """The task: a registered name (gym_cards/NumberLine-v0, ..., alfworld), module:factory for your
    own, or a Gymnasium env id with action_words and task_description."""
    env_kwargs: dict = field(default_factory=dict)
    """Options passed to gym.make (e.g. {"max_position": 8})."""
    action_words: list[str] | None = None
    """For a Gymnasium env id: the word of each action, in action order."""
    task_description: str | None = None
    """For a Gymnasium env id: what the task is, for the prompt."""
    chain_of_thought: bool = True
    """Ask for thoughts before the action (False: the paper's action-only ablation)."""
    text_only: bool = False
    """Feed the env's text description instead of the image (for plain causal LMs)."""
    num_envs: int = 1
    """Envs stepped in parallel per process."""
    seed: int = 1
    """Seeds torch, numpy, Python and every episode (training episodes are seeded below 10^9, evaluation's from 10^9)."""

    # --- model
    model: ModelConfig = field(default_factory=ModelConfig)
    """The model and how it trains (flags --model, --dtype, --lora-r, ...)."""
    value_hidden_sizes: tuple[int, ...] = (1024, 512)
    """Hidden layer sizes of the value head MLP."""

    # --- generation
    temperature: float = 0.2
    """Sampling temperature (log-probs are taken at the same temperature)."""
    max_new_tokens: int = 256
    """Longest answer."""
    old_log_probs: str = "auto"
    """Where a rollout's old log-probs (and values) come from: generate (its own logits, free),
    forward (one more forward pass, the update's arithmetic), or auto: forward unless the model
    computes in float32, where both agree to 1e-5 (bfloat16: up to 0.5 nats per answer apart)."""

    # --- the algorithm
    algo: str = "ppo"
    """The RL algorithm: ppo (the paper's: a value head, GAE, the clipped sequence ratio) or a
    critic-free group method: grpo, rloo or gigpo (groups of episodes from the same start, the
    token-level clipped objective; see vlm_ppo.group_advantages)."""
    total_env_steps: int = 15_000
    """Env steps (all envs, all processes) to train for."""
    num_steps: int = 512
    """PPO: env steps per env per update (rollout length)."""
    group_size: int = 8
    """Group methods: episodes per group, all reset with the same seed (the same start)."""
    groups_per_update: int = 4
    """Group methods: groups per update and process, each played to the end of its episodes."""
    scale_std: bool = True
    """Group methods: divide by the group's std (GRPO, GiGPO); False only mean-centres (Dr. GRPO)."""
    step_advantage_coef: float = 1.0
    """GiGPO's ω: A = A_episode + ω · A_step (its step-level returns are discounted by gamma)."""
    init_lr: float = 1e-5
    """Learning rate at the first update."""
    end_lr: float = 1e-9
    """Learning rate after lr_max_steps updates (cosine in between)."""
    lr_max_steps: int = 25
    """Updates over which the learning rate decays."""
    vision_lr: float | None = None
    """Learning rate at the first update of the vision tower and projector when model.train_vision
    trains them (None: init_lr); it follows the same cosine (see SFT's vision_lr)."""
    gamma: float = 0.9
    """Discount."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_range: float = 0.1
    """PPO ratio clip."""
    dual_clip: float | None = None
    """Dual-clip PPO's c > 1: a negative-advantage answer's loss is capped at c·|A| however far its
    ratio has grown (None: plain PPO, as the paper)."""
    clip_range_vf: float | None = None
    """Value clip (None: no value clipping)."""
    value_coef: float = 0.5
    """Weight of the value loss."""
    ppo_epochs: int = 4
    """Passes over each rollout."""
    minibatch_size: int = 1
    """Samples per forward/backward."""
    grad_accum_steps: int = 128
    """Minibatches per optimizer step."""
    max_grad_norm: float = 0.01
    """Gradient clipping norm."""
    target_kl: float | None = None
    """Stop an update once a minibatch's approx-KL exceeds 1.5 x this (SB3's target_kl); None: never."""
    thought_coef: float = 0.5
    """λ in λ·log p(thoughts) + log p(action)."""
    kl_coef: float = 0.0
    """β of a penalty β·KL(policy ‖ starting model) per answer, which keeps the thoughts' wording and
    reading from drifting; 0 (the paper): none. Full weights then hold a second, frozen copy."""
    normalize_advantage: bool = True
    """PPO: normalise advantages (over the rollout when minibatches hold one sample); the group
    methods' advantages are normalised within their groups and are taken as they are."""

    # --- run
    output_dir: str = "runs/run"
    """Run directory: config.yaml, metrics.csv, tensorboard/, checkpoints/."""
    save_every: int = 5
    """Checkpoint every this many updates (and always at the end)."""
    wandb: bool = False
    """Also log to Weights & Biases."""

    def __post_init__(self) -> None:
        check_types(self)
        self.model.check_trainable()
        _choice("old_log_probs", self.old_log_probs, OLD_LOG_PROBS)
        _choice("algo", self.algo, ALGORITHMS)
        _at_least(
            self,
            (
                "num_envs",
                "num_steps",
                "ppo_epochs",
                "minibatch_size",
                "grad_accum_steps",
                "max_new_tokens",
                "total_env_steps",
                "lr_max_steps",
                "save_every",
                "groups_per_update",
            ),
            1,
        )
        _at_least(self, ("group_size",), 2)
        if not 0 <= self.seed < 2**32:  # NumPy's seed range: a larger one fails only after the run directory exists
            raise ConfigError(f"seed must be at least 0 and below 2**32, got {self.seed}")
        if self.step_advantage_coef < 0:
            raise ConfigError(f"step_advantage_coef must be non-negative, got {self.step_advantage_coef}")
        if not all(size >= 1 for size in self.value_hidden_sizes):
            raise ConfigError(f"value_hidden_sizes must be positive, got {list(self.value_hidden_sizes)}")
        if self.dual_clip is not None and self.dual_clip <= 1:
            raise ConfigError(f"dual_clip must be above 1 (it caps the loss at dual_clip x |advantage|), got {self.dual_clip}")
        for name in ("kl_coef", "value_coef"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be non-negative, got {getattr(self, name)}")
        for name in ("temperature", "init_lr", "clip_range", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("target_kl", "clip_range_vf"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive or None, got {getattr(self, name)}")
        if self.end_lr < 0:
            raise ConfigError(f"end_lr must be non-negative, got {self.end_lr}")
        if self.vision_lr is not None and not self.vision_lr > 0:
            raise ConfigError(f"vision_lr must be above 0 (or None: init_lr), got {self.vision_lr}")
        if self.vision_lr is not None and self.model.train_vision == "none":
            raise ConfigError("vision_lr needs train_vision projector or all: with none the vision part is frozen")
        for name in ("gamma", "gae_lambda", "thought_coef"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1, got {getattr(self, name)}")

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(to_dict(self), sort_keys=False))


# Settings a saved run depends on: a resumed run cannot change them.
TRAIN_FIXED_ON_RESUME = (
    "task",
    "vision_lr",
    "env_kwargs",
    "action_words",
    "task_description",
    "chain_of_thought",
    "text_only",
    "num_envs",
    "seed",
    "model",
    "value_hidden_sizes",
    "algo",
    "group_size",
    "groups_per_update",
)


# --------------------------------------------------------------------------------- checking
def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {allowed}, got {value!r}")


def _at_least(config: Any, names: tuple[str, ...], low: int) -> None:
    for name in names:
        if getattr(config, name) < low:
            raise ConfigError(f"{name} must be at least {low}, got {getattr(config, name)}")


@functools.cache
def _hints(config_class: type) -> dict[str, Any]:
    return typing.get_type_hints(config_class)


def _describe(kind: Any) -> str:
    if kind is type(None):
        return "None"
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return " or ".join(_describe(k) for k in typing.get_args(kind))
    origin = typing.get_origin(kind)
    if origin in (list, tuple):
        return f"a list of {_describe(typing.get_args(kind)[0])}"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string", dict: "a mapping"}.get(
        kind, getattr(kind, "__name__", str(kind))
    )


def _conform(name: str, value: Any, kind: Any) -> Any:
    """``value`` as a field of type ``kind`` wants it (int -> float, list -> tuple), or a
    :class:`ConfigError` naming the field, the expected type and what it got."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _conform(name, value, option)
            except ConfigError:
                continue
        raise ConfigError(f"{name} must be {_describe(kind)}, got {value!r}")
    if origin in (list, tuple):
        item = typing.get_args(kind)[0]
        if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be {_describe(kind)}, got {value!r}")
        items = [_conform(f"{name}[{i}]", v, item) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif kind is dict:
        ok = isinstance(value, dict)
    elif dataclasses.is_dataclass(kind):
        return value if isinstance(value, kind) else config_from_dict(kind, value, name)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ConfigError(f"{name} must be {_describe(kind)}, got {value!r}")
    return value


def check_types(config: Any) -> None:
    """Check (and normalise: ints to floats, lists to tuples) every field of a config dataclass."""
    for f in fields(config):
        value = _conform(f.name, getattr(config, f.name), _hints(type(config))[f.name])
        if isinstance(value, float) and not math.isfinite(value):  # NaN passes every range check (all compare False)
            raise ConfigError(f"{f.name} must be a finite number, got {value}")
        setattr(config, f.name, value)


def _nested_fields(config_class: type) -> dict[str, type]:
    """The fields of ``config_class`` that hold a config dataclass of their own."""
    hints = _hints(config_class)
    return {f.name: hints[f.name] for f in fields(config_class) if dataclasses.is_dataclass(hints[f.name])}


def config_from_dict(config_class: type, values: Any, source: str) -> Any:
    """A config from a mapping (a YAML file, a checkpoint, flags), refusing unknown keys. Keys of
    a nested config (the model's) may also sit at the top level."""
    if not isinstance(values, dict):
        raise ConfigError(f"{source} must hold a mapping of config keys, got {type(values).__name__}")
    values = _expand_path(dict(values), config_class)
    known = {f.name for f in fields(config_class)}
    for name, nested in _nested_fields(config_class).items():
        inner = {f.name for f in fields(nested)}
        flat = {key: values.pop(key) for key in list(values) if key in inner and key not in known}
        if flat:
            given = values.get(name, {})
            if not isinstance(given, dict):
                raise ConfigError(f"{source}: {name} must be a mapping of {sorted(inner)}, got {given!r}")
            values[name] = {**given, **flat}
    unknown = sorted(set(values) - known)
    if unknown:
        everything = sorted(
            known | {k for nested in _nested_fields(config_class).values() for k in (f.name for f in fields(nested))}
        )
        raise ConfigError(f"unknown config keys in {source}: {unknown}; known keys: {everything}")
    missing = [
        f.name
        for f in fields(config_class)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in values
    ]
    if missing:
        raise ConfigError(f"{source} lacks {', '.join(missing)}")
    try:
        return config_class(**values)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain data (nested configs as mappings, tuples as lists), for YAML and JSON."""
    data = dataclasses.asdict(config)

    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(data)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML config file (keys are checked when the config is built)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(error).split())}") from None
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, got {type(values).__name__}")
    return values


# -------------------------------------------------------------------------------- the flags
@functools.cache
def field_docs(config_class: type = TrainConfig) -> dict[str, str]:
    """Each field's docstring (the string under it in the class body), for ``--help``."""
    body = ast.parse(textwrap.dedent(inspect.getsource(config_class))).body[0].body
    docs = {}
    for node, following in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


# A nested field's flag name where it differs from the field's (ModelConfig.path is --model).
FLAG_NAMES = {"path": "model"}


def yaml_value(text: str) -> Any:
    """A flag value written in YAML (``--env-kwargs '{max_position: 8}'``)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise argparse.ArgumentTypeError(f"not valid YAML: {' '.join(str(error).split())}") from None


def _flag_type(kind: Any):
    base = next((t for t in typing.get_args(kind) if t is not type(None)), kind)

    def convert(text: str):
        if text.lower() in ("none", "null") and type(None) in typing.get_args(kind):
            return None
        try:
            return base(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {_describe(base)}, got {text!r}") from None

    convert.__name__ = getattr(base, "__name__", "value")
    return convert


def add_config_flags(
    parser: argparse.ArgumentParser,
    config_class: type = TrainConfig,
    required: tuple[str, ...] = (),
    title: str = "config (overrides presets and --config)",
) -> None:
    """One ``--flag`` per field of a config dataclass (``--init-lr``, ``--no-chain-of-thought``,
    and each nested model field: ``--model``, ``--lora-r``), default unset so that only what was
    typed overrides other layers.

    :param required: fields that must be given on the command line.
    """
    group = parser.add_argument_group(title)
    hints = _hints(config_class)
    defaults = config_class.__dataclass_fields__
    for f in fields(config_class):
        if dataclasses.is_dataclass(hints[f.name]):
            nested = hints[f.name]
            instance = defaults[f.name].default_factory()
            for inner in fields(nested):
                _add_flag(
                    group,
                    nested,
                    inner.name,
                    FLAG_NAMES.get(inner.name, inner.name),
                    f"{f.name}.{inner.name}",
                    getattr(instance, inner.name),
                    required,
                )
        else:
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = "required"
            _add_flag(group, config_class, f.name, f.name, f.name, default, required)


def _add_flag(
    group, config_class: type, name: str, flag_name: str, dest: str, default: Any, required: tuple[str, ...]
) -> None:
    flag = "--" + flag_name.replace("_", "-")
    kind = _hints(config_class)[name]
    shown = default if default == "required" else repr(default)
    help_text = f"{field_docs(config_class).get(name, '')} (default: {shown})".replace("%", "%%")
    origin = typing.get_origin(kind)
    if kind is bool:
        group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=help_text)
    elif kind is dict:
        group.add_argument(
            flag, dest=dest, type=yaml_value, default=None, help=help_text + " (YAML, e.g. '{max_position: 8}')"
        )
    elif origin in (list, tuple) or any(typing.get_origin(k) in (list, tuple) for k in typing.get_args(kind)):
        sequence = (
            kind
            if origin in (list, tuple)
            else next(k for k in typing.get_args(kind) if typing.get_origin(k) in (list, tuple))
        )
        group.add_argument(
            flag, dest=dest, type=_flag_type(typing.get_args(sequence)[0]), nargs="+", default=None, help=help_text
        )
    else:
        group.add_argument(flag, dest=dest, type=_flag_type(kind), default=None, help=help_text, required=name in required)


def given_values(args: argparse.Namespace | None, config_class: type = TrainConfig) -> dict[str, Any]:
    """The config values typed on the command line (nested ones under their field)."""
    if args is None:
        return {}
    values: dict[str, Any] = {}
    for key, value in vars(args).items():
        if value is None:
            continue
        outer, _, inner = key.partition(".")
        if inner and outer in _nested_fields(config_class):
            values.setdefault(outer, {})[inner] = value
        elif key in {f.name for f in fields(config_class)}:
            values[key] = value
    return values


def _expand_path(values: dict[str, Any], config_class: type) -> dict[str, Any]:
    """``model: PATH`` (how the flag reads, and how earlier versions wrote it) as ``model: {path: PATH}``."""
    nested = _nested_fields(config_class)
    return {
        key: {"path": value}
        if key in nested and isinstance(value, str) and "path" in {f.name for f in fields(nested[key])}
        else value
        for key, value in values.items()
    }


def merge(base: dict[str, Any], top: dict[str, Any], config_class: type) -> dict[str, Any]:
    """``top`` over ``base``, nested configs merged key by key (flat model keys count as nested)."""
    merged = _expand_path(dict(base), config_class)
    own = {f.name for f in fields(config_class)}
    nested = _nested_fields(config_class)
    for key, value in _expand_path(top, config_class).items():
        owner = (
            None
            if key in own
            else next((name for name, kind in nested.items() if key in {f.name for f in fields(kind)}), None)
        )
        if owner is not None:
            merged[owner] = {**_as_dict(owner, merged.get(owner, {})), key: value}
        elif key in nested and isinstance(value, dict):
            merged[key] = {**_as_dict(key, merged.get(key, {})), **value}
        else:
            merged[key] = value
    return merged


def _as_dict(name: str, value: Any) -> dict[str, Any]:
    """A nested config as a mapping to merge into; anything else (``model: 5``) is refused here,
    as merging would fail on it before the config is checked."""
    if dataclasses.is_dataclass(value):
        return to_dict(value)
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a mapping of config keys (or a model path), got {value!r}")
    return dict(value)


def check_env_kwargs(value: Any, name: str = "env_kwargs") -> None:
    """Refuse env options that are not a mapping (``--env-kwargs '[1, 2]'``), which would fail
    inside ``dict()`` or ``**`` with a message that names nothing."""
    if value is not None and not isinstance(value, dict):
        raise ConfigError(f"{name} must be a YAML mapping of env options (a JSON object), got {value!r}")


def build_config(
    args: argparse.Namespace | None = None,
    config_file: str | Path | None = None,
    config_class: type = TrainConfig,
    **overrides: Any,
) -> Any:
    """Defaults, then the task's preset (RL), then ``config_file``, then flags in ``args``, then
    ``overrides``."""
    from_file = load_yaml(config_file) if config_file else {}
    source = str(config_file) if config_file else "the configuration"
    try:
        chosen = merge(merge(from_file, given_values(args, config_class), config_class), overrides, config_class)
        values = chosen
        if config_class is TrainConfig:
            if "env_id" in chosen:  # the name earlier versions used
                chosen = {**{k: v for k, v in chosen.items() if k != "env_id"}, "task": chosen["env_id"]}
            values = merge(task_preset(chosen.get("task", TrainConfig.task)), chosen, config_class)
    except ConfigError as error:  # merging meets a nested config that is no mapping before it is checked
        raise ConfigError(f"{source}: {error}") from None
    return config_from_dict(config_class, values, source)


def task_preset(name: Any) -> dict[str, Any]:
    """The preset of a registered task (nothing for a Gymnasium id or an unknown name: the task
    itself is checked, with a clearer message, when it is made)."""
    from vlm_ppo.tasks import TaskError, make_task

    if not isinstance(name, str):
        return {}
    try:
        return dict(make_task(name).preset)
    except TaskError:
        return {}


def resume_config(
    config_class: type, saved: dict[str, Any], given: dict[str, Any], fixed: tuple[str, ...]
) -> tuple[Any, list[str]]:
    """The saved config with the values the user gave on top, and the changes in words.

    :param saved: the config a checkpoint was written with.
    :param given: values from flags and a ``--config`` file (nothing from defaults or presets).
    :param fixed: fields the saved state depends on; giving a different value is an error.
    """
    base = config_from_dict(config_class, saved, "the checkpoint's config")
    merged = config_from_dict(config_class, merge(to_dict(base), given, config_class), "the resumed configuration")
    before, after = to_dict(base), to_dict(merged)
    changes, refused = [], []
    for key in after:
        if before[key] == after[key]:
            continue
        if isinstance(after[key], dict) and isinstance(before[key], dict):
            names = [*before[key], *(k for k in after[key] if k not in before[key])]
            missing = "(unset)"
            pairs = [
                (f"{key}.{k}", before[key].get(k, missing), after[key].get(k, missing))
                for k in names
                if before[key].get(k, missing) != after[key].get(k, missing)
            ]
        else:
            pairs = [(key, before[key], after[key])]
        for name, old, new in pairs:
            (refused if name.split(".")[0] in fixed else changes).append(f"{name} {old!r} -> {new!r}")
    if refused:
        raise ConfigError(
            f"a resumed run keeps the settings its saved state depends on; cannot change {', '.join(refused)} "
            "(start a new run instead)"
        )
    return merged, changes
