"""vlm-ppo end to end on the CPU with a tiny model: train, resume exactly, eval, plot, bad checkpoints."""

import csv
import json
import os
import shutil

import pytest
from conftest import rewrite_state

from vlm_ppo.checkpoint import FORMAT_VERSION
from vlm_ppo.cli import main
from vlm_ppo.evaluation import EVAL_SEED_OFFSET
from vlm_ppo.trainer import METRICS, TIME_METRICS

os.environ["HF_HUB_OFFLINE"] = "1"
SMALL = [
    "--env",
    "gym_cards/NumberLine-v0",
    "--num-envs",
    "2",
    "--num-steps",
    "4",
    "--max-new-tokens",
    "12",
    "--ppo-epochs",
    "2",
    "--grad-accum-steps",
    "4",
    "--lora-r",
    "4",
    "--lora-alpha",
    "8",
    "--value-hidden-sizes",
    "16",
    "--save-every",
    "1",
    "--seed",
    "3",
]


def rows(run_dir):
    with open(run_dir / "metrics.csv", newline="") as file:
        return list(csv.DictReader(file))


def without_time(table):
    return [{k: v for k, v in row.items() if k not in TIME_METRICS} for row in table]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two updates from scratch with no --model: the tiny smoke-test model is built in the run."""
    run = tmp_path_factory.mktemp("runs") / "straight"
    assert main(["train", *SMALL, "--total-env-steps", "16", "--output-dir", str(run)]) == 0
    return run


def test_train_writes_config_metrics_checkpoints_and_tiny_model(trained, capsys):
    assert (trained / "config.yaml").is_file()
    assert (trained / "tiny_model" / "TINY_MODEL.md").is_file()
    table = rows(trained)
    assert list(table[0]) == list(METRICS)
    assert [int(r["update"]) for r in table] == [1, 2] and [int(r["env_steps"]) for r in table] == [8, 16]
    assert sorted(p.name for p in (trained / "checkpoints").iterdir()) == ["update_000001", "update_000002"]
    assert (trained / "tensorboard").is_dir() and any((trained / "tensorboard").iterdir())
    meta = json.loads((trained / "checkpoints" / "update_000002" / "state.json").read_text())
    assert (meta["update"], meta["env_steps"], meta["format_version"]) == (2, 16, FORMAT_VERSION)
    assert not list((trained / "checkpoints").glob(".*tmp*"))  # no half-written checkpoint left
    for row in table:
        assert 0.0 <= float(row["charts/parse_failure_rate"]) <= 1.0 and float(row["losses/grad_norm"]) > 0


def test_smoke_test_model_is_announced(tmp_path, capsys):
    assert main(["train", *SMALL, "--total-env-steps", "8", "--output-dir", str(tmp_path / "run")]) == 0
    captured = capsys.readouterr()
    assert (
        f"training a tiny RANDOM-WEIGHT smoke-test model built at {tmp_path / 'run' / 'tiny_model'}"
        in captured.out + captured.err
    )


def test_resume_continues_exactly(trained, tmp_path):
    model = str(trained / "tiny_model")
    run = tmp_path / "resumed"
    assert main(["train", *SMALL, "--model", model, "--total-env-steps", "8", "--output-dir", str(run)]) == 0
    assert len(rows(run)) == 1
    assert main(["train", "--resume", str(run), "--output-dir", str(run), "--total-env-steps", "16"]) == 0
    straight = tmp_path / "straight"
    assert main(["train", *SMALL, "--model", model, "--total-env-steps", "16", "--output-dir", str(straight)]) == 0
    assert without_time(rows(run)) == without_time(rows(straight))


def test_a_learning_rate_given_on_resume_is_the_one_trained_with(trained, tmp_path):
    """The optimizer and scheduler states a checkpoint restores carry the saved run's learning
    rate; one given again with --resume replaces it from the next update on (constant here:
    init = end, so the update's rate is exactly the one given)."""
    run = tmp_path / "run"
    constant = ["--model", str(trained / "tiny_model"), "--init-lr", "1e-4", "--end-lr", "1e-4"]
    assert main(["train", *SMALL, *constant, "--total-env-steps", "8", "--output-dir", str(run)]) == 0
    args = ["train", "--resume", str(run), "--total-env-steps", "16", "--init-lr", "3e-3", "--end-lr", "3e-3"]
    assert main(args) == 0
    assert [float(row["charts/learning_rate"]) for row in rows(run)] == pytest.approx([1e-4, 3e-3], rel=1e-6)


def test_full_weights_train_resume_and_eval(trained, tmp_path):
    """--no-lora trains every language-model weight; checkpoints hold the model, resume exactly."""
    model = str(trained / "tiny_model")
    full = [*SMALL, "--model", model, "--no-lora"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["train", *full, "--total-env-steps", "16", "--output-dir", str(straight)]) == 0
    assert (straight / "checkpoints" / "update_000002" / "model" / "config.json").is_file()
    assert not (straight / "checkpoints" / "update_000002" / "adapter").exists()
    assert main(["train", *full, "--total-env-steps", "8", "--output-dir", str(resumed)]) == 0
    assert main(["train", "--resume", str(resumed), "--output-dir", str(resumed), "--total-env-steps", "16"]) == 0
    assert without_time(rows(resumed)) == without_time(rows(straight))
    assert main(["eval", "--checkpoint", str(straight), "--episodes", "2", "--output", str(tmp_path / "e.json")]) == 0


def test_kl_penalty_trains_logs_and_resumes_against_the_starting_model(trained, tmp_path):
    """The reference of a resumed run is still --model, not the checkpoint it resumes from: the
    rows, reference KL included, match a run that never stopped."""
    full = [*SMALL, "--model", str(trained / "tiny_model"), "--no-lora", "--kl-coef", "0.5"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["train", *full, "--total-env-steps", "16", "--output-dir", str(straight)]) == 0
    assert main(["train", *full, "--total-env-steps", "8", "--output-dir", str(resumed)]) == 0
    assert main(["train", "--resume", str(resumed), "--output-dir", str(resumed), "--total-env-steps", "16"]) == 0
    assert without_time(rows(resumed)) == without_time(rows(straight))
    kl = [float(row["losses/reference_kl"]) for row in rows(straight)]
    assert kl[0] >= 0 and kl[1] > 0  # the first update starts at the reference; the second has moved
    assert all(row["losses/reference_kl"] == "nan" for row in rows(trained))  # no penalty, no column value


def test_resume_from_an_earlier_checkpoint_rewrites_later_rows(trained, tmp_path):
    run = tmp_path / "again"
    shutil.copytree(trained, run)
    assert (
        main(
            [
                "train",
                "--resume",
                str(run / "checkpoints" / "update_000001"),
                "--output-dir",
                str(run),
                "--total-env-steps",
                "16",
            ]
        )
        == 0
    )
    assert without_time(rows(run)) == without_time(rows(trained))


def test_eval_on_held_out_seeds_writes_json(trained, tmp_path):
    out = tmp_path / "eval.json"
    assert (
        main(["eval", "--checkpoint", str(trained), "--episodes", "4", "--num-envs", "2", "--seed", "7", "--output", str(out)])
        == 0
    )
    result = json.loads(out.read_text())
    assert result["episodes"] == 4 and len(result["returns"]) == 4
    assert result["seeds"] == [EVAL_SEED_OFFSET + 7, EVAL_SEED_OFFSET + 10]
    assert 0 <= result["success_rate"] <= 1 and 0 <= result["parse_failure_rate"] <= 1
    assert result["success_rate"] == sum(r > 0 for r in result["returns"]) / 4
    assert (
        main(
            [
                "eval",
                "--model",
                str(trained / "tiny_model"),
                "--env",
                "gym_cards/NumberLine-v0",
                "--episodes",
                "2",
                "--output",
                str(tmp_path / "base.json"),
            ]
        )
        == 0
    )


def test_eval_may_use_a_dtype_that_training_refuses(trained, tmp_path):
    """float16 would train without loss scaling, so train refuses it; evaluation has no gradients
    (eval's own settings are checked as the config's, which must not bring that refusal along)."""
    out = tmp_path / "half.json"
    assert main(["eval", "--checkpoint", str(trained), "--episodes", "1", "--dtype", "float16", "--output", str(out)]) == 0
    assert json.loads(out.read_text())["episodes"] == 1


def test_eval_finds_a_moved_base_model_with_model_and_refuses_several_processes(trained, tmp_path, capsys, monkeypatch):
    import torch

    run, moved = tmp_path / "run", tmp_path / "moved_model"
    shutil.copytree(trained, run)
    shutil.copytree(trained / "tiny_model", moved)
    checkpoint = run / "checkpoints" / "update_000002"
    state = json.loads((checkpoint / "state.json").read_text())
    state["config"]["model"]["path"] = str(tmp_path / "gone")  # where the base model was when it trained
    rewrite_state(checkpoint, state)
    evaluate = ["eval", "--checkpoint", str(run), "--episodes", "2", "--num-envs", "2"]
    assert main([*evaluate, "--output", str(tmp_path / "a.json")]) == 2
    assert "no Hugging Face model at" in capsys.readouterr().err
    assert main([*evaluate, "--model", str(moved), "--output", str(tmp_path / "b.json")]) == 0
    assert main(["eval", "--checkpoint", str(trained), "--episodes", "2", "--num-envs", "2",
                 "--output", str(tmp_path / "c.json")]) == 0  # fmt: skip
    torch.rand(1000)  # whatever drew from the global generators before, --seed decides the sampling
    assert main(["eval", "--checkpoint", str(trained), "--episodes", "2", "--num-envs", "2",
                 "--output", str(tmp_path / "e.json")]) == 0  # fmt: skip
    moved_result, original, again = (json.loads((tmp_path / f"{k}.json").read_text()) for k in "bce")
    assert moved_result == {**original, "model": moved_result["model"]}
    assert again == original
    from vlm_ppo.tiny import build_tiny_model

    other = build_tiny_model(tmp_path / "other", "llava", seed=1)  # the same architecture, other weights
    assert main([*evaluate, "--model", str(other), "--output", str(tmp_path / "f.json")]) == 2
    assert "is not the base model" in capsys.readouterr().err
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets it
    assert main([*evaluate, "--model", str(moved), "--output", str(tmp_path / "d.json")]) == 2
    assert "vlm-ppo eval runs in one process" in capsys.readouterr().err and not (tmp_path / "d.json").exists()


def test_plot_writes_a_png(trained, tmp_path):
    assert main(["plot", str(trained), "--out", str(tmp_path / "curves.png")]) == 0
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda c: (c / "optimizer.pt").unlink(), "incomplete: optimizer.pt is missing"),
        (lambda c: shutil.rmtree(c / "adapter"), "incomplete: adapter/.* is missing"),
        (lambda c: (c / "state.json").write_text("{not json"), "state.json is not JSON"),
        (
            lambda c: (c / "value_head.safetensors").write_bytes(b"garbage"),
            "corrupt: value_head.safetensors does not match its recorded sha256",
        ),
        (lambda c: (c / "optimizer.pt").write_bytes(b"garbage"), "corrupt: optimizer.pt does not match its recorded sha256"),
    ],
)
def test_broken_checkpoints_are_refused_with_a_clear_error(trained, tmp_path, capsys, damage, message):
    run = tmp_path / "broken"
    shutil.copytree(trained, run)
    damage(run / "checkpoints" / "update_000002")
    assert main(["train", "--resume", str(run), "--total-env-steps", "24"]) == 2
    err = capsys.readouterr().err
    assert "vlm-ppo: error:" in err
    assert __import__("re").search(message, err), err
    assert len(rows(run)) == 2  # nothing was trained or rewritten


