"""vlm_ppo.tiny: tiny random-weight models of real HF architectures, loaded back through the Auto classes."""

from __future__ import annotations

import json
import os
import re
import time

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoTokenizer,
)

import gym_cards  # noqa: E402
from vlm_ppo import tiny  # noqa: E402
from vlm_ppo.prompts import task_prompt  # noqa: E402

VLMS = ("llava", "llava_next", "idefics3")

# Module names (checked below): LoRA targets in the language model, and the vision tower and
# projector of each VLM (what a train_vision = all / projector / none option selects).
LM_LORA_TARGETS = (
    r"^(?:model\.)?(?:language_model\.|text_model\.)?layers\.\d+\."
    r"(?:self_attn\.(?:q|k|v|o)_proj|mlp\.(?:gate|up|down)_proj)$"
)
VISION_MODULES = {
    "llava": ("model.vision_tower", "model.multi_modal_projector"),
    "llava_next": ("model.vision_tower", "model.multi_modal_projector"),
    "idefics3": ("model.vision_model", "model.connector"),
}
# Expected image placeholder tokens per image at the defaults (56 px, 14 px patches -> 4x4).
IMAGE_TOKENS = {"llava": 16, "idefics3": 4}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every architecture built once: {architecture: (dir, seconds)}."""
    out = {}
    for architecture in tiny.ARCHITECTURES:
        start = time.perf_counter()
        path = tiny.build_tiny_model(tmp_path_factory.mktemp(architecture), architecture)
        out[architecture] = (path, time.perf_counter() - start)
    return out


_LOADED: dict = {}


@pytest.fixture(scope="module")
def loaded(built):
    """Load (processor or tokenizer, model) through the generic Auto classes, once per architecture."""

    def load(architecture):
        if architecture not in _LOADED:
            path = built[architecture][0]
            if architecture == "text":
                processor = AutoTokenizer.from_pretrained(path)
                model = AutoModelForCausalLM.from_pretrained(path)
            else:
                processor = AutoProcessor.from_pretrained(path)
                model = AutoModelForImageTextToText.from_pretrained(path)
            _LOADED[architecture] = (processor, model.eval())
        return _LOADED[architecture]

    yield load
    _LOADED.clear()


def tokenizer_of(processor):
    return getattr(processor, "tokenizer", processor)


def messages(text, image=True):
    content = [{"type": "image"}] if image else []
    return [{"role": "user", "content": [*content, {"type": "text", "text": text}]}]


def batch_inputs(architecture, processor):
    """Two prompts of different lengths, left-padded, with images of different sizes."""
    long_prompt = task_prompt("gym_cards/Points24-v0")
    image = architecture != "text"
    texts = [
        processor.apply_chat_template(messages(text, image), add_generation_prompt=True, tokenize=False)
        for text in ("hi", long_prompt)
    ]
    if not image:
        return texts, processor(texts, return_tensors="pt", padding=True)
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 256, (300, 300, 3), dtype=np.uint8),
        Image.fromarray(rng.integers(0, 256, (200, 120, 3), dtype=np.uint8)),
    ]
    return texts, processor(images=images, text=texts, return_tensors="pt", padding=True)


def model_kwargs(inputs):
    return {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}


# -------------------------------------------------------------------------------------------- build


def test_architectures_constant():
    assert tiny.ARCHITECTURES == ("llava", "llava_next", "idefics3", "text")


def test_unknown_architecture_is_refused(tmp_path):
    with pytest.raises(ValueError, match="architecture"):
        tiny.build_tiny_model(tmp_path, "gpt5")


@pytest.mark.parametrize("architecture", tiny.ARCHITECTURES)
def test_builds_a_normal_model_dir_fast(built, architecture):
    path, seconds = built[architecture]
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "TINY_MODEL.md"} <= names
    assert "random" in (path / "TINY_MODEL.md").read_text()
    if architecture != "text":
        assert "processor_config.json" in names
    assert seconds < 10


@pytest.mark.parametrize("architecture", tiny.ARCHITECTURES)
def test_loads_through_auto_classes(loaded, architecture):
    processor, model = loaded(architecture)
    expected = {
        "llava": "LlavaForConditionalGeneration",
        "llava_next": "LlavaNextForConditionalGeneration",
        "idefics3": "Idefics3ForConditionalGeneration",
        "text": "LlamaForCausalLM",
    }[architecture]
    assert type(model).__name__ == expected
    tokenizer = tokenizer_of(processor)
    assert tokenizer.padding_side == "left"
    assert len(tokenizer) == model.config.get_text_config().vocab_size
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer)
    assert (tokenizer.pad_token, tokenizer.bos_token, tokenizer.eos_token) == ("<pad>", "<s>", "</s>")
    assert model.config.get_text_config().pad_token_id == tokenizer.pad_token_id
    if architecture != "text":
        # the PIL backend image processors (no torchvision)
        assert type(processor.image_processor).__name__.endswith("Pil")
        assert model.config.image_token_id == tokenizer.convert_tokens_to_ids("<image>")


@pytest.mark.parametrize("architecture", tiny.ARCHITECTURES)
def test_parameter_count(loaded, architecture):
    _, model = loaded(architecture)
    assert 50_000 < sum(p.numel() for p in model.parameters()) < 5_000_000


@pytest.mark.parametrize("architecture", ["llava", "text"])
def test_same_seed_same_weights(built, tmp_path, architecture):
    first = load_file(built[architecture][0] / "model.safetensors")
    again = load_file(tiny.build_tiny_model(tmp_path / "again", architecture) / "model.safetensors")
    other = load_file(tiny.build_tiny_model(tmp_path / "other", architecture, seed=1) / "model.safetensors")
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_sizes_follow_the_arguments(tmp_path):
    path = tiny.build_tiny_model(tmp_path, "llava", corpus=["a b c"] * 3, hidden_size=32, num_layers=1, image_size=28)
    config = transformers.AutoConfig.from_pretrained(path)
    assert config.text_config.hidden_size == 32 and config.text_config.num_hidden_layers == 1
    assert config.vision_config.image_size == 28 and config.vision_config.patch_size == 7


@pytest.mark.parametrize("architecture", ["llava", "llava_next", "idefics3"])
def test_pixels_are_normalised_so_that_white_is_zero_and_black_minus_two(loaded, architecture):
    processor, _ = loaded(architecture)
    image = np.full((56, 56, 3), 255, dtype=np.uint8)
    image[:28] = 0  # top half black
    pixels = processor.image_processor([Image.fromarray(image)], return_tensors="pt")["pixel_values"]
    values = torch.unique(pixels.float().round(decimals=4))
    assert set(values.tolist()) <= {-2.0, 0.0} and {-2.0, 0.0} <= set(values.tolist())


def test_other_pixel_statistics_can_be_given(tmp_path):
    path = tiny.build_tiny_model(tmp_path, "llava", corpus=["a b c"] * 3, image_mean=(0.5, 0.5, 0.5), image_std=(0.25, 0.25, 0.25))
    processor = transformers.AutoProcessor.from_pretrained(path)
    white = np.full((56, 56, 3), 255, dtype=np.uint8)
    pixels = processor.image_processor([Image.fromarray(white)], return_tensors="pt")["pixel_values"]
    assert torch.allclose(pixels, torch.full_like(pixels, 2.0))
    assert json.loads((path / "tiny_model.json").read_text())["image_std"] == [0.25, 0.25, 0.25]


# ----------------------------------------------------------------------------- chat, padding, images


@pytest.mark.parametrize("architecture", tiny.ARCHITECTURES)
def test_chat_template(loaded, architecture):
    processor, _ = loaded(architecture)
    image = architecture != "text"
    prompt = processor.apply_chat_template(messages("Which card?", image), add_generation_prompt=True, tokenize=False)
    expected = "<s>User: <image>\nWhich card?</s>\nAssistant:\n" if image else "<s>User: Which card?</s>\nAssistant:\n"
    assert prompt == expected
    answer_turn = {"role": "assistant", "content": [{"type": "text", "text": '{"action": "+"}'}]}
    conversation = [*messages("Q", image), answer_turn]
    full = processor.apply_chat_template(conversation, tokenize=False)
    assert full.endswith('Assistant:\n{"action": "+"}</s>\n')
    # prompt and answer tokenize apart exactly as together (the prompt ends at a pre-token boundary)
    tokenizer = tokenizer_of(processor)
    answer = '{"thoughts": "24 = 8 * 3", "action": "="}'
    prefix = processor.apply_chat_template(messages("Q", image), add_generation_prompt=True, tokenize=False)
    together = tokenizer(prefix + answer, add_special_tokens=False)["input_ids"]
    apart = [tokenizer(part, add_special_tokens=False)["input_ids"] for part in (prefix, answer)]
    assert together == apart[0] + apart[1]


@pytest.mark.parametrize("architecture", tiny.ARCHITECTURES)
def test_processor_pads_left(loaded, architecture):
    processor, model = loaded(architecture)
    _, inputs = batch_inputs(architecture, processor)
    mask = inputs["attention_mask"]
    pad = tokenizer_of(processor).pad_token_id
    assert mask[1].all() and not mask[0].all()
    assert mask[0, 0] == 0 and mask[0, -1] == 1
    assert (inputs["input_ids"][0][mask[0] == 0] == pad).all()
    if architecture in IMAGE_TOKENS:
        counts = (inputs["input_ids"] == model.config.image_token_id).sum(-1)
        assert counts.tolist() == [IMAGE_TOKENS[architecture]] * 2


# ------------------------------------------------------------------------------ generate and logits


def forward_log_probs(model, inputs, sequences, temperature):
    prompt = inputs["input_ids"].shape[1]
    mask = torch.cat([inputs["attention_mask"], torch.ones_like(sequences[:, prompt:])], dim=1)
    with torch.no_grad():
        logits = model(input_ids=sequences, attention_mask=mask, **model_kwargs(inputs)).logits
    return torch.log_softmax(logits[:, prompt - 1 : -1].float() / temperature, dim=-1)


@pytest.mark.parametrize("architecture", tiny.ARCHITECTURES)
def test_generate_with_output_logits_matches_a_fresh_forward(loaded, architecture):
    processor, model = loaded(architecture)
    _, inputs = batch_inputs(architecture, processor)
    temperature = 0.7
    torch.manual_seed(0)
    out = model.generate(
        **inputs,
        max_new_tokens=8,
        do_sample=True,
        top_k=0,
        temperature=temperature,
        return_dict_in_generate=True,
        output_logits=True,
    )
    vocab = len(tokenizer_of(processor))
    assert out.sequences.shape[0] == 2
    new = out.sequences.shape[1] - inputs["input_ids"].shape[1]
    assert 1 <= new <= 8 and len(out.logits) == new
    assert out.logits[0].shape == (2, vocab)
    # output_logits are the raw logits: log_softmax(logits / T) is the sampling distribution
    generated = torch.log_softmax(torch.stack(out.logits, dim=1).float() / temperature, dim=-1)
    fresh = forward_log_probs(model, inputs, out.sequences, temperature)
    torch.testing.assert_close(generated, fresh, atol=1e-4, rtol=0)
    tokenizer_of(processor).batch_decode(out.sequences[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


# ------------------------------------------------------------------------------------------- LoRA


@pytest.mark.parametrize("architecture", tiny.ARCHITECTURES)
def test_lora_wraps_language_model_vision_and_projector(built, architecture):
    path = built[architecture][0]
    auto = AutoModelForCausalLM if architecture == "text" else AutoModelForImageTextToText
    model = auto.from_pretrained(path)
    config = model.config.get_text_config()
    layers = config.num_hidden_layers
    targets = LM_LORA_TARGETS
    modules_to_save = None
    if architecture != "text":
        vision, projector = VISION_MODULES[architecture]
        names = dict(model.named_modules())
        assert vision in names and projector in names
        # LoRA on the vision tower too ("all"), the projector trained in full
        vision_targets = (
            rf"^{re.escape(vision)}\.encoder\.layers\.\d+\.(?:self_attn\.(?:q|k|v|out)_proj|mlp\.fc[12])$"
        )
        targets = f"(?:{LM_LORA_TARGETS})|(?:{vision_targets})"
        modules_to_save = [projector.rsplit(".", 1)[-1]]
    wrapped = peft.get_peft_model(
        model, peft.LoraConfig(r=4, target_modules=targets, modules_to_save=modules_to_save, task_type="CAUSAL_LM")
    )
    lora = {n.split(".lora_A")[0] for n, _ in wrapped.named_parameters() if ".lora_A." in n}
    in_lm = {n for n in lora if ".vision_" not in n}
    assert len(in_lm) == 7 * layers
    if architecture != "text":
        assert len(lora - in_lm) == 6 * layers
        full = [n for n, p in wrapped.named_parameters() if p.requires_grad and "lora_" not in n]
        assert full and all(projector.rsplit(".", 1)[-1] in n for n in full)
    processor = AutoTokenizer.from_pretrained(path) if architecture == "text" else AutoProcessor.from_pretrained(path)
    _, inputs = batch_inputs(architecture, processor)
    out = wrapped.generate(
        **inputs, max_new_tokens=3, do_sample=True, top_k=0, return_dict_in_generate=True, output_logits=True
    )
    assert len(out.logits) >= 1
    loss = wrapped(**inputs, labels=inputs["input_ids"]).loss
    loss.backward()
    missing = [n for n, p in wrapped.named_parameters() if p.requires_grad and p.grad is None]
    if architecture in ("llava", "llava_next"):
        # vision_feature_layer=-2 (as in the real checkpoints): the last CLIP layer feeds nothing
        last = f"vision_tower.encoder.layers.{model.config.vision_config.num_hidden_layers - 1}."
        missing = [n for n in missing if last not in n]
    assert not missing, missing


# -------------------------------------------------------------------------------------- tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return tiny.train_tokenizer(tiny.default_corpus(), extra_special_tokens=("<image>",))


SPECIALS = ("<pad>", "<s>", "</s>", "<unk>", "<image>")


def check_offsets(tokenizer, text):
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    assert tokenizer.decode(ids) == text
    if not text:
        return
    assert offsets[0][0] == 0 and offsets[-1][1] == len(text)
    for (start, end), (next_start, _) in zip(offsets, offsets[1:]):
        assert start < end and start <= next_start <= end  # tiles the text (tokens may share a multibyte char)
    if text.isascii():
        # one byte per char: offsets cut the text exactly into the tokens' strings
        pieces = [tokenizer.decode([i]) for i in ids]
        assert "".join(pieces) == text
        assert pieces == [text[a:b] for a, b in offsets]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text())
def test_tokenizer_round_trips_any_text(tokenizer, text):
    assume(not any(s in text for s in SPECIALS))
    check_offsets(tokenizer, text)


def test_tokenizer_offsets_on_answers(tokenizer, loaded):
    answer = '{"cards": [1, 10, 7, 6], "current formula": "", "thoughts": "10 + 7 + 6 + 1 = 24", "action": "10"}'
    for tok in (tokenizer, tokenizer_of(loaded("text")[0]), tokenizer_of(loaded("idefics3")[0])):
        check_offsets(tok, answer)
        check_offsets(tok, "héllo wörld 😀 \n\t\r  ümlaut ★")
        assert len(tok(answer)["input_ids"]) < len(answer) / 2  # BPE learned the answers
        if "<image>" in tok.get_vocab():
            assert tok("<image>", add_special_tokens=False)["input_ids"] == [tok.convert_tokens_to_ids("<image>")]


def test_train_tokenizer_specials(tokenizer):
    assert isinstance(tokenizer, transformers.PreTrainedTokenizerFast)
    assert tokenizer.convert_tokens_to_ids(list(SPECIALS)) == [0, 1, 2, 3, 4]
    ids = (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id)
    assert ids == (0, 1, 2, 3)
    assert tokenizer.padding_side == "left"
    assert len(tokenizer) <= 2048
    prompt = tokenizer.apply_chat_template(messages("x"), add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("Assistant:\n")


def test_default_corpus_is_deterministic_and_covers_every_env():
    corpus = tiny.default_corpus()
    assert corpus == list(tiny._default_corpus.__wrapped__())
    for env_id in gym_cards.ENV_IDS:
        assert task_prompt(env_id, True) in corpus and task_prompt(env_id, False) in corpus
        assert any(text.startswith(task_prompt(env_id, True, "")[:40]) and "Table: " in text for text in corpus)
    assert any(text.startswith('{"action": ') for text in corpus)
    assert any('"thoughts": ' in text for text in corpus)


# -------------------------------------------------------------------------------- Qwen2-VL (model level)


def tiny_qwen2_vl(seed=0):
    """A tiny Qwen2VLForConditionalGeneration (its processor needs torchvision, so no processor)."""
    config = transformers.Qwen2VLConfig(
        text_config={
            "vocab_size": 128,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 1024,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            "pad_token_id": 0,
            "bos_token_id": 1,
            "eos_token_id": 2,
        },
        vision_config={
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": 64,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=5,
        video_token_id=6,
        vision_start_token_id=3,
        vision_end_token_id=4,
    )
    torch.manual_seed(seed)
    return AutoModelForImageTextToText.from_config(config).eval()


def qwen2_vl_inputs(model):
    """Two left-padded prompts, one 56x56 image each (grid 1x4x4 patches -> 4 merged image tokens)."""
    vision = model.config.vision_config
    grid = torch.tensor([[1, 4, 4], [1, 4, 4]])
    patch_dim = 3 * vision.temporal_patch_size * vision.patch_size**2
    pixel_values = torch.randn(int(grid.prod(-1).sum()), patch_dim, generator=torch.Generator().manual_seed(0))
    tokens = int(grid[0].prod()) // vision.spatial_merge_size**2
    image = [3, *[5] * tokens, 4]
    rows = [[1, 10, *image, 11, 12], [1, 10, 20, 30, 40, *image, 11, 12, 13]]
    width = max(map(len, rows))
    input_ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    attention_mask = (torch.arange(width) >= torch.tensor([width - len(r) for r in rows])[:, None]).long()
    mm_token_type_ids = (input_ids == 5).long()  # transformers 5: needed for M-RoPE
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "pixel_values": pixel_values,
        "image_grid_thw": grid,
        "mm_token_type_ids": mm_token_type_ids,
    }


def test_qwen2_vl_model_level_forward_and_generate():
    model = tiny_qwen2_vl()
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    inputs = qwen2_vl_inputs(model)
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (*inputs["input_ids"].shape, 128)
    out = model.generate(
        **inputs,
        max_new_tokens=5,
        do_sample=True,
        top_k=0,
        temperature=1.0,
        return_dict_in_generate=True,
        output_logits=True,
    )
    prompt = inputs["input_ids"].shape[1]
    assert len(out.logits) == out.sequences.shape[1] - prompt >= 1
    extended = dict(inputs)
    extended["mm_token_type_ids"] = torch.cat(
        [inputs["mm_token_type_ids"], torch.zeros_like(out.sequences[:, prompt:])], dim=1
    )
    fresh = forward_log_probs(model, extended, out.sequences, 1.0)
    torch.testing.assert_close(torch.log_softmax(torch.stack(out.logits, 1), -1), fresh, atol=1e-4, rtol=0)
    names = dict(model.named_modules())
    assert {"model.visual", "model.visual.merger", "model.language_model.layers.0.self_attn.q_proj"} <= names.keys()
