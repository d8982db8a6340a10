"""Checkpoints: one format for RL and SFT, pure data, verified before use, replaced atomically.

A checkpoint is a directory that opens like a Hugging Face model::

    checkpoints/update_000005/        (SFT: epoch_003/)
        adapter/                  LoRA adapter (peft save_pretrained), or
        model/                    the whole model when all weights train (--no-lora)
        value_head.safetensors    the critic's weights (+ value_head.json: its sizes), if the run has one
        optimizer.pt, scheduler.pt    torch state dicts, read with weights_only=True
        state.json                format version, kind, counters, the run's config, every process's
                                  RNG states and env states (as data), the sha256 of every other file
                                  and of itself

Guarantees:

* **Nothing in a checkpoint runs code.** Weights are safetensors, optimizer state is read with
  ``torch.load(weights_only=True)``, and RNG and env states are JSON: an env's state is the seed
  of its episode and the answers given since, replayed on resume. Checkpoints of older versions,
  which pickled that state, are refused.
* **Corrupt files are refused, not trained on.** Every file's sha256 is checked before anything
  loads; a mismatch names the file.
* **A crash never leaves a half checkpoint under a checkpoint's name**, and an overwritten
  checkpoint stays until the new one is in place: each is written to a temporary sibling and
  renamed. What a killed process left behind is cleaned up the next time (its temporary
  directory removed, a checkpoint it had moved aside put back).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

FORMAT_VERSION = 2
STATE_FILE = "state.json"
_STATE_DIGEST = "state_sha256"
_PICKLED = ("training_state.pkl", "rng.pkl")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, corrupt, or does not fit the run being resumed."""


# ------------------------------------------------------------------------------- RNG as data
def rng_state() -> dict[str, Any]:
    """The global generators' states (Python, NumPy, torch, CUDA) as JSON-able data (their
    arrays as hex strings)."""
    version, internal, gauss = random.getstate()
    numpy = np.random.get_state(legacy=False)
    state = {
        "python": [version, np.asarray(internal, dtype=np.uint32).tobytes().hex(), gauss],
        "numpy": {
            **numpy,
            "state": {"key": numpy["state"]["key"].astype(np.uint32).tobytes().hex(), "pos": int(numpy["state"]["pos"])},
        },
        "torch": torch.get_rng_state().numpy().tobytes().hex(),
    }
    if torch.cuda.is_available():
        state["cuda"] = [s.numpy().tobytes().hex() for s in torch.cuda.get_rng_state_all()]
    return state


def _uint8(text: str) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(bytes.fromhex(text), dtype=np.uint8).copy())


def restore_rng(state: Mapping[str, Any]) -> None:
    """Set the global generators to a state from :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(int(x) for x in np.frombuffer(bytes.fromhex(internal), dtype=np.uint32)), gauss))
    numpy = dict(state["numpy"])
    numpy["state"] = {
        "key": np.frombuffer(bytes.fromhex(numpy["state"]["key"]), dtype=np.uint32).copy(),
        "pos": numpy["state"]["pos"],
    }
    np.random.set_state(numpy)
    torch.set_rng_state(_uint8(state["torch"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_uint8(s) for s in state["cuda"]])


def generator_state(generator: np.random.Generator) -> dict[str, Any]:
    """A NumPy generator's state as data (its bit generator's name and state)."""
    return dict(generator.bit_generator.state)


def generator_from_state(state: Mapping[str, Any]) -> np.random.Generator:
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = dict(state)
    return np.random.Generator(bit_generator)


# ------------------------------------------------------------------------------- directories
_STAGING = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<host>[^/]+)-(?P<pid>\d+)$")
_MARKER = ".vlm_ppo_staging"
"""A file naming a directory as ours to remove: a user's own ``.x.tmp-host-1`` is never touched."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _staging_name(final: Path, kind: str) -> Path:
    # The host is in the name: on a shared filesystem another machine's PIDs say nothing here.
    return final.parent / f".{final.name}.{kind}-{socket.gethostname()}-{os.getpid()}"