def test_missing_model_and_checkpoint_paths(tmp_path, capsys):
    assert main(["eval", "--model", str(tmp_path / "none"), "--env", "gym_cards/NumberLine-v0", "--episodes", "1"]) == 2
    assert "no Hugging Face model at" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "none"), "--output-dir", str(tmp_path)]) == 2
    assert "no checkpoint at" in capsys.readouterr().err


def test_sft_data_writes_records_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["sft-data", "--env", "gym_cards/NumberLine-v0", "--episodes", "3", "--out", str(out), "--noise", "0.5"]) == 0
    assert "records" in capsys.readouterr().out
    lines = (out / "records.jsonl").read_text().splitlines()
    assert len(lines) == json.loads((out / "dataset.json").read_text())["records"] > 0
    assert main(["sft-data", "--env", "gym_cards/NumberLine-v0", "--episodes", "1", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_two_stage_pipeline_sft_then_ppo(tmp_path, capsys):
    """The paper's pipeline end to end: expert data, SFT, then PPO and eval from the SFT model."""
    data, sft_run = tmp_path / "data", tmp_path / "sft"
    assert main(["sft-data", "--env", "gym_cards/NumberLine-v0", "--episodes", "4", "--out", str(data)]) == 0
    assert (
        main(
            [
                "sft",
                "--data",
                str(data),
                "--output-dir",
                str(sft_run),
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--lora-r",
                "4",
                "--lora-alpha",
                "8",
            ]
        )
        == 0
    )
    model = sft_run / "model"
    assert (
        (model / "config.json").is_file() and (sft_run / "sft_metrics.csv").is_file() and (sft_run / "sft_loss.png").is_file()
    )
    assert main(["train", *SMALL, "--model", str(model), "--total-env-steps", "8", "--output-dir", str(tmp_path / "ppo")]) == 0
    assert len(rows(tmp_path / "ppo")) == 1
    assert (
        main(
            [
                "eval",
                "--model",
                str(model),
                "--env",
                "gym_cards/NumberLine-v0",
                "--episodes",
                "2",
                "--output",
                str(tmp_path / "e.json"),
            ]
        )
        == 0
    )


def test_init_tiny(tmp_path):
    assert main(["init-tiny", str(tmp_path / "m"), "--architecture", "idefics3"]) == 0
    assert (tmp_path / "m" / "config.json").is_file()


@pytest.mark.parametrize(
    "architecture, extra",
    [
        ("llava", []),
        ("llava", ["--no-lora", "--kl-coef", "0.5"]),
        ("qwen2_5_vl", []),
        ("qwen2_5_vl", ["--no-lora"]),
        ("gemma3", []),
        ("qwen2_5_vl", ["--algo", "grpo", "--group-size", "2", "--groups-per-update", "1", "--minibatch-size", "1"]),
    ],
)
def test_bfloat16_trains_resumes_and_evaluates(tmp_path, architecture, extra):
    """The GPU's dtype path on the CPU: act, the PPO update (or GRPO's token-level one, LoRA with
    its default dropout), the reference model, checkpoints and resume, and eval, in bfloat16; with
    Qwen2.5-VL's multimodal positions too."""
    assert main(["init-tiny", str(tmp_path / "m"), "--architecture", architecture]) == 0
    run = [*SMALL, "--model", str(tmp_path / "m"), "--dtype", "bfloat16", *extra]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["train", *run, "--total-env-steps", "16", "--output-dir", str(straight)]) == 0
    assert main(["train", *run, "--total-env-steps", "8", "--output-dir", str(resumed)]) == 0
    assert main(["train", "--resume", str(resumed), "--output-dir", str(resumed), "--total-env-steps", "16"]) == 0
    assert without_time(rows(resumed)) == without_time(rows(straight))
    losses = ("losses/policy_loss", "losses/approx_kl", "losses/grad_norm")
    losses += () if "--algo" in extra else ("losses/value_loss",)  # the group methods have no critic
    for row in rows(straight):
        assert all(row[k] != "nan" for k in losses)
    out = tmp_path / "eval.json"
    assert main(["eval", "--checkpoint", str(straight), "--episodes", "2", "--num-envs", "2", "--output", str(out)]) == 0
    assert json.loads(out.read_text())["episodes"] == 2


def test_a_text_only_model_without_text_only_is_refused_in_one_line(tmp_path, capsys):
    assert main(["init-tiny", str(tmp_path / "m"), "--architecture", "text"]) == 0
    capsys.readouterr()
    assert main(["train", *SMALL, "--model", str(tmp_path / "m"), "--output-dir", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert "is a text-only language model" in error and "--text-only" in error and "Traceback" not in error


@pytest.mark.parametrize(
    "setting, value, message",
    [
        ("ACCELERATE_MIXED_PRECISION", "bf16", "mixed precision 'bf16'"),
        ("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "2", "accumulate gradients over 2 steps"),
    ],
)
def test_accelerate_settings_that_change_the_update_are_refused_before_any_model_loads(tmp_path, setting, value, message):
    """`accelerate launch --mixed_precision bf16` autocasts the update's forward pass only, not the
    rollout's generate: the ratio would compare two precisions. `--gradient_accumulation_steps 2`
    makes accelerator.backward divide each loss by 2 on top of the update's own mean, which changes
    the clipped gradient. A fresh process, as a launch is."""
    import subprocess
    import sys

    env = {**os.environ, setting: value, "OMP_NUM_THREADS": "1"}
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "vlm_ppo.cli", "train", *SMALL, "--total-env-steps", "8", "--output-dir", str(run)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("vlm-ppo: error:")]
    assert len(lines) == 1 and message in lines[0]
    assert not (run / "tiny_model").exists()  # refused before a model was built
