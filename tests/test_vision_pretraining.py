"""benchmarks/vision_pretraining.py: the vision tower and projector learn to read the cards field
through a linear head; the language model is left exactly as it was."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from vision_pretraining import item_labels, main, pretrain_vision  # noqa: E402


def record(answer: dict, id: str = "000000") -> SimpleNamespace:
    return SimpleNamespace(id=id, answer=json.dumps(answer))


def test_labels_are_the_field_lists_with_their_sorted_classes():
    lists, classes = item_labels([record({"cards": ["Q", "7"]}), record({"cards": [10, "A"]})], "cards")
    assert lists == [["Q", "7"], ["10", "A"]]
    assert classes == ["10", "7", "A", "Q"]


def test_a_missing_field_or_uneven_lists_are_refused():
    with pytest.raises(ValueError, match=r"record 000003: the answer has no list field 'cards'"):
        item_labels([record({"hand": [1]}, "000003")], "cards")
    with pytest.raises(ValueError, match=r"lengths \[1, 2\]"):
        item_labels([record({"cards": ["A"]}), record({"cards": ["A", "2"]})], "cards")


@pytest.fixture(scope="module")
def reading(tmp_path_factory):
    """A tiny LLaVA and the reading data (cards only) of 40 EZPoints deals."""
    from learning_curve import Game, reading_dataset

    from vlm_ppo.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("vision")
    model = build_tiny_model(root / "tiny", "llava", image_size=56, patches=4, hidden_size=64, num_layers=1, seed=0)
    game = Game(
        "gym_cards/EZPoints-v0", text_only=False, episodes=1, noise=0.0, sft_epochs=1, ppo_updates=1,
        reading_episodes=40, reading_fields=("cards",),
    )  # fmt: skip
    reading_dataset(game, root / "reading")
    return root, model


def test_the_tower_learns_and_the_language_model_is_untouched(reading):
    from safetensors.torch import load_file

    from vlm_ppo.model_loading import load_base_model, module_part

    root, model = reading
    torch.set_num_threads(1)
    result = pretrain_vision(model, root / "reading", root / "out", epochs=15, lr=3e-3, batch_size=8)
    assert result["train_images"] == 36 and result["held_out_images"] == 4
    assert len(result["held_out_accuracy"]) == 2  # one classifier per card
    assert result["losses"][-1] < 0.5 * result["losses"][0], result["losses"]
    before, after = load_file(Path(model) / "model.safetensors"), load_file(root / "out" / "model.safetensors")
    assert before.keys() == after.keys()
    changed = {module_part(name) for name in before if not torch.equal(before[name], after[name])}
    assert changed == {"vision", "projector"}
    info = json.loads((root / "out" / "SFT_INFO.json").read_text())
    assert info["vision_pretraining"]["losses"] == result["losses"]
    reloaded, processor = load_base_model(root / "out", torch.device("cpu"), torch.float32)
    assert (
        processor.image_processor.to_dict()
        == load_base_model(model, torch.device("cpu"), torch.float32)[1].image_processor.to_dict()
    )


def test_the_command_line_refuses_a_field_the_answers_lack(reading, capsys):
    root, model = reading
    assert main([str(model), str(root / "reading"), str(root / "bad"), "--field", "hand"]) == 2
    assert "no list field 'hand'" in capsys.readouterr().err
    assert not (root / "bad").exists()


def test_a_vision_stage_without_reading_deals_is_refused():
    from learning_curve import Game

    with pytest.raises(ValueError, match="vision_epochs needs reading_episodes"):
        Game("gym_cards/Points24-v0", text_only=False, episodes=1, noise=0.1, sft_epochs=1, ppo_updates=1, vision_epochs=2)


def test_the_benchmark_fine_tunes_from_the_vision_stage(tmp_path):
    """learning_curve.run_game with ``vision_epochs``: reading data, then the vision stage, then SFT
    from the vision stage's model (no reading SFT when ``reading_epochs`` is 0)."""
    from learning_curve import Game, run_game

    game = Game(
        "gym_cards/EZPoints-v0", text_only=False, episodes=2, noise=0.0, sft_epochs=1, ppo_updates=1, hidden_size=64,
        num_layers=1, image_size=56, reading_episodes=10, reading_epochs=0, reading_fields=("cards",), vision_epochs=1,
        eval_episodes=1, max_new_tokens=8,
    )  # fmt: skip
    torch.set_num_threads(1)
    assert run_game("ez", game, tmp_path, chain_of_thought=True, thought_coefs=[0.5], seed=0, sft_only=True) == []
    root = tmp_path / "ez"
    vision = json.loads((root / "stage_vision.json").read_text())
    assert vision["model"] == str(root / "vision_model") and vision["epochs"] == 1 and len(vision["losses"]) == 1
    assert not (root / "stage_sft_reading.json").exists()
    sft = json.loads((root / "stage_sft_cot.json").read_text())
    assert sft["inputs"]["model"] == vision["inputs"]  # SFT starts from the vision stage's model
    assert vision["inputs"]["model"] == json.loads((root / "stage_init.json").read_text())["inputs"]
    assert json.loads((root / "sft_cot" / "model" / "SFT_INFO.json").read_text())["base_model"] == str(root / "vision_model")
