"""Runs a user can trust: kills, corrupt files, planted payloads, several processes, fuzzing.

Every case a run can meet by accident or by malice: a SIGKILL during a rollout, an update or a
checkpoint write, each followed by a resume that reproduces the uninterrupted run exactly; every
checkpoint file corrupted in turn; a pickle payload planted where older versions kept state;
two processes stopped and resumed; non-finite losses; leftovers of dead processes. The fuzz
budgets here are CI-sized; ``benchmarks/fuzz.py`` runs larger ones.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import rewrite_state

from vlm_ppo.checkpoint import atomic_directory, sha256
from vlm_ppo.cli import main
from vlm_ppo.trainer import TIME_METRICS

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT = Path(__file__).resolve().parents[1]
SMALL = [
    "--task", "gym_cards/NumberLine-v0", "--num-envs", "2", "--num-steps", "4", "--max-new-tokens", "12",
    "--ppo-epochs", "2", "--grad-accum-steps", "4", "--lora-r", "4", "--lora-alpha", "8",
    "--value-hidden-sizes", "16", "--save-every", "1", "--seed", "3",
]  # fmt: skip
CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}


def rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as file:
        return [{k: v for k, v in row.items() if k not in TIME_METRICS} for row in csv.DictReader(file)]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """This process trains on one thread too, as its children do (CHILD_ENV): sums come out
    bit-identical only on the same number of threads (on 2 threads here update 1's metrics of a
    child and of this process differed)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    from vlm_ppo.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny", "llava")


@pytest.fixture(scope="module")
def straight(tmp_path_factory, model) -> Path:
    """Three updates that nothing interrupted: what every resumed run must reproduce."""
    run = tmp_path_factory.mktemp("straight") / "run"
    assert main(["train", *SMALL, "--model", str(model), "--total-env-steps", "24", "--output-dir", str(run)]) == 0
    return run


# -------------------------------------------------------------------------- SIGKILL, then resume
# Each child dies by SIGKILL (no cleanup, no finally) at a point of its second update.
KILLS = {
    "rollout": ("vlm_ppo.rollout.SeededEnvs", "step", 11),  # 8 env steps per update: the 3rd step of update 2
    "update": ("torch.optim.Adam", "step", 6),  # 4 optimizer steps per update: mid-way through update 2
    "checkpoint write": ("torch", "save", 3),  # each checkpoint saves optimizer then scheduler: inside checkpoint 2
}


