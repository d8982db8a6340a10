"""Loading any Hugging Face (V)LM for training: Auto classes, dtype and device, 4-bit, LoRA.

Which layers train is decided by module *names*, so one rule serves every architecture: linear
layers of the language model get LoRA; the multimodal projector trains fully when
``train_vision`` is ``projector`` or ``all``; the vision tower gets LoRA only with ``all``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

# Name fragments that place a module in the vision tower or the projector, across architectures
# (LLaVA/LLaVA-NeXT: vision_tower, multi_modal_projector; Idefics3: vision_model, connector;
# Qwen2-VL: visual, visual.merger).
_PROJECTOR = ("multi_modal_projector", "connector", "mm_projector", "merger")
_VISION = ("vision_tower", "vision_model", "visual", "vision_encoder", "image_encoder")
_NEVER = ("lm_head",)


def module_part(name: str) -> str:
    """``"projector"``, ``"vision"``, ``"output"`` or ``"language"`` for a module's dotted name."""
    parts = name.split(".")
    if any(p in _NEVER for p in parts):
        return "output"
    if any(p in _PROJECTOR for p in parts):
        return "projector"
    if any(p in _VISION for p in parts):
        return "vision"
    return "language"


def is_vision_language_model(path: str | Path) -> bool:
    """Whether the model directory holds a VLM (its config has a vision part)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    return any(hasattr(config, key) for key in ("vision_config", "vision_tower", "visual"))


def check_model_kind(path: str | Path, text_only: bool) -> None:
    """Refuse, before any weights load, a text-only language model asked to look at images."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no Hugging Face model at {path} (config.json missing)")
    if not text_only and not is_vision_language_model(path):
        raise ValueError(
            f"{path} is a text-only language model (its config has no vision part); pass --text-only to give it "
            "the env's text instead of images"
        )


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA GPU is visible; use --device cpu or auto")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto`` is bfloat16 on a GPU that computes in it natively (Ampere or newer) and float32
    elsewhere: older GPUs only emulate bfloat16, slowly, and float16 trains only with loss scaling."""
    if dtype == "auto":
        return (
            torch.bfloat16
            if device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)
            else torch.float32
        )
    return getattr(torch, dtype)


def load_base_model(
    path: str | Path, device: torch.device, dtype: torch.dtype, q4: bool = False, weights: str | Path | None = None
):
    """The model and its processor (VLM) or tokenizer (text LM), padding on the left.

    :param q4: 4-bit weights through bitsandbytes (CUDA only).
    :param weights: load the model from this directory instead (a full-weights checkpoint),
        keeping the processor of ``path``.
    """
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no Hugging Face model at {path} (config.json missing)")
    extra = {}
    if q4:
        if device.type != "cuda":
            raise ValueError("--q4 needs a CUDA GPU; none is in use")
        try:
            import bitsandbytes  # noqa: F401
            from transformers import BitsAndBytesConfig
        except ImportError as error:
            raise ImportError("--q4 needs bitsandbytes: pip install bitsandbytes") from error
        extra["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=dtype, bnb_4bit_quant_type="nf4"
        )
        extra["device_map"] = {"": device.index or 0}
    source = Path(weights) if weights is not None else path
    if is_vision_language_model(path):
        from transformers import AutoConfig

        from vlm_ppo.processors import load_processor

        model = AutoModelForImageTextToText.from_pretrained(source, dtype=dtype, **extra)
        processor = load_processor(path, AutoConfig.from_pretrained(path).model_type)
        processor.tokenizer.padding_side = "left"
    else:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **extra)
        processor = AutoTokenizer.from_pretrained(path)
        processor.padding_side = "left"
    tokenizer = getattr(processor, "tokenizer", processor)
    if tokenizer.pad_token is None:  # Llama-3's tokenizers name none; a batch of prompts must be padded
        tokenizer.pad_token = tokenizer.eos_token  # attention 0 hides it; answers end at their first EOS
    if not q4:
        model.to(device)
    return model, processor


def lora_targets(model: nn.Module, train_vision: str) -> tuple[list[str], list[str]]:
    """Names of linear layers to give LoRA, and of modules to train fully (the projector)."""
    targets, projector = [], set()
    for name, module in model.named_modules():
        part = module_part(name)
        if part == "projector":
            top = name.split(".")
            projector.add(".".join(top[: next(i for i, p in enumerate(top) if p in _PROJECTOR) + 1]))
        if not isinstance(module, nn.Linear) and type(module).__name__ not in ("Linear4bit", "Linear8bitLt"):
            continue
        if part == "language" or (part == "vision" and train_vision == "all"):
            targets.append(name)
    if not targets:
        raise ValueError("found no linear layers in the language model to put LoRA on")
    return targets, sorted(projector) if train_vision in ("projector", "all") else []


def train_all_weights(model: nn.Module, train_vision: str) -> nn.Module:
    """Unfreeze the language model (embeddings and LM head included) and, by ``train_vision``,
    the projector and vision tower; the alternative to :func:`add_lora`."""
    wanted = (
        {"language", "output"}
        | ({"projector"} if train_vision in ("projector", "all") else set())
        | ({"vision"} if train_vision == "all" else set())
    )
    for name, parameter in model.named_parameters():
        parameter.requires_grad = module_part(name) in wanted
    return model


def parameter_groups(model: nn.Module, lr: float, vision_lr: float | None) -> list[dict[str, Any]]:
    """The optimizer's parameter groups: one at ``lr``, or with ``vision_lr`` a second one for the
    trainable vision tower and projector at that rate (``lr_scale`` keeps the ratio through the
    schedule and a resume)."""
    language, vision = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            in_vision = vision_lr is not None and module_part(name) in ("vision", "projector")
            (vision if in_vision else language).append(parameter)
    if vision_lr is not None and not vision:
        raise ValueError("vision_lr is set but no vision tower or projector weight is trainable")
    groups = [{"params": language, "lr": lr, "lr_scale": 1.0}]
    if vision:
        groups.append({"params": vision, "lr": vision_lr, "lr_scale": vision_lr / lr})
    return groups


def add_lora(model: nn.Module, r: int, alpha: int, dropout: float, train_vision: str) -> nn.Module:
    """Wrap ``model`` with fresh LoRA adapters; everything else is frozen except the projector
    when ``train_vision`` asks for it."""
    from peft import LoraConfig, get_peft_model

    targets, full = lora_targets(model, train_vision)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, modules_to_save=full or None)
    return get_peft_model(model, config)


def trainable_summary(module: nn.Module) -> str:
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    total = sum(p.numel() for p in module.parameters())
    return f"{trainable:,} trainable of {total:,} parameters ({trainable / max(total, 1):.2%})"


def full_weight_precision(dtype: torch.dtype, full_weights: bool) -> tuple[torch.dtype, torch.dtype | None]:
    """(dtype to load the weights in, autocast dtype or None) for a model about to train.

    Adam on bfloat16 weights loses most small updates (a weight changes only when the step exceeds
    half its last mantissa bit: after 32 steps at lr 1e-5, 12% of SmolLM2's weights had moved,
    against 86% in float32). Trained full weights are therefore kept in float32 and run under
    autocast, as the Hugging Face Trainer does mixed precision. LoRA needs none of this: peft
    keeps the adapters in float32 over frozen bfloat16 weights.
    """
    if full_weights and dtype in (torch.bfloat16, torch.float16):
        return torch.float32, dtype
    return dtype, None


@dataclass
class PreparedModel:
    """A model ready to train or evaluate, with what the rest of the code needs to know about it."""

    model: nn.Module
    processor: object
    dtype: torch.dtype
    """The dtype it computes in (the weights' own, or the autocast dtype)."""
    autocast_dtype: torch.dtype | None
    """Set when trained full weights stay float32 and run under autocast in ``dtype``."""


def prepare_model(
    config, device: torch.device, text_only: bool, checkpoint: Path | None = None, trainable: bool = True
) -> PreparedModel:
    """The model of a :class:`~vlm_ppo.config.ModelConfig`, for SFT and RL alike.

    Fresh (``checkpoint`` None): LoRA adapters on the language model (plus what ``train_vision``
    asks for), or with ``lora=False`` every language-model weight. From a checkpoint: its
    ``adapter/`` on the base model, or its ``model/`` (full weights). With ``trainable=False`` the
    weights are frozen (evaluation). The model kind is checked before any weights load.

    :param config: the model config (path, dtype, q4, LoRA, train_vision, device).
    :param text_only: the model reads text only (a VLM may too; a text LM must).
    :param checkpoint: a checkpoint directory holding ``adapter/`` or ``model/``.
    """
    from peft import PeftModel

    from vlm_ppo.checkpoint import CheckpointError

    check_model_kind(config.path, text_only)
    full_weights = checkpoint / "model" if checkpoint is not None and (checkpoint / "model").is_dir() else None
    dtype = resolve_dtype(config.dtype, device)
    trains_all = trainable and (full_weights is not None or (checkpoint is None and not config.lora))
    load_dtype, autocast_dtype = full_weight_precision(dtype, trains_all)
    model, processor = load_base_model(config.path, device, load_dtype, config.q4, weights=full_weights)
    if getattr(model, "is_loaded_in_4bit", False):
        # peft's preparation casts every weight that is not 4-bit (norms, embeddings, the LM head)
        # to float32. Fresh, resumed and evaluated alike, so that all three compute the same way.
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if full_weights is not None:
        if trainable:
            train_all_weights(model, config.train_vision)
    elif checkpoint is not None:
        try:
            model = PeftModel.from_pretrained(model, checkpoint / "adapter", is_trainable=trainable)
        except Exception as error:  # peft raises several types for an adapter that does not fit
            raise CheckpointError(f"the adapter in {checkpoint} does not fit {config.path}: {error}") from error
    elif trainable:
        if config.lora:
            model = add_lora(model, config.lora_r, config.lora_alpha, config.lora_dropout, config.train_vision)
        else:
            train_all_weights(model, config.train_vision)
    if not trainable:
        model.requires_grad_(False)
    return PreparedModel(model, processor, dtype, autocast_dtype)


def build_policy(config, device: torch.device, checkpoint: Path | None = None, trainable: bool = True):
    """The policy of a :class:`~vlm_ppo.config.TrainConfig`: :func:`prepare_model`, a value head
    for PPO (fresh, or the checkpoint's), and the generation settings.

    A trainable full-weight policy with ``config.kl_coef`` gets a frozen copy of the model as its
    reference; a LoRA policy switches its adapters off instead.
    """
    from peft import PeftModel

    from vlm_ppo.checkpoint import load_value_head_weights
    from vlm_ppo.policy import VLMPolicy
    from vlm_ppo.value_head import ValueHead

    prepared = prepare_model(config.model, device, config.text_only, checkpoint, trainable)
    model = prepared.model
    value_head = None
    if config.algo == "ppo":  # the critic-free group methods build, train and save no value head
        value_head = ValueHead(model.get_input_embeddings().embedding_dim, config.value_hidden_sizes).to(device)
        if checkpoint is not None:
            load_value_head_weights(checkpoint, value_head)
    reference = None
    if trainable and config.kl_coef and not isinstance(model, PeftModel):
        # In the precision the policy computes in: float32 weights under the same autocast when the
        # policy keeps float32 master weights (bfloat16 weights rounded the norms and the residual
        # stream otherwise, and the KL started at up to 0.11 nats an answer instead of 0).
        reference_dtype = torch.float32 if prepared.autocast_dtype is not None else prepared.dtype
        reference = load_base_model(config.model.path, device, reference_dtype, config.model.q4)[0]
        reference = reference.eval().requires_grad_(False)
    rescore = {"generate": False, "forward": True, "auto": prepared.dtype != torch.float32}[config.old_log_probs]
    return VLMPolicy(
        model,
        prepared.processor,
        value_head,
        config.temperature,
        config.max_new_tokens,
        config.thought_coef,
        config.text_only,
        reference,
        rescore=rescore,
        autocast_dtype=prepared.autocast_dtype,
    )
