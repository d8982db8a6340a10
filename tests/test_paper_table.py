"""The paper-table benchmark at CI size: every row of a game under the held-out protocol."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_paper_table_smoke_run_writes_every_row(tmp_path):
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "paper_table.py"), "--smoke", "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    row = json.loads((tmp_path / "numberline" / "table_row.json").read_text())
    for key in ("random", "expert", "sft", "ppo", "gigpo", "cnn"):
        result = row[key]
        assert 0.0 <= result["success_low"] <= result["success_rate"] <= result["success_high"] <= 1.0, key
    assert row["expert"]["success_rate"] == 1.0  # NumberLine's expert always wins
    # the CNN asked for 512 steps; SB3 runs whole rollouts of 8 envs x 128 steps, and the row says what ran
    assert row["cnn"]["env_steps"] == 1024 and row["ppo"]["env_steps"] == 32
    table = (tmp_path / "paper_table.md").read_text()
    assert table.startswith("| game | observation | random | expert | SFT | PPO | GiGPO | CNN+RL (budget)")
    assert "| numberline | pixels 56 px |" in table and "100.0% [" in table
    assert (tmp_path / "paper_table.csv").read_text().count("numberline") == 6
    assert (tmp_path / "paper_table_numberline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_task_metrics_table_lists_each_rows_metrics_and_marks_the_missing(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("paper_table", ROOT / "benchmarks" / "paper_table.py")
    paper_table = importlib.util.module_from_spec(spec)
    sys.modules["paper_table"] = paper_table  # its dataclasses look their module up there
    spec.loader.exec_module(paper_table)
    (tmp_path / "alfworld").mkdir()
    row = {
        "game": "alfworld",
        "sft": {"success_rate": 0.25, "metrics": {"alfworld/success_rate": 0.25, "alfworld/success_rate/pick": 0.5}},
        "ppo": {"success_rate": 0.5, "metrics": {"alfworld/success_rate": 0.5, "alfworld/success_rate/pick": None}},
        "gigpo": {"success_rate": 0.0, "metrics": {"alfworld/success_rate": 0.0, "alfworld/success_rate/pick": float("nan")}},
    }
    (tmp_path / "alfworld" / "table_row.json").write_text(json.dumps(row))
    table = paper_table.metrics_table(tmp_path, "alfworld")
    assert table.splitlines() == [
        "| alfworld | success_rate | success_rate/pick |",
        "|---|---|---|",
        "| SFT | 25.0% | 50.0% |",
        "| PPO | 50.0% | - |",
        "| GIGPO | 0.0% | - |",
    ]
    assert (tmp_path / "paper_table_alfworld_metrics.md").read_text() == table + "\n"
    (tmp_path / "numberline").mkdir()
    (tmp_path / "numberline" / "table_row.json").write_text(json.dumps({"game": "numberline", "sft": {"success_rate": 0.3}}))
    assert paper_table.metrics_table(tmp_path, "numberline") is None  # no task metrics: no table


def test_the_ablation_table_gives_mean_and_std_over_seeds_and_none_from_one_seed():
    import importlib.util

    spec = importlib.util.spec_from_file_location("paper_table", ROOT / "benchmarks" / "paper_table.py")
    paper_table = importlib.util.module_from_spec(spec)
    sys.modules["paper_table"] = paper_table
    spec.loader.exec_module(paper_table)
    rows = [
        {"thought_coef": 0.5, "sft_success": 0.46, "ppo_success": 0.9},
        {"thought_coef": 0.5, "sft_success": 0.46, "ppo_success": 0.8},
        {"thought_coef": 0.1, "sft_success": 0.46, "ppo_success": 0.745},
        {"thought_coef": None, "sft_success": 0.13, "ppo_success": 0.015},
    ]
    assert paper_table.ablation_table(rows, (0.1, 0.5)).splitlines()[2:] == [
        "| chain of thought, λ 0.1 | 46.0% | 74.5% (one seed) | 74.5% |",
        # the sample std of 0.9 and 0.8: sqrt(((0.05)^2 + (0.05)^2) / (2 - 1)) = 0.0707
        "| chain of thought, λ 0.5 | 46.0% | 85.0% ± 7.1% | 90.0%, 80.0% |",
        "| action only | 13.0% | 1.5% (one seed) | 1.5% |",
    ]


def test_a_games_minutes_count_the_stages_its_recipe_adds_before_sft(tmp_path):
    """Points24's reading data and vision stage are part of its rows' wall time (they were left out)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("paper_table", ROOT / "benchmarks" / "paper_table.py")
    paper_table = importlib.util.module_from_spec(spec)
    sys.modules["paper_table"] = paper_table
    spec.loader.exec_module(paper_table)
    seconds = {"init": 1, "data_cot": 2, "sft_cot": 30, "sft_eval_cot": 4, "data_reading": 5, "vision": 60, "sft_reading": 700}
    for name, value in seconds.items():
        (tmp_path / f"stage_{name}.json").write_text(json.dumps({"seconds": value}))
    game = paper_table.ENTRIES["points24"].game  # reading data and the vision stage, no reading SFT
    assert game.vision_epochs and not game.reading_epochs
    assert paper_table.sft_stage_seconds(tmp_path, game) == {
        "init": 1, "data": 2, "sft": 30, "sft_eval": 4, "reading_data": 5, "vision": 60
    }  # fmt: skip
    assert paper_table.minutes({"sft_seconds": paper_table.sft_stage_seconds(tmp_path, game)}) == 102 / 60
    plain = paper_table.ENTRIES["blackjack"].game
    assert paper_table.sft_stage_seconds(tmp_path, plain) == {"init": 1, "data": 2, "sft": 30, "sft_eval": 4}
