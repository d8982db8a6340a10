"""The learning benchmark's smoke size, as CI runs it: what must hold, not how well it learns."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("learning_curve")
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "learning_curve.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stdout, json.loads((out / "results_numberline.json").read_text())


def test_sft_loss_falls(smoke):
    _, _, (row,) = smoke
    assert row["sft_loss_last"] < 0.25 * row["sft_loss_first"]
    with open(Path(row["ppo_run"]).parent / "sft_cot" / "sft_metrics.csv") as handle:
        losses = [float(r["loss"]) for r in csv.DictReader(handle)]
    assert len(losses) == row["sft_steps"] > 10
    assert (losses[0], losses[-1]) == (pytest.approx(row["sft_loss_first"]), pytest.approx(row["sft_loss_last"]))


def test_the_fine_tuned_model_writes_parseable_answers(smoke):
    _, _, (row,) = smoke
    assert row["sft_parse_failures"] <= 0.2
    assert row["ppo_parse_failures"] <= 0.2


def test_ppo_runs_and_logs(smoke):
    _, stdout, (row,) = smoke
    with open(Path(row["ppo_run"]) / "metrics.csv") as handle:
        (metrics,) = list(csv.DictReader(handle))
    assert int(metrics["env_steps"]) == row["ppo_env_steps"] == 4 * 8
    for name in ("charts/success_rate", "losses/policy_loss", "losses/value_loss", "losses/approx_kl", "losses/reference_kl"):
        assert math.isfinite(float(metrics[name])), name
    assert (Path(row["ppo_run"]) / "checkpoints").is_dir()


def test_prints_a_table_and_writes_a_plot(smoke):
    out, stdout, (row,) = smoke
    header = next(line for line in stdout.splitlines() if line.startswith("game"))
    for column in ("KL β", "SFT success", "RL", "RL success", "RL env steps", "total min"):
        assert column in header
    assert f"{row['sft_success']:.1%}" in stdout and f"{row['ppo_success']:.1%}" in stdout
    assert (out / "learning_curve_numberline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(row["seconds"]) == {"init", "data", "sft", "sft_eval", "ppo", "ppo_eval"}


def test_reading_stage_data_is_each_deals_first_frame_with_only_its_reading_fields(tmp_path):
    """The reading stage's records: one per deal, the frame and prompt the policy first sees, and an
    answer holding exactly the task's reading fields, true to the deal (no thoughts, no action)."""
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from learning_curve import READING_SEED, Game, reading_dataset

    from vlm_ppo.sft_data import load_sft_records
    from vlm_ppo.tasks import make_task

    game = Game(
        "gym_cards/Points24-v0", text_only=False, episodes=1, noise=0.1, sft_epochs=1, ppo_updates=1, reading_episodes=4
    )
    assert reading_dataset(game, tmp_path / "reading") == {"records": 4}
    records = load_sft_records(tmp_path / "reading")
    task = make_task(game.env_id)
    env = task.make_agent_env()
    assert [record.episode for record in records] == [0, 1, 2, 3] and {record.step for record in records} == {0}
    for record in records:
        observation, _ = env.reset(seed=READING_SEED + record.episode)
        labels = [card.label for card in env.unwrapped.cards]
        assert json.loads(record.answer) == {"cards": labels, "current formula": ""}
        assert record.prompt == observation["prompt"]
        with Image.open(tmp_path / "reading" / record.image) as image:
            assert np.array_equal(np.asarray(image.convert("RGB")), observation["image"])
    assert not (tmp_path / "reading_played").exists()

    cards_only = dataclasses.replace(game, reading_fields=("cards",))
    assert reading_dataset(cards_only, tmp_path / "cards") == {"records": 4}
    for record, kept in zip(load_sft_records(tmp_path / "cards"), records, strict=True):
        assert json.loads(record.answer) == {"cards": json.loads(kept.answer)["cards"]}
    with pytest.raises(ValueError, match=r"\['hand'\] are not fields"):
        reading_dataset(dataclasses.replace(game, reading_fields=("hand",)), tmp_path / "hand")
    assert not (tmp_path / "hand").exists() and not (tmp_path / "hand_played").exists()


def test_a_rerun_reuses_the_stages_and_a_changed_recipe_is_refused(smoke):
    """The same command again finds every stage done; another seed would have to rebuild the
    model, and instead of reusing the seed-0 stages it stops at the first, naming the change."""
    out, _, _ = smoke
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, str(ROOT / "benchmarks" / "learning_curve.py"), "--smoke", "--out", str(out)]
    saved = {path: path.read_text() for path in (out / "numberline").glob("stage_*.json")}
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((out / "results_numberline.json").read_text())[0]["ppo_success"] == smoke[2][0]["ppo_success"]
    other = subprocess.run([*command, "--seed", "1"], capture_output=True, text=True, env=env, timeout=600)
    assert other.returncode == 1
    assert other.stderr.strip().splitlines()[-1] == (
        f"{out / 'numberline' / 'stage_init.json'} was made from other inputs (seed: 0 -> 1): "
        "delete it and the stages after it, or use another --out"
    )
    assert {path: path.read_text() for path in (out / "numberline").glob("stage_*.json")} == saved
