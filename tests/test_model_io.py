"""vlm_ppo.model_io: the prompt the model reads is the one transformers' own chat path gives it."""

import json
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from vlm_ppo.model_io import encode_prompts
from vlm_ppo.model_loading import load_base_model
from vlm_ppo.tiny import build_tiny_model

os.environ["HF_HUB_OFFLINE"] = "1"


def without_bos_in_the_template(model_dir, out):
    """LLaVA-1.6's case: a template that does not write BOS over a tokenizer that adds it."""
    shutil.copytree(model_dir, out)
    template = (out / "chat_template.jinja").read_text()
    assert template.startswith("{{- bos_token -}}")
    (out / "chat_template.jinja").write_text(template.removeprefix("{{- bos_token -}}"))
    tokenizer = json.loads((out / "tokenizer.json").read_text())
    bos_id = next(t["id"] for t in tokenizer["added_tokens"] if t["content"] == "<s>")
    adds_bos = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [bos_id], "tokens": ["<s>"]}},
    }  # fmt: skip
    tokenizer["post_processor"] = {"type": "Sequence", "processors": [tokenizer["post_processor"], adds_bos]}
    (out / "tokenizer.json").write_text(json.dumps(tokenizer))
    return out


def processor_of(tmp_path, architecture: str, template: str):
    """The tiny model's processor (or tokenizer), its template writing BOS or leaving it out."""
    model_dir = build_tiny_model(tmp_path / architecture, architecture)
    if template != "writes BOS":
        model_dir = without_bos_in_the_template(model_dir, tmp_path / f"{architecture}_no_bos")
    return load_base_model(model_dir, torch.device("cpu"), torch.float32)[1]


@pytest.mark.parametrize("template", ["writes BOS", "leaves BOS to the tokenizer"])
def test_image_prompts_are_token_for_token_transformers_own(tmp_path, template):
    processor = processor_of(tmp_path, "llava", template)
    image = np.random.default_rng(0).integers(0, 256, (56, 56, 3), dtype=np.uint8)
    prompt = "Which way to the target?"
    ours = encode_prompts(processor, [image], [prompt])
    messages = [
        {"role": "user", "content": [{"type": "image", "image": Image.fromarray(image)}, {"type": "text", "text": prompt}]}
    ]
    theirs = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    assert torch.equal(ours["input_ids"], theirs["input_ids"])
    assert torch.equal(ours["pixel_values"], theirs["pixel_values"])
    ids = ours["input_ids"][0].tolist()
    assert ids[0] == processor.tokenizer.bos_token_id and ids.count(processor.tokenizer.bos_token_id) == 1


@pytest.mark.parametrize("template", ["writes BOS", "leaves BOS to the tokenizer"])
def test_text_prompts_are_token_for_token_transformers_own(tmp_path, template):
    """A text tokenizer's apply_chat_template never adds special tokens; neither do we."""
    tokenizer = processor_of(tmp_path, "text", template)
    prompt = "Which way to the target?"
    ours = encode_prompts(tokenizer, None, [prompt])
    theirs = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    assert torch.equal(ours["input_ids"], theirs["input_ids"])
