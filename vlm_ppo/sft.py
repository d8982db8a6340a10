"""Supervised fine-tuning on chain-of-thought demonstrations: the checkpoint RL starts from.

RL4VLM does not start PPO from a raw instruction-tuned VLM: it first fine-tunes the model on
demonstrations (prompt -> the JSON answer with thoughts and action), so that the first rollouts
already write parsable answers and PPO has rewards to work with. This module is that step.

What the model learns here is exactly what the policy later does, because both go through the
same core: the model is prepared by :func:`vlm_ppo.model_loading.prepare_model` from the same
:class:`~vlm_ppo.config.ModelConfig`, the prompt turn is built by
:func:`vlm_ppo.model_io.encode_prompts` (chat template with the generation prompt, the image,
left padding) with the positions of :func:`vlm_ppo.model_io.with_positions`, and the answer
follows as the tokens the policy would generate: the answer text tokenized on its own, then the
token that stops the policy's generation. The loss is the cross-entropy of those answer tokens
only (labels are ``-100`` on every prompt, image and padding position), so the model learns to
*write* answers, not to predict prompts.

A run directory (``output_dir``)::

    sft_metrics.csv            step, epoch, loss, lr (+ eval_loss with held-out episodes)
    sft_loss.png               the loss curve
    checkpoints/epoch_NNN/     the checkpoint format RL uses (vlm_ppo.checkpoint)
    model/                     the final model: a plain Hugging Face directory (LoRA merged)
                               with its processor or tokenizer and SFT_INFO.json
    tiny_model/                only without a model: the tiny random model that was trained

``model/`` loads like any base model (``vlm-ppo train --model OUTPUT/model``). ``run_sft(config,
resume=OUTPUT)`` continues from the newest checkpoint with the same losses as a run that was
never interrupted, with the run's own settings (only values given again change them).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from vlm_ppo.checkpoint import (
    CheckpointError,
    atomic_directory,
    drop_later_checkpoints,
    find_latest,
    load_optimizer,
    model_fingerprint,
    moved_base_model,
    read_state,
    require,
    restore_rng,
    rng_state,
    run_of,
    save_checkpoint,
)
from vlm_ppo.config import ConfigError, ModelConfig, check_types, resume_config, to_dict
from vlm_ppo.model_io import answer_end_token, append_answers, encode_prompts, tokenizer_of, with_positions
from vlm_ppo.model_loading import parameter_groups, prepare_model, resolve_device, trainable_summary
from vlm_ppo.plotting import plot_sft_losses
from vlm_ppo.run import MetricsLog, TrainingError, cosine_schedule, ensure_model, read_csv, retarget_schedule, seed_everything
from vlm_ppo.sft_data import SFTRecord, load_dataset_info, load_sft_records

IGNORE_INDEX = -100
"""The label of positions without a loss (prompt, image and padding tokens)."""
METRICS_FILE = "sft_metrics.csv"
METRICS = ("step", "epoch", "loss", "lr")
EVAL_METRIC = "eval_loss"


@dataclass
class SFTConfig:
    """Supervised fine-tuning of a VLM (or text LM) on a directory of demonstrations."""

    data: str
    """The demonstrations: a directory with dataset.json, records.jsonl and images/ (see vlm_ppo.sft_data)."""
    model: ModelConfig = field(default_factory=lambda: ModelConfig(lora_r=16, lora_alpha=32))
    """The model and how it trains (flags --model, --lora-r, --no-lora, ...); LoRA r 16, alpha 32 here."""
    output_dir: str = "runs/sft"
    """Run directory: sft_metrics.csv, sft_loss.png, checkpoints/, model/ (the fine-tuned model)."""
    epochs: int = 3
    """Passes over the training records."""
    batch_size: int = 8
    """Records per optimizer step."""
    lr: float = 2e-4
    """Peak learning rate, at the first step (2e-4 suits LoRA; use about 1e-5 for full weights of a real model)."""
    end_lr: float = 0.0
    """Learning rate after the last step; a cosine over all optimizer steps in between."""
    vision_lr: float | None = None
    """Peak learning rate of the vision tower and projector when ``model.train_vision`` trains them
    (None: ``lr``); it follows the same cosine. Their features feed every answer token, so the
    language model's rate can wreck them: at 1e-3 a tiny VLM read every EZPoints card as a 2.
    LLaVA-NeXT trains its vision tower at 2e-6 against the rest's 1e-5 for the same reason."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    eval_fraction: float = 0.0
    """Fraction of episodes held out for a validation loss after each epoch (0: none)."""
    seed: int = 0
    """Seeds torch, numpy and Python (LoRA init, dropout), the batch order and the held-out episodes."""
    save_every_epochs: int = 1
    """Checkpoint every this many epochs (and always after the last)."""

    def __post_init__(self) -> None:
        check_types(self)
        self.model.check_trainable()
        if self.model.q4:
            raise ConfigError(
                "SFT with q4 would merge its LoRA adapters into 4-bit weights, which rounds most of the update "
                "away; run SFT in bfloat16 and use --q4 for RL"
            )
        for name in ("epochs", "batch_size", "save_every_epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and self.end_lr >= 0 and self.max_grad_norm > 0 and self.weight_decay >= 0):
            raise ConfigError(
                f"need lr > 0, end_lr >= 0, max_grad_norm > 0 and weight_decay >= 0, got {self.lr=}, "
                f"{self.end_lr=}, {self.max_grad_norm=}, {self.weight_decay=}"
            )
        if self.vision_lr is not None and not self.vision_lr > 0:
            raise ConfigError(f"vision_lr must be above 0 (or None: lr), got {self.vision_lr}")
        if self.vision_lr is not None and self.model.train_vision == "none":
            raise ConfigError("vision_lr needs train_vision projector or all: with none the vision part is frozen")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ConfigError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        if not 0 <= self.seed < 2**32:  # NumPy's seed range
            raise ConfigError(f"seed must be at least 0 and below 2**32, got {self.seed}")


# What an SFT checkpoint's state depends on: a resumed run cannot change it.
SFT_FIXED_ON_RESUME = ("data", "model", "batch_size", "eval_fraction", "seed", "vision_lr")


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
        raise ValueError(
            f"eval_fraction={fraction} would hold out {count} of {len(episodes)} episodes, leaving none to train on"
        )
    held = set(np.random.default_rng(seed).permutation(episodes)[:count].tolist())
    return [r for r in records if r.episode not in held], [r for r in records if r.episode in held]


def encode_examples(
    processor, images: Sequence[np.ndarray] | None, prompts: Sequence[str], answers: Sequence[str], end_id: int
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Model inputs for ``prompt turn + answer + end token`` and their labels.

    The prompt part is :func:`vlm_ppo.model_io.encode_prompts`, as the policy makes it. Each
    answer is tokenized on its own (no special tokens), like the tokens the policy generates
    after the prompt, and ends with ``end_id``; answers are padded on the right with attention 0
    and appended by :func:`vlm_ppo.model_io.append_answers`, as the policy appends its answers.
    Labels are the answer and end tokens, ``-100`` everywhere else.

    :param processor: the VLM's processor or the text LM's tokenizer, padding on the left.
    :param images: one RGB uint8 array per prompt, or None for text-only prompts.
    :param prompts: the user turns.
    :param answers: the answer texts to learn.
    :param end_id: the token that ends an answer (:func:`vlm_ppo.model_io.answer_end_token`).
    """
    tokenizer = tokenizer_of(processor)
    inputs = encode_prompts(processor, images, prompts)
    answer_ids = [tokenizer(answer, add_special_tokens=False)["input_ids"] + [end_id] for answer in answers]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_id
    tokens = torch.full((len(answers), max(map(len, answer_ids))), pad_id, dtype=inputs["input_ids"].dtype)
    mask = torch.zeros(tokens.shape, dtype=inputs["attention_mask"].dtype)
    for row, ids in enumerate(answer_ids):
        tokens[row, : len(ids)] = torch.tensor(ids)
        mask[row, : len(ids)] = 1
    prompt_ids = inputs["input_ids"]
    labels = torch.cat([torch.full_like(prompt_ids, IGNORE_INDEX), tokens.masked_fill(mask == 0, IGNORE_INDEX)], dim=1)
    return append_answers(inputs, tokens, mask), labels


def load_batch(
    records: Sequence[SFTRecord], data_dir: Path, processor, end_id: int, text_only: bool, device: torch.device
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
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
    model_inputs = with_positions(model.config, dict(inputs))
    start = int((labels != IGNORE_INDEX).any(dim=0).nonzero()[0])  # the answers' first column
    keep = labels.shape[1] - start + 1  # the position before the first answer token predicts it
    logits = model(**model_inputs, use_cache=False, logits_to_keep=keep).logits[:, :-1]
    targets = labels[:, start:]
    total = F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    return total, int((targets != IGNORE_INDEX).sum())


# ------------------------------------------------------------------------------------ model
@torch.no_grad()
def evaluate_loss(
    model: nn.Module, processor, records: Sequence[SFTRecord], data_dir: Path, batch_size: int, end_id: int, text_only: bool
) -> float:
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

    from vlm_ppo.processors import save_processor

    plain = model.merge_and_unload() if isinstance(model, PeftModel) else model
    with atomic_directory(directory) as staging:
        plain.save_pretrained(staging)
        save_processor(processor, staging, plain.config.model_type)
        (staging / "SFT_INFO.json").write_text(json.dumps(info, indent=2))
    return directory


# ------------------------------------------------------------------------------ checkpoints
def find_sft_checkpoint(path: str | Path) -> Path:
    """An SFT checkpoint directory itself, or the newest checkpoint of a run directory."""
    return find_latest(path, "epoch_*", what="SFT checkpoint")


# ------------------------------------------------------------------------------------- run
def run_sft(config: SFTConfig, resume: str | Path | None = None, given: dict[str, Any] | None = None) -> Path:
    """Fine-tune ``config.model`` on the demonstrations in ``config.data``; returns ``OUTPUT/model``.

    :param config: the run's settings (see :class:`SFTConfig`); ignored when resuming, except
        for the values in ``given``.
    :param resume: a run directory (its newest checkpoint) or a checkpoint directory to continue
        exactly from, in its run directory, with the settings saved in it.
    :param given: when resuming, the settings the user gave again (e.g. more ``epochs``); those
        the checkpoint depends on (data, model, batch size, held-out fraction, seed) cannot change.
    """
    checkpoint = find_sft_checkpoint(resume) if resume is not None else None
    state = None
    if checkpoint is not None:
        state = read_state(checkpoint, "sft")
        require(state, checkpoint, {"config": dict, "epoch": int, "step": int, "data_fingerprint": str, "ranks": list})
        run_dir = run_of(checkpoint)
        requested = (given or {}).get("output_dir")
        if requested is not None and Path(requested).resolve() != run_dir.resolve():
            raise ConfigError(
                f"a resumed SFT run continues in its own directory {run_dir}; copy it to {requested} first to branch off"
            )
        given = {k: v for k, v in (given or {}).items() if k != "output_dir"}
        saved = {**state["config"], "output_dir": str(run_dir)}
        moved = moved_base_model(state, given)
        if moved is not None:  # the same base model at another path: a move, not a change
            saved["model"] = {**saved["model"], "path": moved}
        if given.get("data") is not None:  # the data at another path: its fingerprint is checked below
            saved["data"] = str(given["data"])
        config, changes = resume_config(SFTConfig, saved, given, SFT_FIXED_ON_RESUME)
        tqdm.write(
            f"sft: resuming {checkpoint} (epoch {state['epoch']}, step {state['step']})"
            + (f"; changed: {', '.join(changes)}" if changes else "")
        )
    run_dir = Path(config.output_dir)
    if checkpoint is None and any((run_dir / "checkpoints").glob("epoch_*")):
        raise FileExistsError(
            f"{run_dir} holds checkpoints of an earlier run: pass resume={str(run_dir)!r} to continue it, or "
            "choose another output_dir"
        )
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

    device = resolve_device(config.model.device)
    config.model.path = ensure_model(config.model.path, run_dir, text_only, tqdm.write)
    seed_everything(config.seed)
    prepared = prepare_model(config.model, device, text_only, checkpoint)
    model, processor = prepared.model, prepared.processor
    model.train()  # SFT keeps its dropout
    tqdm.write(f"sft: {trainable_summary(model)}; {len(train)} training records, {len(held_out)} held out")
    end_id = answer_end_token(model, processor)
    groups = parameter_groups(model, config.lr, config.vision_lr)
    trainable = [p for group in groups for p in group["params"]]
    optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    scheduler = cosine_schedule(optimizer, config.lr, config.end_lr, config.epochs * steps_per_epoch)
    first_epoch, step = (state["epoch"], state["step"]) if checkpoint is not None else (0, 0)
    base_model = model_fingerprint(config.model.path)  # to recognise the base model at another path
    columns = METRICS + ((EVAL_METRIC,) if held_out else ())
    # Checks that the metrics can be read before a resume removes anything; writes below.
    metrics = MetricsLog(
        run_dir / METRICS_FILE,
        columns,
        resume_after=step if checkpoint is not None else None,
        tensorboard=run_dir / "tensorboard",
        start=False,
    )
    if checkpoint is not None:  # after the model is built (LoRA's initialisation draws too)
        load_optimizer(checkpoint, optimizer, scheduler)
        retarget_schedule(optimizer, scheduler, config.lr, weight_decay=config.weight_decay)
        try:
            restore_rng(state["ranks"][0]["rng"])
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as error:
            raise CheckpointError(
                f"checkpoint {checkpoint}: its RNG state cannot be restored ({type(error).__name__}: {error})"
            ) from None
        # Only now, with everything restored, does the resume touch the run directory.
        later = drop_later_checkpoints(checkpoint, "epoch_*")
        if later:
            tqdm.write(f"sft: removed the checkpoints after {checkpoint.name}: {', '.join(later)}")
    restored = rng_state()
    metrics.start()
    restore_rng(restored)  # opening the log must not draw from the generators
    autocast = (
        torch.autocast(device.type, dtype=prepared.autocast_dtype)
        if prepared.autocast_dtype is not None
        else contextlib.nullcontext()
    )

    progress = tqdm(total=config.epochs * steps_per_epoch, initial=step, unit="step", desc="sft")
    try:
        for epoch in range(first_epoch, config.epochs):
            order = np.random.default_rng([config.seed, epoch]).permutation(len(train))
            for start in range(0, len(train), config.batch_size):
                inputs, labels = load_batch(
                    [train[i] for i in order[start : start + config.batch_size]],
                    data_dir,
                    processor,
                    end_id,
                    text_only,
                    device,
                )
                with autocast:
                    total, count = answer_loss(model, inputs, labels)
                loss = total / count
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"sft step {step + 1}: the loss is {float(loss)}; stopped without saving, the last "
                        "checkpoint is intact"
                    )
                loss.backward()
                grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm))
                if not math.isfinite(grad_norm):
                    raise TrainingError(
                        f"sft step {step + 1}: the gradient norm is {grad_norm}; stopped without saving, the "
                        "last checkpoint is intact"
                    )
                lr = optimizer.param_groups[0]["lr"]
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                row = {"step": step, "epoch": epoch + 1, "loss": loss.item(), "lr": lr}
                if held_out and start + config.batch_size >= len(train):
                    with autocast:
                        row[EVAL_METRIC] = evaluate_loss(
                            model, processor, held_out, data_dir, config.batch_size, end_id, text_only
                        )
                metrics.write(row)
                progress.update(1)
                progress.set_postfix(loss=f"{row['loss']:.4f}", epoch=epoch + 1)
            if (epoch + 1) % config.save_every_epochs == 0 or epoch + 1 == config.epochs:
                state = {
                    "kind": "sft",
                    "epoch": epoch + 1,
                    "step": step,
                    "config": to_dict(config),
                    "data_fingerprint": fingerprint,
                    "base_model": base_model,
                    "ranks": [{"rng": rng_state()}],
                }
                path = save_checkpoint(run_dir / "checkpoints", f"epoch_{epoch + 1:03d}", model, optimizer, scheduler, state)
                tqdm.write(f"sft: checkpoint {path}")
    finally:
        progress.close()
        metrics.close()

    rows = read_csv(run_dir / METRICS_FILE)
    if not rows:
        raise CheckpointError(
            f"{run_dir / METRICS_FILE} holds no steps, although the run has {step}: the run directory is damaged; "
            "run SFT again in a new directory"
        )
    plot_sft_losses(run_dir / METRICS_FILE, run_dir / "sft_loss.png")
    eval_losses = [float(r[EVAL_METRIC]) for r in rows if r.get(EVAL_METRIC) not in (None, "", "nan")]
    info = {
        "data": str(data_dir.resolve()),
        "base_model": config.model.path,
        "text_only": text_only,
        "train_records": len(train),
        "eval_records": len(held_out),
        "steps": step,
        "final_loss": float(rows[-1]["loss"]),
        "final_eval_loss": eval_losses[-1] if eval_losses else None,
        "config": to_dict(config),
    }
    path = save_model(model, processor, run_dir / "model", info)
    tqdm.write(f"sft: fine-tuned model written to {path}")
    return path
