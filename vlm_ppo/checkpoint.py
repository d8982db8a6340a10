"""Checkpoints that continue a run exactly, written atomically, refused loudly when broken.

A checkpoint is a directory, like a Hugging Face model::

    checkpoints/update_000005/
        adapter/                  LoRA adapter (peft ``save_pretrained``), or
        model/                    the whole model when all weights train (``--no-lora``)
        value_head.safetensors    critic weights (+ value_head.json: its sizes)
        optimizer.pt, scheduler.pt
        training_state.pkl        RNG states (Python, NumPy, torch), env states, last observation
        trainer_state.json        counters, the config, a format version

It is written to a temporary sibling directory and renamed into place, so a crash mid-write
never leaves a half checkpoint under the final name. Pickled state makes checkpoints as trusted
as code: load only checkpoints you made.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

FORMAT_VERSION = 1
REQUIRED = ("value_head.safetensors", "value_head.json", "optimizer.pt", "scheduler.pt", "training_state.pkl", "trainer_state.json")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, corrupt, or does not fit the model being resumed."""


@dataclass
class TrainingState:
    """What besides weights makes a resumed run identical: counters, RNGs, the envs."""

    update: int
    env_steps: int
    config: dict[str, Any]
    rng: dict[str, Any]
    envs: Any
    observation: Any
    episode_starts: np.ndarray


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a fresh staging directory; on success it replaces ``final`` in one rename, so a crash
    never leaves a half-written directory under the final name."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)


def find_latest(path: str | Path, marker: str, pattern: str, what: str = "checkpoint") -> Path:
    """``path`` itself when it holds ``marker``, else the newest ``path/checkpoints/<pattern>``.

    :param what: the word used in error messages.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no {what} at {path}: the path does not exist")
    if (path / marker).exists():
        return path
    found = sorted((path / "checkpoints").glob(pattern)) if (path / "checkpoints").is_dir() else []
    if not found:
        raise CheckpointError(f"no {what} in {path}: expected {path}/checkpoints/{pattern} or a checkpoint directory")
    return found[-1]


def checkpoint_name(update: int) -> str:
    return f"update_{update:06d}"


def save_checkpoint(directory: Path, model, value_head, optimizer, scheduler, state: TrainingState) -> Path:
    """Write a checkpoint for ``state.update`` under ``directory`` atomically; returns its path."""
    from peft import PeftModel

    final = directory / checkpoint_name(state.update)
    with atomic_directory(final) as staging:
        model.save_pretrained(staging / ("adapter" if isinstance(model, PeftModel) else "model"))
        save_file({k: v.detach().cpu().contiguous() for k, v in value_head.state_dict().items()}, staging / "value_head.safetensors")
        (staging / "value_head.json").write_text(json.dumps({"hidden_size": value_head.hidden_size, "hidden_sizes": list(value_head.hidden_sizes)}))
        torch.save(optimizer.state_dict(), staging / "optimizer.pt")
        torch.save(scheduler.state_dict(), staging / "scheduler.pt")
        with open(staging / "training_state.pkl", "wb") as file:
            pickle.dump({"rng": state.rng, "envs": state.envs, "observation": state.observation, "episode_starts": state.episode_starts}, file)
        meta = {"format_version": FORMAT_VERSION, "update": state.update, "env_steps": state.env_steps, "config": state.config}
        (staging / "trainer_state.json").write_text(json.dumps(meta, indent=2))
    return final


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint directory itself, or the newest checkpoint of a run directory."""
    return find_latest(path, "trainer_state.json", "update_*")


def read_meta(checkpoint: Path) -> dict[str, Any]:
    """The checkpoint's counters and config, after checking that every file is there."""
    missing = [name for name in REQUIRED if not (checkpoint / name).exists()]
    if not (checkpoint / "adapter").is_dir() and not (checkpoint / "model").is_dir():
        missing.insert(0, "adapter/ or model/")
    if missing:
        raise CheckpointError(f"checkpoint {checkpoint} is incomplete: missing {missing}")
    try:
        meta = json.loads((checkpoint / "trainer_state.json").read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"checkpoint {checkpoint} is corrupt: trainer_state.json is not JSON ({error})") from error
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {checkpoint} has format {meta.get('format_version')!r}; this version reads {FORMAT_VERSION}")
    return meta


def load_value_head_weights(checkpoint: Path, value_head) -> None:
    sizes = json.loads((checkpoint / "value_head.json").read_text())
    if sizes != {"hidden_size": value_head.hidden_size, "hidden_sizes": list(value_head.hidden_sizes)}:
        raise CheckpointError(
            f"checkpoint {checkpoint} has a value head of {sizes}, but the model needs "
            f"hidden_size={value_head.hidden_size}, hidden_sizes={list(value_head.hidden_sizes)}"
        )
    try:
        value_head.load_state_dict(load_file(checkpoint / "value_head.safetensors"))
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"checkpoint {checkpoint}: value_head.safetensors cannot be read ({error})") from error


def load_training_state(checkpoint: Path, optimizer, scheduler) -> TrainingState:
    """Restore optimizer and scheduler in place and return counters, RNG and env states."""
    meta = read_meta(checkpoint)
    try:
        optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
        scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", weights_only=True))
        with open(checkpoint / "training_state.pkl", "rb") as file:
            saved = pickle.load(file)
    except (RuntimeError, ValueError, EOFError, pickle.UnpicklingError, KeyError) as error:
        raise CheckpointError(f"checkpoint {checkpoint} is corrupt or does not match this model: {error}") from error
    return TrainingState(
        update=meta["update"],
        env_steps=meta["env_steps"],
        config=meta["config"],
        rng=saved["rng"],
        envs=saved["envs"],
        observation=saved["observation"],
        episode_starts=saved["episode_starts"],
    )