def remove_stale_staging(parent: Path) -> None:
    """Clean up after processes of this host that died while writing a directory atomically:
    their staging directories (``.NAME.tmp-HOST-PID``) are removed; a replaced directory moved
    aside (``.NAME.old-HOST-PID``) is renamed back when its replacement never arrived, and
    removed when it did."""
    if not parent.is_dir():
        return
    host = socket.gethostname()
    for path in parent.iterdir():
        match = _STAGING.match(path.name)
        if (
            match is None
            or match["host"] != host
            or int(match["pid"]) == os.getpid()
            or _alive(int(match["pid"]))
            or not (path / _MARKER).is_file()
        ):
            continue
        final = parent / match["name"]
        if match["kind"] == "old" and not final.exists():
            (path / _MARKER).unlink()
            os.replace(path, final)
        else:
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a fresh staging directory; on success it is synced to disk and becomes ``final`` by
    renaming. An existing ``final`` is moved aside first and deleted only once the new one is in
    place (a process killed in between gets it back from :func:`remove_stale_staging`)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(final.parent)
    staging = _staging_name(final, "tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    (staging / _MARKER).touch()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = _staging_name(final, "old")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        (final / _MARKER).touch()  # before the move: a process killed just after it must leave a marked copy
        os.replace(final, old)
    (staging / _MARKER).unlink()
    _sync(staging)  # on disk before it takes the final name: a power loss leaves the old one or the whole new one
    os.replace(staging, final)
    _sync_directory(final.parent)
    shutil.rmtree(old, ignore_errors=True)


def _sync(directory: Path) -> None:
    """``fsync`` every file under ``directory`` and the directories themselves."""
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            with open(path, "rb") as file:
                os.fsync(file.fileno())
        elif path.is_dir():
            _sync_directory(path)
    _sync_directory(directory)


def _sync_directory(directory: Path) -> None:
    if os.name != "posix":  # Windows cannot open a directory to sync it
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def find_latest(path: str | Path, pattern: str, what: str = "checkpoint") -> Path:
    """``path`` itself when it is a checkpoint, else the newest ``<pattern>`` in ``path`` (a run's
    ``checkpoints/``) or in ``path/checkpoints`` (a run directory)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no {what} at {path}: the path does not exist")
    if (path / STATE_FILE).exists() or any((path / name).exists() for name in _PICKLED):
        return path
    found = sorted(p for p in path.glob(pattern) if p.is_dir())
    if not found and (path / "checkpoints").is_dir():
        found = sorted(p for p in (path / "checkpoints").glob(pattern) if p.is_dir())
    if not found:
        raise CheckpointError(f"no {what} in {path}: expected {path}/checkpoints/{pattern} or a checkpoint directory")
    return found[-1]


# ------------------------------------------------------------------------------- checksums
def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name not in (STATE_FILE, _MARKER))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------- save / load
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")


def model_fingerprint(model_dir: str | Path, chunks: int = 16, chunk_size: int = 1 << 16) -> str | None:
    """A fingerprint of a model directory, to recognise the same base model at another path: its
    ``config.json`` and, for every weight file, its name, size and ``chunks`` slices spread over
    it (two fine-tunes of one architecture share a config and file sizes, not their bytes). Reads
    about a megabyte per file, so a 7B model is recognised in well under a second. None when the
    directory holds no ``config.json``."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        return None
    digest = hashlib.sha256((model_dir / "config.json").read_bytes())
    for path in sorted(p for p in model_dir.iterdir() if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES)):
        size = path.stat().st_size
        digest.update(f"\0{path.name}\0{size}\0".encode())
        with open(path, "rb") as file:
            for k in range(chunks):
                file.seek(size * k // chunks)
                digest.update(file.read(chunk_size))
    return digest.hexdigest()


def moved_base_model(state: Mapping[str, Any], given: Mapping[str, Any]) -> str | None:
    """The new path of a run's base model when ``given`` (the values typed again on resume) names
    one, a run copied to another machine, once its fingerprint matches the one the checkpoint
    recorded; None when no path is given or it is the saved one.

    :raises ValueError: another model, or a checkpoint that recorded no fingerprint.
    """
    model = given.get("model")
    path = model.get("path") if isinstance(model, Mapping) else None
    if path is None or str(path) == str(state["config"].get("model", {}).get("path")):
        return None
    recorded = state.get("base_model")
    if recorded is None:
        raise ValueError(
            "this checkpoint records no fingerprint of its base model (written before 2026-12-07, or the model "
            "was not a local directory), so --model cannot point it elsewhere; put the base model back at its "
            "saved path"
        )
    if model_fingerprint(path) != recorded:
        raise ValueError(f"{path} is not the base model this run trained from (its config or weights differ)")
    return str(path)


def drop_later_checkpoints(checkpoint: Path, pattern: str) -> list[str]:
    """Remove the checkpoints of ``checkpoint``'s run that come after it (a resume from an earlier
    one abandons them, as the metrics drop their rows): left in place, the newest of them would be
    what the next resume picks. Returns their names."""
    later = [p for p in sorted(checkpoint.parent.glob(pattern)) if p.is_dir() and p.name > checkpoint.name]
    for path in later:
        shutil.rmtree(path)
    return [p.name for p in later]


def run_of(checkpoint: Path) -> Path:
    """The run directory of a checkpoint (``RUN/checkpoints/NAME``)."""
    if checkpoint.parent.name != "checkpoints":
        raise CheckpointError(
            f"{checkpoint} is not in a run's checkpoints/ directory, so it has no run to continue in: resume "
            "RUN_DIR or RUN_DIR/checkpoints/NAME"
        )
    return checkpoint.parent.parent


def save_checkpoint(
    directory: Path, name: str, model, optimizer, scheduler, state: Mapping[str, Any], value_head=None
) -> Path:
    """Write checkpoint ``directory/name`` atomically; returns its path.

    :param model: the model being trained (a peft model saves its adapter, else the whole model).
    :param state: JSON-able data: ``kind``, counters, ``config``, ``ranks`` (each process's RNG
        and env states); the format version and checksums are added here.
    :param value_head: the critic, if the run has one.
    """
    from peft import PeftModel

    final = directory / name
    with atomic_directory(final) as staging:
        model.save_pretrained(staging / ("adapter" if isinstance(model, PeftModel) else "model"))
        if value_head is not None:
            save_file(
                {k: v.detach().cpu().contiguous() for k, v in value_head.state_dict().items()},
                staging / "value_head.safetensors",
            )
            (staging / "value_head.json").write_text(
                json.dumps({"hidden_size": value_head.hidden_size, "hidden_sizes": list(value_head.hidden_sizes)})
            )
        torch.save(optimizer.state_dict(), staging / "optimizer.pt")
        torch.save(scheduler.state_dict(), staging / "scheduler.pt")
        checksums = {str(p.relative_to(staging)): sha256(p) for p in _files(staging)}
        meta = {"format_version": FORMAT_VERSION, **state, "checksums": checksums}
        meta[_STATE_DIGEST] = _state_digest(meta)
        (staging / STATE_FILE).write_text(json.dumps(meta, indent=1))
    return final


def _state_digest(meta: Mapping[str, Any]) -> str:
    """sha256 of the state itself (its counters, config, RNG and env states), without this digest:
    the other files' checksums live in it, so an edit to it would otherwise go unseen."""
    content = {key: value for key, value in meta.items() if key != _STATE_DIGEST}
    content = json.loads(json.dumps(content))  # as it reads back: keys become strings (an env option's 3: "x")
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_state(checkpoint: Path, kind: str) -> dict[str, Any]:
    """The checkpoint's state after checking everything that can be checked without loading:
    no pickled state, ``state.json`` readable and of this format and kind, every file present
    with its recorded checksum, the weights there."""
    pickled = [name for name in _PICKLED if (checkpoint / name).exists()]
    if pickled:
        raise CheckpointError(
            f"checkpoint {checkpoint} holds {pickled[0]}: it was written by an older version that pickled its state, and "
            "unpickling a file can run any code in it, so it is refused; start a new run (or continue with that older version)"
        )
    path = checkpoint / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"checkpoint {checkpoint} is incomplete: {STATE_FILE} is missing")
    try:
        state = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"checkpoint {checkpoint} is corrupt: {STATE_FILE} is not JSON ({error})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {checkpoint} is corrupt: {STATE_FILE} holds {type(state).__name__}, not an object")
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {checkpoint} has format {state.get('format_version')!r}; this version reads {FORMAT_VERSION}"
        )
    # Checkpoints written before 2026-12-08 carry no digest of their state; they are read as before.
    if _STATE_DIGEST in state and state[_STATE_DIGEST] != _state_digest(state):
        raise CheckpointError(
            f"checkpoint {checkpoint} is corrupt: {STATE_FILE} does not match its recorded sha256 (edited after it "
            "was written?)"
        )
    if state.get("kind") != kind:
        raise CheckpointError(f"checkpoint {checkpoint} is a {state.get('kind')!r} checkpoint, not a {kind!r} one")
    checksums = state.get("checksums")
    if not isinstance(checksums, dict) or not checksums:
        raise CheckpointError(f"checkpoint {checkpoint} is corrupt: {STATE_FILE} lists no checksums")
    for name in checksums:
        if not isinstance(name, str) or Path(name).is_absolute() or ".." in Path(name).parts:
            raise CheckpointError(f"checkpoint {checkpoint} is corrupt: {STATE_FILE} lists {name!r}, a path outside it")
    unlisted = sorted({str(p.relative_to(checkpoint)) for p in _files(checkpoint)} - set(checksums))
    if unlisted:
        raise CheckpointError(
            f"checkpoint {checkpoint} holds {unlisted[0]}, which its {STATE_FILE} does not list: files were added or "
            "renamed after it was written"
        )
    for name, expected in checksums.items():
        file = checkpoint / name
        if not file.is_file():
            raise CheckpointError(f"checkpoint {checkpoint} is incomplete: {name} is missing")
        if sha256(file) != expected:
            raise CheckpointError(f"checkpoint {checkpoint} is corrupt: {name} does not match its recorded sha256")
    if not (checkpoint / "adapter").is_dir() and not (checkpoint / "model").is_dir():
        raise CheckpointError(f"checkpoint {checkpoint} is incomplete: it holds neither adapter/ nor model/")
    return state