@pytest.mark.parametrize("stage", list(KILLS))
def test_a_run_killed_during_a_stage_resumes_to_exactly_the_uninterrupted_run(tmp_path, model, straight, stage):
    module, name, call = KILLS[stage]
    run = tmp_path / "run"
    child = textwrap.dedent(f"""
        import importlib, os, signal, sys
        owner = "{module}".rsplit(".", 1)
        target = getattr(importlib.import_module(owner[0]), owner[1]) if len(owner) == 2 and owner[1][0].isupper() else importlib.import_module("{module}")
        original, calls = getattr(target, "{name}"), [0]
        def dying(*args, **kwargs):
            calls[0] += 1
            if calls[0] == {call}:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)
        setattr(target, "{name}", dying)
        from vlm_ppo.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    argv = ["train", *SMALL, "--model", str(model), "--total-env-steps", "24", "--output-dir", str(run)]
    done = subprocess.run([sys.executable, "-c", child, *argv], env=CHILD_ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr[-2000:]
    assert [p.name for p in sorted((run / "checkpoints").glob("update_*"))] == ["update_000001"]
    if stage == "checkpoint write":
        assert list((run / "checkpoints").glob(".update_000002.tmp-*"))  # the half-written one, never under its name
    assert main(["train", "--resume", str(run), "--total-env-steps", "24"]) == 0
    assert rows(run) == rows(straight)
    assert not list((run / "checkpoints").glob(".*"))  # the dead process's staging directory is gone


def test_two_processes_stopped_and_resumed_reproduce_the_uninterrupted_run(tmp_path, model):
    """torchrun with two CPU processes: every rank's envs and RNGs are saved and restored."""
    base = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "vlm_ppo.cli",
        "train",
    ]
    args = [*SMALL, "--model", str(model)]
    for argv in (
        [*base, *args, "--total-env-steps", "48", "--output-dir", str(tmp_path / "straight")],
        [*base, *args, "--total-env-steps", "16", "--output-dir", str(tmp_path / "resumed")],
        [*base, "--resume", str(tmp_path / "resumed"), "--total-env-steps", "48"],
    ):
        done = subprocess.run(argv, env=CHILD_ENV, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads((tmp_path / "resumed" / "checkpoints" / "update_000001" / "state.json").read_text())
    assert len(state["ranks"]) == 2 and state["ranks"][0]["collector"] != state["ranks"][1]["collector"]
    assert rows(tmp_path / "resumed") == rows(tmp_path / "straight")
    assert [int(r["env_steps"]) for r in rows(tmp_path / "straight")] == [16, 32, 48]


def test_accelerate_launches_two_cpu_processes_with_its_multi_gpu_launcher(tmp_path, model):
    """accelerate's --cpu flag starts one process (it runs several on CPUs only through MPI); its
    multi-GPU launcher (torch's elastic launcher) starts two, which run on the CPU here."""
    run = tmp_path / "run"
    argv = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "-m", "vlm_ppo.cli", "train",
            *SMALL, "--model", str(model), "--total-env-steps", "32", "--output-dir", str(run)]  # fmt: skip
    done = subprocess.run(argv, env=CHILD_ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [int(r["env_steps"]) for r in rows(run)] == [16, 32]  # 2 processes x 2 envs x 4 steps per update
    assert len(json.loads((run / "checkpoints" / "update_000002" / "state.json").read_text())["ranks"]) == 2


# ----------------------------------------------------------------------- corrupt and planted files
def corrupt_copy(straight: Path, tmp_path: Path, damage) -> Path:
    run = tmp_path / "run"
    shutil.copytree(straight, run)
    damage(run / "checkpoints" / "update_000003")
    return run


def garble(path: Path) -> None:
    """Flip bytes in the middle of a file, as a bad disk or a broken copy would."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(16)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "file",
    [
        "adapter/adapter_model.safetensors",
        "adapter/adapter_config.json",
        "value_head.safetensors",
        "value_head.json",
        "optimizer.pt",
        "scheduler.pt",
    ],
)
def test_every_checkpoint_file_garbled_mid_file_is_refused_as_corrupt(straight, tmp_path, capsys, file):
    run = corrupt_copy(straight, tmp_path, lambda c: garble(c / file))
    assert main(["train", "--resume", str(run), "--total-env-steps", "32"]) == 2
    assert f"is corrupt: {file} does not match its recorded sha256" in capsys.readouterr().err
    assert rows(run) == rows(straight)  # nothing trained, nothing rewritten
    out = tmp_path / "eval.json"
    assert main(["eval", "--checkpoint", str(run), "--episodes", "1", "--output", str(out)]) == 2 and not out.exists()


@pytest.mark.parametrize(
    "state, message",
    [
        ([1, 2], "holds list, not an object"),
        ({"format_version": 2, "kind": "rl"}, "lists no checksums"),
        ("missing update", "lacks 'update'"),
        ("unknown key", "unknown config keys in the checkpoint's config: \\['bogus'\\]"),
        ("sft kind", "is a 'sft' checkpoint, not a 'rl' one"),
    ],
)
def test_a_malformed_state_file_is_refused_with_its_reason(straight, tmp_path, capsys, state, message):
    def damage(checkpoint: Path) -> None:
        saved = json.loads((checkpoint / "state.json").read_text())
        if state == "missing update":
            saved.pop("update")
        elif state == "unknown key":
            saved["config"]["bogus"] = 1
        elif state == "sft kind":
            saved["kind"] = "sft"
        rewrite_state(checkpoint, saved if isinstance(state, str) else state)

    run = corrupt_copy(straight, tmp_path, damage)
    assert main(["train", "--resume", str(run), "--total-env-steps", "32"]) == 2
    assert __import__("re").search(message, capsys.readouterr().err)


class Payload:
    """What an attacker would plant: unpickling it creates a file (it could run anything)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_planted_pickle_is_never_executed(straight, tmp_path, capsys):
    marker = tmp_path / "payload_ran"

    def plant(checkpoint: Path) -> None:
        (checkpoint / "training_state.pkl").write_bytes(pickle.dumps(Payload(marker)))

    run = corrupt_copy(straight, tmp_path, plant)
    assert main(["train", "--resume", str(run), "--total-env-steps", "32"]) == 2
    assert "pickled its state" in capsys.readouterr().err and not marker.exists()


def test_a_payload_in_the_optimizer_file_with_a_forged_checksum_is_not_executed(straight, tmp_path, capsys):
    """Even past the checksum (recomputed by the attacker), torch.load(weights_only=True) refuses
    to build objects: the payload never runs."""
    import torch

    marker = tmp_path / "payload_ran"

    def plant(checkpoint: Path) -> None:
        torch.save({"state": Payload(marker)}, checkpoint / "optimizer.pt")
        state = json.loads((checkpoint / "state.json").read_text())
        state["checksums"]["optimizer.pt"] = sha256(checkpoint / "optimizer.pt")
        rewrite_state(checkpoint, state)

    run = corrupt_copy(straight, tmp_path, plant)
    assert main(["train", "--resume", str(run), "--total-env-steps", "32"]) == 2
    assert "optimizer.pt does not fit this run" in capsys.readouterr().err and not marker.exists()


def test_a_planted_pickle_in_an_sft_checkpoint_is_never_executed(tmp_path, capsys):
    data, run, marker = tmp_path / "data", tmp_path / "sft", tmp_path / "payload_ran"
    assert main(["sft-data", "--task", "gym_cards/NumberLine-v0", "--episodes", "2", "--out", str(data), "--text-only"]) == 0
    assert (
        main(
            [
                "sft",
                "--data",
                str(data),
                "--output-dir",
                str(run),
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--lora-r",
                "2",
                "--lora-alpha",
                "4",
            ]
        )
        == 0
    )
    (run / "checkpoints" / "epoch_001" / "rng.pkl").write_bytes(pickle.dumps(Payload(marker)))
    assert main(["sft", "--resume", str(run), "--epochs", "2"]) == 2
    assert "pickled its state" in capsys.readouterr().err and not marker.exists()


def test_no_pickle_anywhere_in_vlm_ppo():
    for path in (ROOT / "vlm_ppo").rglob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text and "pickle.load" not in text, path
        assert "torch.load(" not in text or "weights_only=True" in text, path


# ----------------------------------------------------------------------------- other accidents
def test_a_non_finite_loss_stops_the_run_before_any_weight_or_checkpoint_takes_it(tmp_path, model, capsys):
    import torch

    from vlm_ppo.config import build_config
    from vlm_ppo.run import TrainingError
    from vlm_ppo.trainer import Trainer

    run = tmp_path / "run"
    trainer = Trainer(
        build_config(
            task="gym_cards/NumberLine-v0",
            path=str(model),
            num_envs=2,
            num_steps=4,
            max_new_tokens=8,
            grad_accum_steps=4,
            lora_r=2,
            lora_alpha=4,
            value_hidden_sizes=[8],
            output_dir=str(run),
        )
    )
    with torch.no_grad():
        trainer._policy.value_head.mlp[0].weight[0, 0] = float("nan")  # values (and the value loss) go NaN
    before = {n: p.detach().clone() for n, p in trainer._policy.model.named_parameters() if p.requires_grad}
    with pytest.raises(TrainingError, match="update 1: the loss is nan .*no weight has taken it"):
        trainer.train()
    assert all(torch.equal(p, before[n]) for n, p in trainer._policy.model.named_parameters() if p.requires_grad)
    assert not (run / "checkpoints").exists()


def test_an_overwritten_checkpoint_stays_until_the_new_one_is_in_place(tmp_path):
    final = tmp_path / "checkpoints" / "update_000001"
    final.mkdir(parents=True)
    (final / "weights").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(final) as staging:
            (staging / "weights").write_text("half")
            assert (final / "weights").read_text() == "old"  # while the new one is written
            raise KeyboardInterrupt
    assert (final / "weights").read_text() == "old" and not list(final.parent.glob(".*"))
    with atomic_directory(final) as staging:
        (staging / "weights").write_text("new")
    assert (final / "weights").read_text() == "new" and not list(final.parent.glob(".*"))


def test_a_checkpoint_moved_aside_by_a_process_killed_at_once_is_marked_to_be_put_back(tmp_path, monkeypatch):
    # Killed right after the old checkpoint was moved aside: remove_stale_staging puts back only
    # what carries the staging marker, so the moved copy must carry it already.
    import vlm_ppo.checkpoint as checkpoint

    final = tmp_path / "checkpoints" / "update_000001"
    final.mkdir(parents=True)
    (final / "weights").write_text("old")
    real_replace = os.replace

    def replace_then_die(source, target):
        real_replace(source, target)
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(final) as staging:
            (staging / "weights").write_text("new")
    moved = [p for p in final.parent.iterdir() if ".old-" in p.name]
    assert not final.exists() and len(moved) == 1
    assert (moved[0] / ".vlm_ppo_staging").is_file() and (moved[0] / "weights").read_text() == "old"


def test_a_checkpoint_is_on_disk_before_it_takes_its_name(tmp_path, monkeypatch):
    # Without fsync a power loss could leave update_N renamed but its files empty: refused as corrupt.
    import vlm_ppo.checkpoint as checkpoint

    synced, real_fsync, real_replace = [], os.fsync, os.replace
    monkeypatch.setattr(checkpoint.os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real_fsync(fd))
    renamed = []
    monkeypatch.setattr(checkpoint.os, "replace", lambda a, b: renamed.append((set(synced), str(a))) or real_replace(a, b))
    final = tmp_path / "checkpoints" / "update_000001"
    with atomic_directory(final) as staging:
        (staging / "adapter").mkdir()
        (staging / "adapter" / "weights").write_text("w")
        (staging / "state.json").write_text("{}")
    before, staged = renamed[-1]
    assert {f"{staged}/adapter/weights", f"{staged}/state.json", f"{staged}/adapter", staged} <= before
    assert str(final.parent) in synced  # the rename itself


def test_what_dead_processes_left_is_cleaned_up_and_nothing_else_touched(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    host = socket.gethostname()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    ours = {
        f".update_000001.tmp-{host}-{dead}": "removed: a dead process's half-written checkpoint",
        f".update_000001.old-{host}-{dead}": "removed: update_000001 arrived before the process died",
        f".update_000002.old-{host}-{dead}": "put back: killed between moving the old one aside and renaming the new",
        f".update_000004.tmp-{host}-{os.getppid()}": "kept: its process is alive",
        f".update_000005.tmp-other-host-{dead}": "kept: that PID means nothing on this host",
    }
    for name in ours:
        (checkpoints / name).mkdir(parents=True)
        (checkpoints / name / ".vlm_ppo_staging").touch()
        (checkpoints / name / "weights").write_text(name)
    (checkpoints / "update_000001").mkdir()
    (checkpoints / f".mine.tmp-{host}-{dead}").mkdir()  # a user's directory: no marker, never touched
    with atomic_directory(checkpoints / "update_000003") as staging:
        (staging / "x").write_text("x")
    assert sorted(p.name for p in checkpoints.iterdir()) == sorted(
        [
            f".mine.tmp-{host}-{dead}",
            f".update_000004.tmp-{host}-{os.getppid()}",
            f".update_000005.tmp-other-host-{dead}",
            "update_000001",
            "update_000002",
            "update_000003",
        ]
    )
    assert sorted(p.name for p in (checkpoints / "update_000002").iterdir()) == ["weights"]
    assert (checkpoints / "update_000002" / "weights").read_text() == f".update_000002.old-{host}-{dead}"
    assert sorted(p.name for p in (checkpoints / "update_000003").iterdir()) == ["x"]  # no marker left in it


def test_files_a_checkpoint_does_not_list_or_names_outside_it_are_refused(straight, tmp_path, capsys):
    run = corrupt_copy(straight, tmp_path, lambda c: (c / "adapter" / "extra.safetensors").write_bytes(b"x"))
    assert main(["train", "--resume", str(run), "--total-env-steps", "32"]) == 2
    assert "holds adapter/extra.safetensors, which its state.json does not list" in capsys.readouterr().err

    def escape(checkpoint: Path) -> None:
        state = json.loads((checkpoint / "state.json").read_text())
        state["checksums"]["../../metrics.csv"] = "0" * 64
        rewrite_state(checkpoint, state)

    run = corrupt_copy(straight, tmp_path / "second", escape)
    assert main(["train", "--resume", str(run), "--total-env-steps", "32"]) == 2
    assert "lists '../../metrics.csv', a path outside it" in capsys.readouterr().err


def test_a_fresh_run_into_a_directory_with_checkpoints_is_refused_and_changes_nothing(straight, tmp_path, capsys):
    # Before: it overwrote config.yaml and emptied metrics.csv while the old checkpoints stayed, and
    # the next --resume took the old run's newest checkpoint, a run the logs no longer described.
    run = tmp_path / "run"
    shutil.copytree(straight, run)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert main(["train", *SMALL, "--total-env-steps", "8", "--output-dir", str(run)]) == 2
    assert "holds checkpoints of an earlier run (up to update_000003): resume it" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_resuming_an_earlier_checkpoint_drops_the_later_ones_with_their_rows(straight, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(straight, run)
    assert main(["train", "--resume", str(run / "checkpoints" / "update_000001"), "--total-env-steps", "16",
                 "--save-every", "5"]) == 0  # fmt: skip
    assert "removed the checkpoints after update_000001: update_000002, update_000003" in capsys.readouterr().out
    # the continuation's own end (update 2) is the newest; update 3 of the abandoned run is gone
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["update_000001", "update_000002"]
    assert rows(run) == rows(straight)[:2]


def test_a_checkpoint_outside_a_run_or_with_a_broken_rng_state_is_refused_and_changes_nothing(straight, tmp_path, capsys):
    alone = tmp_path / "update_000003"
    shutil.copytree(straight / "checkpoints" / "update_000003", alone)
    assert main(["train", "--resume", str(alone), "--total-env-steps", "32"]) == 2
    assert "is not in a run's checkpoints/ directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["update_000003"]

    def break_rng(checkpoint: Path) -> None:
        state = json.loads((checkpoint / "state.json").read_text())
        state["ranks"][0]["rng"]["torch"] = state["ranks"][0]["rng"]["torch"][:-2]  # one byte short
        rewrite_state(checkpoint, state)

    run = corrupt_copy(straight, tmp_path / "second", break_rng)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert main(["train", "--resume", str(run), "--total-env-steps", "32", "--init-lr", "1e-3"]) == 2
    assert "the saved state of process 0 cannot be restored: RuntimeError" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # config.yaml and metrics too


@pytest.mark.parametrize("problem", ["wandb missing", "metrics not text"])
def test_a_resume_that_fails_on_bad_input_removes_and_rewrites_nothing(straight, tmp_path, capsys, monkeypatch, problem):
    """Resuming update 1 removes updates 2 and 3 and their rows, but only once nothing is left to
    fail on: a missing wandb or an unreadable metrics.csv used to fail after that."""
    import sys

    run = tmp_path / "run"
    shutil.copytree(straight, run)
    resume = ["train", "--resume", str(run / "checkpoints" / "update_000001"), "--total-env-steps", "16"]
    if problem == "wandb missing":
        monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
        resume.append("--wandb")
        message = "--wandb needs the wandb package"
    else:
        (run / "metrics.csv").write_bytes((run / "metrics.csv").read_bytes() + b"\xff\xfe,1\n")
        message = f"{run / 'metrics.csv'} is not a readable metrics CSV"
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert main(resume) == 2
    assert message in capsys.readouterr().err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # checkpoints, config.yaml, rows


def test_an_edited_state_file_is_refused_as_corrupt(straight, tmp_path, capsys):
    """state.json holds the counters and every RNG and env state: an edit there made a resume
    silently inexact, as the other files' checksums live in it and it had none of its own."""

    def edit(checkpoint: Path) -> None:
        text = (checkpoint / "state.json").read_text()
        state = json.loads(text)
        (checkpoint / "state.json").write_text(text.replace(f'"env_steps": {state["env_steps"]}', '"env_steps": 2'))

    run = corrupt_copy(straight, tmp_path, edit)
    assert main(["train", "--resume", str(run), "--total-env-steps", "32"]) == 2
    assert "state.json does not match its recorded sha256" in capsys.readouterr().err
    evaluate = ["eval", "--checkpoint", str(run), "--episodes", "1", "--output", str(tmp_path / "e.json")]
    assert main(evaluate) == 2
    assert "state.json does not match its recorded sha256" in capsys.readouterr().err


def test_a_checkpoints_task_runs_no_module_unless_it_is_given_again(straight, tmp_path, capsys, monkeypatch):
    """A checkpoint someone hands over names its task; a ``module:factory`` task imports (runs)
    that module. Eval and resume ask for it on the command line first."""
    planted = tmp_path / "planted.py"
    planted.write_text("import pathlib\npathlib.Path(__file__).with_name('ran').touch()\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def plant(checkpoint: Path) -> None:
        state = json.loads((checkpoint / "state.json").read_text())
        state["config"]["task"] = "planted:make_task"
        rewrite_state(checkpoint, state)

    run = corrupt_copy(straight, tmp_path / "copy", plant)
    evaluate = ["eval", "--checkpoint", str(run), "--episodes", "1", "--output", str(tmp_path / "e.json")]
    assert main(evaluate) == 2
    assert "imports the module 'planted', which runs its code: give it again (--task planted:make_task" in (
        capsys.readouterr().err
    )
    assert main(["train", "--resume", str(run), "--total-env-steps", "32"]) == 2
    assert "imports the module 'planted', which runs its code: give it again (--task planted:make_task" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "ran").exists()
    # Given again, it is the user's own choice: the module is imported (and has no make_task).
    assert main([*evaluate, "--task", "planted:make_task"]) == 2
    assert "planted has no callable 'make_task'" in capsys.readouterr().err
    assert (tmp_path / "ran").exists()


def test_tensorboard_hides_what_an_interrupted_run_logged_after_its_checkpoint(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from vlm_ppo.run import MetricsLog

    columns = ("update", "env_steps", "charts/x")
    first = MetricsLog(tmp_path / "m.csv", columns, tensorboard=tmp_path / "tb", x_axis="env_steps")
    for update in (1, 2, 3):  # checkpoint after update 2, then killed after logging update 3
        first.write({"update": update, "env_steps": 8 * update, "charts/x": float(update)})
    first.close()
    resumed = MetricsLog(tmp_path / "m.csv", columns, resume_after=2, tensorboard=tmp_path / "tb", x_axis="env_steps")
    resumed.write({"update": 3, "env_steps": 24, "charts/x": 30.0})
    resumed.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("charts/x")] == [(8, 1.0), (16, 2.0), (24, 30.0)]


def test_a_run_resumes_from_its_base_model_at_another_path_only_if_it_is_the_same_model(straight, model, tmp_path, capsys):
    """A run copied to another machine finds its base model elsewhere: --model names the new path,
    accepted when its fingerprint is the one the checkpoint recorded, and the run continues exactly."""
    from vlm_ppo.tiny import build_tiny_model

    run, moved = tmp_path / "run", tmp_path / "moved"
    shutil.copytree(straight, run)
    shutil.copytree(model, moved)
    checkpoint = run / "checkpoints" / "update_000002"
    state = json.loads((checkpoint / "state.json").read_text())
    state["config"]["model"]["path"] = str(tmp_path / "gone")  # where it was on the other machine
    rewrite_state(checkpoint, state)
    resume = ["train", "--resume", str(checkpoint), "--total-env-steps", "24"]
    other = build_tiny_model(tmp_path / "other", "llava", seed=1)  # the same architecture, other weights
    assert main([*resume, "--model", str(other)]) == 2
    assert "is not the base model this run trained from" in capsys.readouterr().err
    assert main([*resume, "--model", str(moved)]) == 0
    assert rows(run) == rows(straight)

    del state["base_model"]  # a checkpoint written before fingerprints
    rewrite_state(checkpoint, state)
    assert main([*resume, "--model", str(moved)]) == 2
    assert "records no fingerprint of its base model" in capsys.readouterr().err


def test_an_empty_metrics_file_does_not_stop_a_resume(straight, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(straight, run)
    (run / "metrics.csv").write_text("")
    assert main(["train", "--resume", str(run / "checkpoints" / "update_000002"), "--total-env-steps", "24"]) == 0
    assert rows(run) == rows(straight)[2:]  # the rows it had are gone with the file; the resumed one is exact


def test_fresh_runs_without_a_model_are_reproducible_and_a_half_built_tiny_model_is_rebuilt(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    (second / "tiny_model").mkdir(parents=True)  # what a build killed midway left behind earlier
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = second / f".tiny_model.tmp-{socket.gethostname()}-{dead.stdout.strip()}"
    leftover.mkdir()
    (leftover / ".vlm_ppo_staging").touch()
    for run in (first, second):
        assert main(["train", *SMALL, "--total-env-steps", "16", "--output-dir", str(run)]) == 0
    assert rows(first) == rows(second) and not leftover.exists()
    assert (second / "tiny_model" / "model.safetensors").read_bytes() == (
        first / "tiny_model" / "model.safetensors"
    ).read_bytes()


def test_an_env_holding_a_pygame_surface_trains_checkpoints_and_resumes_exactly(tmp_path, model, monkeypatch):
    """A user's pixel env that holds an unpicklable pygame surface: checkpoints store its seed and
    answers, so nothing needs pickling."""
    pytest.importorskip("pygame")
    module = tmp_path / "surface_task.py"
    module.write_text(
        textwrap.dedent("""
        import gymnasium as gym
        import numpy as np
        import pygame

        from vlm_ppo.tasks import Task


        class Dots(gym.Env):
            metadata = {"render_modes": ["rgb_array"]}

            def __init__(self, render_mode="rgb_array"):
                self.render_mode = render_mode
                self.surface = pygame.Surface((56, 56))
                self.observation_space = gym.spaces.Box(0, 255, (56, 56, 3), np.uint8)
                self.action_space = gym.spaces.Discrete(2)

            def _frame(self):
                self.surface.fill((255, 255, 255))
                pygame.draw.circle(self.surface, (0, 0, 0), (8 + 4 * self.x, 28), 4)
                return np.transpose(pygame.surfarray.array3d(self.surface), (1, 0, 2)).copy()

            def reset(self, *, seed=None, options=None):
                super().reset(seed=seed)
                self.x, self.t = int(self.np_random.integers(0, 10)), 0
                return self._frame(), {}

            def step(self, action):
                self.x = max(0, min(10, self.x + (1 if action else -1)))
                self.t += 1
                return self._frame(), float(self.x == 10), self.x == 10, self.t >= 6, {}


        gym.register("SurfaceDots-v0", entry_point=Dots)


        class DotsTask(Task):
            def instructions(self, env, text_only):
                return "Move the dot to the right edge."


        def dots():
            return DotsTask(name="dots", env_id="SurfaceDots-v0", action_words=("left", "right"))
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    args = [*SMALL, "--task", "surface_task:dots", "--model", str(model)]
    assert main(["train", *args, "--total-env-steps", "24", "--output-dir", str(tmp_path / "straight")]) == 0
    assert main(["train", *args, "--total-env-steps", "8", "--output-dir", str(tmp_path / "resumed")]) == 0
    assert main(["train", "--resume", str(tmp_path / "resumed"), "--total-env-steps", "24"]) == 0
    assert rows(tmp_path / "resumed") == rows(tmp_path / "straight")


# ------------------------------------------------------------------------------------- fuzzing
FUZZ_STEPS = int(os.environ.get("VLM_PPO_FUZZ_STEPS", "3000"))


def test_fuzzed_answers_and_actions_never_raise_unexpectedly():
    """benchmarks/fuzz.py at a CI-sized budget, strict: random answers to the agent envs of every
    game (junk, near-misses, valid JSON) and random valid and invalid actions to the bare envs:
    only the documented ValueError for an invalid action, never anything else, and the env
    untouched by it."""
    import importlib.util

    import gym_cards

    spec = importlib.util.spec_from_file_location("fuzz", ROOT / "benchmarks" / "fuzz.py")
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)
    rng = np.random.default_rng(0)
    steps = FUZZ_STEPS // len(gym_cards.ENV_IDS)
    for env_id in gym_cards.ENV_IDS:
        counts = fuzz.fuzz(env_id, steps, rng, strict=True)
        assert counts["answers"] == steps and counts["actions"] + counts["invalid actions"] == steps
        assert counts["invalid actions"] > 0 and counts["unexpected"] == 0


def test_the_state_digest_is_that_of_the_state_as_it_reads_back():
    """JSON turns an env option's integer keys into strings: the digest is taken as the state
    reads back, so {2: .., 10: ..} (sorted otherwise as 10 < 2 once strings) is not "corrupt",
    and mixed keys ({"size": 8, 3: "x"}) do not stop the run at its first checkpoint."""
    from vlm_ppo.checkpoint import _state_digest

    for env_kwargs in ({2: "a", 10: "b"}, {"size": 8, 3: "x"}, {"a": [1.5, float("nan")], "b": (1, 2)}):
        state = {"kind": "rl", "config": {"env_kwargs": env_kwargs}, "update": 1}
        assert _state_digest(json.loads(json.dumps(state))) == _state_digest(state)
