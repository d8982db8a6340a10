"""benchmarks/stages.timed: a resumed benchmark reuses a stage only if its inputs are unchanged."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stages():
    spec = importlib.util.spec_from_file_location("stages", ROOT / "benchmarks" / "stages.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["stages"] = module
    spec.loader.exec_module(module)
    return module


def counting_work(calls: list):
    def work() -> dict:
        calls.append(1)
        return {"value": len(calls)}

    return work


def test_a_stage_runs_once_and_is_reused_with_the_same_inputs(tmp_path, stages):
    calls: list = []
    inputs = {"episodes": 40, "model": {"hidden_size": 64, "patches": (4, 4)}}
    first = stages.timed(tmp_path / "stage.json", counting_work(calls), inputs)
    assert first["value"] == 1 and first["seconds"] >= 0.0
    assert json.loads((tmp_path / "stage.json").read_text())["inputs"] == {
        "episodes": 40,
        "model": {"hidden_size": 64, "patches": [4, 4]},
    }
    again = stages.timed(
        tmp_path / "stage.json", counting_work(calls), {"episodes": 40, "model": {"hidden_size": 64, "patches": [4, 4]}}
    )
    assert again == json.loads(json.dumps(first)) and calls == [1]


def test_changed_inputs_stop_the_run_naming_each_change_and_keep_the_saved_result(tmp_path, stages):
    calls: list = []
    path = tmp_path / "stage.json"
    stages.timed(path, counting_work(calls), {"episodes": 40, "model": {"hidden_size": 64, "seed": 0}})
    saved = path.read_text()
    with pytest.raises(SystemExit) as stopped:
        stages.timed(path, counting_work(calls), {"episodes": 40, "model": {"hidden_size": 128, "seed": 0, "layers": 2}})
    message = str(stopped.value.code)
    assert message.startswith(f"{path} was made from other inputs (")
    assert "model.hidden_size: 64 -> 128; model.layers: '(absent)' -> 2)" in message
    assert "episodes" not in message and "seed" not in message
    assert path.read_text() == saved and calls == [1]


def test_a_result_saved_before_inputs_were_recorded_is_reused_with_a_warning(tmp_path, stages, capsys):
    path = tmp_path / "stage.json"
    path.write_text(json.dumps({"value": 7, "seconds": 1.0}))
    calls: list = []
    assert stages.timed(path, counting_work(calls), {"episodes": 40}) == {"value": 7, "seconds": 1.0}
    assert calls == [] and "records no inputs" in capsys.readouterr().out


def test_a_result_made_by_other_code_is_reused_with_a_warning_naming_it(tmp_path, stages, capsys, monkeypatch):
    # A fix to an expert or an env rule changes no recipe input: such a stage was reused silently.
    path = tmp_path / "stage.json"
    calls: list = []
    stages.timed(path, counting_work(calls), {"episodes": 40})
    assert json.loads(path.read_text())["code"] == stages.code_fingerprint()
    assert (
        stages.timed(path, counting_work(calls), {"episodes": 40})["value"] == 1 and "warning" not in capsys.readouterr().out
    )
    monkeypatch.setattr(stages, "code_fingerprint", lambda: "0123456789abcdef")  # the sources changed since
    assert stages.timed(path, counting_work(calls), {"episodes": 40})["value"] == 1 and calls == [1]
    assert f"warning: {path} was made by other code" in capsys.readouterr().out


def test_without_inputs_nothing_is_checked(tmp_path, stages):
    calls: list = []
    stages.timed(tmp_path / "stage.json", counting_work(calls))
    assert "inputs" not in json.loads((tmp_path / "stage.json").read_text())
    assert stages.timed(tmp_path / "stage.json", counting_work(calls))["value"] == 1 and calls == [1]


def test_an_rl_stages_inputs_are_its_settings_not_its_paths(stages):
    from vlm_ppo.config import ModelConfig, TrainConfig

    here = TrainConfig(model=ModelConfig(path="/a/sft/model"), output_dir="/a/ppo", init_lr=3e-5)
    there = TrainConfig(model=ModelConfig(path="b/sft/model"), output_dir="b/ppo", init_lr=3e-5)
    assert stages.rl_inputs(here, {"epochs": 4}) == stages.rl_inputs(there, {"epochs": 4})
    inputs = stages.rl_inputs(here, {"epochs": 4})
    assert inputs["model"] == {"epochs": 4} and inputs["config"]["init_lr"] == 3e-5
    assert "output_dir" not in inputs["config"] and "path" not in inputs["config"]["model"]
    assert stages.rl_inputs(dataclasses.replace(here, init_lr=1e-4), {"epochs": 4}) != inputs


def test_an_rl_stage_keeps_to_the_updates_it_trained(tmp_path, stages):
    """A run resumed in place after its stage (vlm-ppo train --resume RUN --total-env-steps ...)
    appends updates; the stage's rows, plot and checkpoint stay those of its own budget. A group
    run's last update may pass the budget (its episodes play to their end)."""
    run = tmp_path / "run"
    run.mkdir()
    lines = ["update,env_steps,charts/success_rate"] + [f"{u},{steps},0.5" for u, steps in enumerate((9, 18, 27, 36, 45), 1)]
    (run / "metrics.csv").write_text("\n".join(lines) + "\n")
    assert [row["update"] for row in stages.trained_rows(run, 24)] == ["1", "2", "3"]  # 27 reached 24
    assert stages.stage_checkpoint(run, 24) == run / "checkpoints" / "update_000003"
    assert len(stages.trained_rows(run, 100)) == 5  # not reached yet: every row