def require(state: Mapping[str, Any], checkpoint: Path, keys: Mapping[str, type]) -> None:
    """Check that ``state`` has ``keys`` of the given types, naming the first that does not."""
    for key, kind in keys.items():
        if not isinstance(state.get(key), kind) or (kind is int and isinstance(state.get(key), bool)):
            raise CheckpointError(
                f"checkpoint {checkpoint}: {STATE_FILE} lacks {key!r} ({kind.__name__}) or holds another type"
            )


def load_optimizer(checkpoint: Path, optimizer, scheduler) -> None:
    """Restore the optimizer and scheduler in place from the checkpoint's state dicts."""
    for name, target in (("optimizer.pt", optimizer), ("scheduler.pt", scheduler)):
        try:
            target.load_state_dict(torch.load(checkpoint / name, weights_only=True))
        except Exception as error:  # torch and the optimizer raise several types for a file that does not fit
            raise CheckpointError(f"checkpoint {checkpoint}: {name} does not fit this run ({error})") from None


def load_value_head_weights(checkpoint: Path, value_head) -> None:
    """Load the checkpoint's critic into ``value_head``, checking its sizes first."""
    if not (checkpoint / "value_head.json").is_file():
        raise CheckpointError(f"checkpoint {checkpoint} has no value head, but this run needs one")
    try:
        sizes = json.loads((checkpoint / "value_head.json").read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"checkpoint {checkpoint} is corrupt: value_head.json is not JSON ({error})") from None
    if sizes != {"hidden_size": value_head.hidden_size, "hidden_sizes": list(value_head.hidden_sizes)}:
        raise CheckpointError(
            f"checkpoint {checkpoint} has a value head of {sizes}, but the model needs "
            f"hidden_size={value_head.hidden_size}, hidden_sizes={list(value_head.hidden_sizes)}"
        )
    try:
        value_head.load_state_dict(load_file(checkpoint / "value_head.safetensors"))
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"checkpoint {checkpoint} is corrupt: value_head.safetensors cannot be read ({error})") from None
