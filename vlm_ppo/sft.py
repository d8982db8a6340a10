"""Supervised fine-tuning on chain-of-thought demonstrations: the checkpoint PPO starts from.

RL4VLM does not start PPO from a raw instruction-tuned VLM: it first fine-tunes the model on
demonstrations (prompt -> the JSON answer with thoughts and action), so that the first rollouts
already write parsable answers and PPO has rewards to work with. This module is that step.

What the model learns here is exactly what the policy later does. The prompt turn is built as
:meth:`vlm_ppo.policy.VLMPolicy.encode` builds it (the chat template with the generation
prompt, the image through the processor, prompts padded on the left, the same position ids as
the policy's forward pass), and the answer follows as the tokens the policy would generate: the
answer text tokenized on its own, then the token that stops the policy's generation. The loss
is the cross-entropy of those answer tokens only (labels are ``-100`` on every prompt, image
and padding position), so the model learns to *write* answers, not to predict prompts.

A run directory (``output_dir``)::

    sft_metrics.csv            step, epoch, loss, lr (+ eval_loss with held-out episodes)
    sft_loss.png               the loss curve
    checkpoints/epoch_NNN/     trainable weights, optimizer, scheduler, RNG states, counters
    model/                     the final model: a plain Hugging Face directory (LoRA merged)
                               with its processor or tokenizer and SFT_INFO.json
    tiny_model/                only without ``model``: the tiny random model that was trained

``model/`` loads like any base model (``vlm-ppo train --model OUTPUT/model``). Checkpoints are
written to a temporary sibling and renamed into place, and ``run_sft(config, resume=OUTPUT)``
continues from the newest one with the same losses as a run that was never interrupted.
Pickled RNG states make checkpoints as trusted as code: resume only from checkpoints you made.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import pickle
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from vlm_ppo.checkpoint import CheckpointError, atomic_directory, find_latest, restore_rng, rng_state
from vlm_ppo.config import DTYPES, TRAIN_VISION
from vlm_ppo.model_loading import (
    add_lora,
    is_vision_language_model,
    load_base_model,
    module_part,
    resolve_device,
    resolve_dtype,
    trainable_summary,
)
from vlm_ppo.policy import _uses_multimodal_rope
from vlm_ppo.ppo import cosine_schedule
from vlm_ppo.sft_data import SFTRecord, load_dataset_info, load_sft_records
from vlm_ppo.trainer import seed_everything

IGNORE_INDEX = -100
"""The label of positions without a loss (prompt, image and padding tokens)."""
FORMAT_VERSION = 1
CHECKPOINT_FILES = ("trainable.safetensors", "optimizer.pt", "scheduler.pt", "rng.pkl", "sft_state.json")
METRICS_FILE = "sft_metrics.csv"
METRICS = ("step", "epoch", "loss", "lr")
EVAL_METRIC = "eval_loss"


@dataclass
class SFTConfig:
    """Supervised fine-tuning of a VLM (or text LM) on a directory of demonstrations."""

    data: str
    """The demonstrations: a directory with dataset.json, records.jsonl and images/ (see vlm_ppo.sft_data)."""
    model: str | None = None
    """A Hugging Face model directory; None builds a tiny random smoke-test model in output_dir."""
    output_dir: str = "runs/sft"
    """Run directory: sft_metrics.csv, sft_loss.png, checkpoints/, model/ (the fine-tuned model)."""
    epochs: int = 3
    """Passes over the training records."""
    batch_size: int = 8
    """Records per optimizer step."""
    lr: float = 2e-4
    """Peak learning rate, at the first step (2e-4 suits LoRA; use about 1e-5 for full weights)."""
    end_lr: float = 0.0
    """Learning rate after the last step; a cosine over all optimizer steps in between."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    lora: bool = True
    """Train LoRA adapters (merged into the weights at the end); False trains all language-model weights."""
    lora_r: int = 16
    """LoRA rank."""
    lora_alpha: int = 32
    """LoRA alpha."""
    lora_dropout: float = 0.05
    """LoRA dropout."""
    train_vision: str = "none"
    """What of the vision side trains: none, projector (the multimodal projector), all (also the vision tower)."""
    eval_fraction: float = 0.0
    """Fraction of episodes held out for a validation loss after each epoch (0: none)."""
    seed: int = 0
    """Seeds torch, numpy and Python (LoRA init, dropout), the batch order and the held-out episodes."""
    save_every_epochs: int = 1
    """Checkpoint every this many epochs (and always after the last)."""
    device: str = "auto"
    """auto (CUDA when available), cpu or cuda."""
    dtype: str = "auto"
    """Weights dtype: auto = bfloat16 on GPU, float32 on CPU."""

    def __post_init__(self) -> None:
        if self.train_vision not in TRAIN_VISION:
            raise ValueError(f"train_vision must be one of {TRAIN_VISION}, got {self.train_vision!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        for name in ("epochs", "batch_size", "save_every_epochs", "lora_r"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and self.end_lr >= 0 and self.max_grad_norm > 0):
            raise ValueError(f"need lr > 0, end_lr >= 0 and max_grad_norm > 0, got {self.lr=}, {self.end_lr=}, {self.max_grad_norm=}")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")


# ------------------------------------------------------------------------------------- data
def records_fingerprint(records: Sequence[SFTRecord]) -> str:
    """A hash of every record, so that a resumed run can tell its data has not changed."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(asdict(record), sort_keys=True).encode())
    return digest.hexdigest()


def split_by_episode(records: Sequence[SFTRecord], fraction: float, seed: int) -> tuple[list[SFTRecord], list[SFTRecord]]:
    """(training, held-out) records, holding out ``round(fraction * episodes)`` whole episodes
    (at least one when ``fraction > 0``) chosen with ``seed``: the steps of one episode look
    alike, so a split by record would measure memory rather than generalisation."""
    if fraction == 0:
        return list(records), []
    episodes = sorted({record.episode for record in records})
    count = max(1, round(fraction * len(episodes)))
    if count >= len(episodes):
        raise ValueError(f"eval_fraction={fraction} would hold out {count} of {len(episodes)} episodes, leaving none to train on")
    held = set(np.random.default_rng(seed).permutation(episodes)[:count].tolist())
    return [r for r in records if r.episode not in held], [r for r in records if r.episode in held]


def end_token_id(model: nn.Module, tokenizer) -> int:
    """The token that ends an answer: the tokenizer's EOS when generation stops on it (or the
    generation config names no stop token), else the first token generation stops on (an
    end-of-turn token in some chat models). The policy stops on exactly these tokens."""
    stops = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    stops = [] if stops is None else [stops] if isinstance(stops, int) else list(stops)
    eos = tokenizer.eos_token_id
    if eos is not None and (not stops or eos in stops):
        return eos
    if stops:
        return stops[0]
    raise ValueError("the tokenizer has no EOS token and the generation config names none: nothing would end an answer")


def encode_examples(
    processor, images: Sequence[np.ndarray] | None, prompts: Sequence[str], answers: Sequence[str], end_id: int
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Model inputs for ``prompt turn + answer + end token`` and their labels.

    The prompt part is what :meth:`~vlm_ppo.policy.VLMPolicy.encode` makes (the tests check that
    it is the same): chat template with the generation prompt, the image through the processor,
    left padding. Each answer is tokenized on its own (no special tokens), like the tokens the
    policy generates after the prompt, and ends with ``end_id``; answers are padded on the right
    with attention 0. Labels are the answer and end tokens, ``-100`` everywhere else.

    :param processor: the VLM's processor or the text LM's tokenizer, padding on the left.
    :param images: one RGB uint8 array per prompt, or None for text-only prompts.
    :param prompts: the user turns.
    :param answers: the answer texts to learn.
    :param end_id: the token that ends an answer (:func:`end_token_id`).
    """
    tokenizer = getattr(processor, "tokenizer", processor)
    if tokenizer.padding_side != "left":
        raise ValueError("prompts are padded on the left, as the policy pads them; set tokenizer.padding_side = 'left'")
    if images is None:
        texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False) for p in prompts]
        inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    else:
        messages = [[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": p}]}] for p in prompts]
        texts = [processor.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in messages]
        pictures = [[Image.fromarray(np.asarray(image, dtype=np.uint8))] for image in images]
        inputs = processor(images=pictures, text=texts, return_tensors="pt", padding=True, add_special_tokens=False)
    answer_ids = [tokenizer(answer, add_special_tokens=False)["input_ids"] + [end_id] for answer in answers]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_id
    tokens = torch.full((len(answers), max(map(len, answer_ids))), pad_id, dtype=inputs["input_ids"].dtype)
    mask = torch.zeros(tokens.shape, dtype=inputs["attention_mask"].dtype)
    for row, ids in enumerate(answer_ids):
        tokens[row, : len(ids)] = torch.tensor(ids)
        mask[row, : len(ids)] = 1
    prompt_ids = inputs["input_ids"]
    labels = torch.cat([torch.full_like(prompt_ids, IGNORE_INDEX), tokens.masked_fill(mask == 0, IGNORE_INDEX)], dim=1)
    model_inputs = {
        **inputs,
        "input_ids": torch.cat([prompt_ids, tokens], dim=1),
        "attention_mask": torch.cat([inputs["attention_mask"], mask], dim=1),
    }
    return model_inputs, labels


def load_batch(records: Sequence[SFTRecord], data_dir: Path, processor, end_id: int, text_only: bool, device: torch.device) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """:func:`encode_examples` for dataset records (images read from ``data_dir``), on ``device``."""
    images = None
    if not text_only:
        images = []
        for record in records:
            with Image.open(data_dir / record.image) as picture:
                images.append(np.asarray(picture.convert("RGB")))
    inputs, labels = encode_examples(processor, images, [r.prompt for r in records], [r.answer for r in records], end_id)
    return {key: value.to(device) for key, value in inputs.items()}, labels.to(device)


def answer_loss(model: nn.Module, inputs: dict[str, torch.Tensor], labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy of the labelled tokens, and their count.

    Positions are those of the policy's forward pass (counted over attended tokens, so left
    padding does not shift them), and logits are computed only where a label is predicted.
    """
    model_inputs = dict(inputs)
    if not _uses_multimodal_rope(model.config):
        model_inputs["position_ids"] = (inputs["attention_mask"].long().cumsum(-1) - 1).clamp(min=0)
    start = int((labels != IGNORE_INDEX).any(dim=0).nonzero()[0])  # the answers' first column
    keep = labels.shape[1] - start + 1  # the position before the first answer token predicts it
    logits = model(**model_inputs, use_cache=False, logits_to_keep=keep).logits[:, :-1]
    targets = labels[:, start:]
    total = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum")
    return total, int((targets != IGNORE_INDEX).sum())


# ------------------------------------------------------------------------------------ model
def ensure_model(config: SFTConfig, text_only: bool, run_dir: Path) -> str:
    """The model path to fine-tune; without one, a tiny random model is built into the run directory."""
    if config.model is not None:
        return config.model
    from vlm_ppo.tiny import build_tiny_model

    path = run_dir / "tiny_model"
    if not (path / "config.json").exists():
        build_tiny_model(path, architecture="text" if text_only else "llava", seed=config.seed)
    tqdm.write(f"NOTE: no model given; fine-tuning a tiny RANDOM-WEIGHT smoke-test model built at {path}.")
    return str(path)


def prepare_model(config: SFTConfig, model_path: str, device: torch.device) -> tuple[nn.Module, Any]:
    """The model to train and its processor: LoRA adapters on the language model (plus what
    ``train_vision`` asks for), or with ``lora=False`` every language-model weight (embeddings
    and LM head included) and, per ``train_vision``, the projector and the vision tower."""
    model, processor = load_base_model(model_path, device, resolve_dtype(config.dtype, device))
    if config.lora:
        model = add_lora(model, config.lora_r, config.lora_alpha, config.lora_dropout, config.train_vision)
    else:
        parts = {"language", "output"} | {"none": set(), "projector": {"projector"}, "all": {"projector", "vision"}}[config.train_vision]
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(module_part(name) in parts)
    model.train()
    return model, processor


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().cpu().contiguous() for name, p in model.named_parameters() if p.requires_grad}


@torch.no_grad()
def evaluate_loss(model: nn.Module, processor, records: Sequence[SFTRecord], data_dir: Path, batch_size: int, end_id: int, text_only: bool) -> float:
    """Mean cross-entropy per answer token over ``records``, without dropout."""
    device = next(model.parameters()).device
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(records), batch_size):
        inputs, labels = load_batch(records[start : start + batch_size], data_dir, processor, end_id, text_only, device)
        batch_total, batch_count = answer_loss(model, inputs, labels)
        total, count = total + float(batch_total), count + batch_count
    model.train()
    return total / count


def save_model(model: nn.Module, processor, directory: Path, info: dict[str, Any]) -> Path:
    """Write ``model`` (LoRA merged into its weights) with its processor and ``SFT_INFO.json`` as a
    plain Hugging Face model directory, atomically."""
    from peft import PeftModel

    plain = model.merge_and_unload() if isinstance(model, PeftModel) else model
    with atomic_directory(directory) as staging:
        plain.save_pretrained(staging)
        processor.save_pretrained(staging)
        (staging / "SFT_INFO.json").write_text(json.dumps(info, indent=2))
    return directory


# ------------------------------------------------------------------------------ checkpoints
def save_sft_checkpoint(directory: Path, model: nn.Module, optimizer, scheduler, meta: dict[str, Any]) -> Path:
    """Write ``checkpoints/epoch_NNN`` for ``meta["epoch"]`` atomically; returns its path."""
    final = directory / f"epoch_{meta['epoch']:03d}"
    with atomic_directory(final) as staging:
        save_file(trainable_state(model), staging / "trainable.safetensors")
        torch.save(optimizer.state_dict(), staging / "optimizer.pt")
        torch.save(scheduler.state_dict(), staging / "scheduler.pt")
        with open(staging / "rng.pkl", "wb") as file:
            pickle.dump(rng_state(), file)
        (staging / "sft_state.json").write_text(json.dumps({"format_version": FORMAT_VERSION, **meta}, indent=2))
    return final


def find_sft_checkpoint(path: str | Path) -> Path:
    """A checkpoint directory itself, or the newest checkpoint of a run directory."""
    return find_latest(path, "sft_state.json", "epoch_*", what="SFT checkpoint")


def _read(checkpoint: Path, name: str, reader: Callable[[Path], Any]) -> Any:
    try:
        return reader(checkpoint / name)
    except Exception as error:  # safetensors, torch, pickle and json each raise their own types
        raise CheckpointError(f"checkpoint {checkpoint} is corrupt: {name} cannot be read ({error})") from error


def read_sft_state(checkpoint: Path) -> dict[str, Any]:
    """The checkpoint's counters, config and data fingerprint, after checking every file is there."""
    missing = [name for name in CHECKPOINT_FILES if not (checkpoint / name).is_file()]
    if missing:
        raise CheckpointError(f"checkpoint {checkpoint} is incomplete: missing {missing}")
    state = _read(checkpoint, "sft_state.json", lambda p: json.loads(p.read_text()))
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {checkpoint}: sft_state.json is not an SFT state of format {FORMAT_VERSION}")
    return state


def load_sft_checkpoint(checkpoint: Path, model: nn.Module, optimizer, scheduler) -> None:
    """Restore the trainable weights, optimizer, scheduler and RNG states in place."""
    weights = _read(checkpoint, "trainable.safetensors", load_file)
    optimizer_state = _read(checkpoint, "optimizer.pt", lambda p: torch.load(p, weights_only=True))
    scheduler_state = _read(checkpoint, "scheduler.pt", lambda p: torch.load(p, weights_only=True))
    rng = _read(checkpoint, "rng.pkl", lambda p: pickle.loads(p.read_bytes()))
    parameters = {name: p for name, p in model.named_parameters() if p.requires_grad}
    shapes = {name: tuple(p.shape) for name, p in parameters.items()}
    if {name: tuple(w.shape) for name, w in weights.items()} != shapes:
        raise CheckpointError(f"checkpoint {checkpoint}: its trainable weights do not fit the model (different names or shapes)")
    try:
        optimizer.load_state_dict(optimizer_state)
        scheduler.load_state_dict(scheduler_state)
        restore_rng(rng)
    except (ValueError, KeyError, TypeError, RuntimeError) as error:
        raise CheckpointError(f"checkpoint {checkpoint} does not fit this run: {error}") from error
    with torch.no_grad():
        for name, parameter in parameters.items():
            parameter.copy_(weights[name])


def _config_for_resume(requested: SFTConfig, saved: dict[str, Any], run_dir: Path) -> SFTConfig:
    """The saved config, writing into the checkpoint's run directory: a resumed run finishes the
    run it was (its learning-rate schedule spans its epochs). Requested settings that differ are
    reported and not used; to train further, fine-tune ``OUTPUT/model`` in a new run."""
    config = SFTConfig(**{**saved, "output_dir": str(run_dir)})
    ignored = [
        f"{f.name}={getattr(requested, f.name)!r}"
        for f in fields(SFTConfig)
        if f.name not in ("model", "output_dir") and getattr(requested, f.name) != getattr(config, f.name)
    ]
    if ignored:
        tqdm.write(f"sft: resuming with the checkpoint's settings; ignoring the requested {', '.join(ignored)}")
    return config


# ---------------------------------------------------------------------------------- metrics
class MetricsCSV:
    """``sft_metrics.csv``: one row per optimizer step, written as it happens."""

    def __init__(self, path: Path, with_eval: bool, resume_step: int | None) -> None:
        self.path = path
        self.columns = METRICS + ((EVAL_METRIC,) if with_eval else ())
        if resume_step is not None and path.exists():
            kept = [row for row in read_metrics(path) if int(row["step"]) <= resume_step]
        else:
            kept = []
        with open(path, "w", newline="") as file:
            writer = csv.DictWriter(file, self.columns, extrasaction="ignore", restval="")
            writer.writeheader()
            writer.writerows(kept)

    def write(self, row: dict[str, float]) -> None:
        with open(self.path, "a", newline="") as file:
            csv.DictWriter(file, self.columns, restval="").writerow(row)


def read_metrics(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def plot_losses(metrics_path: Path, out: Path) -> Path:
    """The training loss per step (and the held-out loss per epoch) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(metrics_path)
    figure, axis = plt.subplots(figsize=(7, 4), constrained_layout=True)
    axis.plot([int(r["step"]) for r in rows], [float(r["loss"]) for r in rows], label="train")
    held_out = [(int(r["step"]), float(r[EVAL_METRIC])) for r in rows if r.get(EVAL_METRIC)]
    if held_out:
        axis.plot(*zip(*held_out), marker="o", label="held-out episodes")
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("cross-entropy per answer token")
    axis.set_title(f"SFT: {metrics_path.parent.name}")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


# ------------------------------------------------------------------------------------- run
def run_sft(config: SFTConfig, resume: str | Path | None = None) -> Path:
    """Fine-tune ``config.model`` on the demonstrations in ``config.data``; returns ``OUTPUT/model``.

    :param config: the run's settings (see :class:`SFTConfig`).
    :param resume: a run directory (its newest checkpoint) or a checkpoint directory to continue
        exactly from, with the config saved in it, in its run directory.
    """
    checkpoint = find_sft_checkpoint(resume) if resume is not None else None
    state = read_sft_state(checkpoint) if checkpoint is not None else None
    if state is not None:
        config = _config_for_resume(config, state["config"], checkpoint.parent.parent)
    run_dir = Path(config.output_dir)
    if checkpoint is None and any((run_dir / "checkpoints").glob("epoch_*")):
        raise FileExistsError(f"{run_dir} holds checkpoints of an earlier run: pass resume={str(run_dir)!r} to continue it, or choose another output_dir")
    data_dir = Path(config.data)
    records = load_sft_records(data_dir)
    if not records:
        raise ValueError(f"the SFT dataset at {data_dir} has no records")
    text_only = load_dataset_info(data_dir).text_only
    fingerprint = records_fingerprint(records)
    if state is not None and state["data_fingerprint"] != fingerprint:
        raise CheckpointError(f"checkpoint {checkpoint} was trained on other data than {data_dir} holds now")
    train, held_out = split_by_episode(records, config.eval_fraction, config.seed)
    run_dir.mkdir(parents=True, exist_ok=True)

    seed_everything(config.seed)
    device = resolve_device(config.device)
    config = replace(config, model=ensure_model(config, text_only, run_dir))
    if not text_only and not is_vision_language_model(config.model):
        raise ValueError(f"{config.model} is a text-only model, but the dataset at {data_dir} has images; make a text_only dataset for it")
    model, processor = prepare_model(config, config.model, device)
    tqdm.write(f"sft: {trainable_summary(model)}; {len(train)} training records, {len(held_out)} held out")
    tokenizer = getattr(processor, "tokenizer", processor)
    end_id = end_token_id(model, tokenizer)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    scheduler = cosine_schedule(optimizer, config.lr, config.end_lr, config.epochs * steps_per_epoch)
    first_epoch, step = 0, 0
    if checkpoint is not None:
        load_sft_checkpoint(checkpoint, model, optimizer, scheduler)  # after model building: RNG states too
        first_epoch, step = state["epoch"], state["step"]
        tqdm.write(f"sft: resuming from {checkpoint} (epoch {first_epoch}, step {step})")
    metrics = MetricsCSV(run_dir / METRICS_FILE, with_eval=bool(held_out), resume_step=step if checkpoint is not None else None)

    progress = tqdm(total=config.epochs * steps_per_epoch, initial=step, unit="step", desc="sft")
    try:
        for epoch in range(first_epoch, config.epochs):
            order = np.random.default_rng([config.seed, epoch]).permutation(len(train))
            for start in range(0, len(train), config.batch_size):
                inputs, labels = load_batch([train[i] for i in order[start : start + config.batch_size]], data_dir, processor, end_id, text_only, device)
                total, count = answer_loss(model, inputs, labels)
                loss = total / count
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
                lr = scheduler.get_last_lr()[0]
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                row = {"step": step, "epoch": epoch + 1, "loss": loss.item(), "lr": lr}
                if held_out and start + config.batch_size >= len(train):
                    row[EVAL_METRIC] = evaluate_loss(model, processor, held_out, data_dir, config.batch_size, end_id, text_only)
                metrics.write(row)
                progress.update(1)
                progress.set_postfix(loss=f"{row['loss']:.4f}", epoch=epoch + 1)
            if (epoch + 1) % config.save_every_epochs == 0 or epoch + 1 == config.epochs:
                meta = {"epoch": epoch + 1, "step": step, "config": asdict(config), "data_fingerprint": fingerprint}
                tqdm.write(f"sft: checkpoint {save_sft_checkpoint(run_dir / 'checkpoints', model, optimizer, scheduler, meta)}")
    finally:
        progress.close()

    rows = read_metrics(run_dir / METRICS_FILE)
    plot_losses(run_dir / METRICS_FILE, run_dir / "sft_loss.png")
    eval_losses = [float(r[EVAL_METRIC]) for r in rows if r.get(EVAL_METRIC)]
    info = {
        "data": str(data_dir.resolve()),
        "base_model": config.model,
        "text_only": text_only,
        "train_records": len(train),
        "eval_records": len(held_out),
        "steps": step,
        "final_loss": float(rows[-1]["loss"]),
        "final_eval_loss": eval_losses[-1] if eval_losses else None,
        "config": asdict(config),
    }
    path = save_model(model, processor, run_dir / "model", info)
    tqdm.write(f"sft: fine-tuned model written to {path}")
    return path
