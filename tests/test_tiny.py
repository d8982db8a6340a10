"""vlm_ppo.tiny: tiny random-weight models of real HF architectures, loaded back through the Auto classes."""

from __future__ import annotations

import gzip
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
from vlm_ppo.processors import load_processor  # noqa: E402
from vlm_ppo.tasks import make_task  # noqa: E402


def task_prompt(env_id: str, chain_of_thought: bool = True, text_only: bool = False) -> str:
    """The task's prompt in its first state after reset(seed=0)."""
    task = make_task(env_id)
    env = task.make_env(image_size=64)
    env.reset(seed=0)
    return task.prompt(env, chain_of_thought, text_only)


VLMS = ("llava", "llava_next", "idefics3", "qwen2_vl", "qwen2_5_vl", "gemma3")
QWEN_VL = ("qwen2_vl", "qwen2_5_vl")

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
    "qwen2_vl": ("model.visual", "model.visual.merger"),
    "qwen2_5_vl": ("model.visual", "model.visual.merger"),
    "gemma3": ("model.vision_tower", "model.multi_modal_projector"),
}
# Linear layers per vision block: CLIP/SigLIP q, k, v, out, fc1, fc2; Qwen2-VL qkv, proj, fc1, fc2;
# Qwen2.5-VL qkv, proj, gate, up, down.
VISION_BLOCK = {
    "llava": (r"encoder\.layers", r"self_attn\.(?:q|k|v|out)_proj|mlp\.fc[12]", 6),
    "llava_next": (r"encoder\.layers", r"self_attn\.(?:q|k|v|out)_proj|mlp\.fc[12]", 6),
    "idefics3": (r"encoder\.layers", r"self_attn\.(?:q|k|v|out)_proj|mlp\.fc[12]", 6),
    "qwen2_vl": (r"blocks", r"attn\.(?:qkv|proj)|mlp\.fc[12]", 4),
    "qwen2_5_vl": (r"blocks", r"attn\.(?:qkv|proj)|mlp\.(?:gate|up|down)_proj", 5),
    "gemma3": (r"encoder\.layers", r"self_attn\.(?:q|k|v|out)_proj|mlp\.fc[12]", 6),
}
# Expected image placeholder tokens per image at the defaults (56 px, 14 px patches -> 4x4;
# Idefics3 and Qwen-VL merge 2x2 of them).
IMAGE_TOKENS = {"llava": 16, "idefics3": 4, "qwen2_vl": 4, "qwen2_5_vl": 4, "gemma3": 4}
# (pad, bos, eos) and the image placeholder of each family's tiny tokenizer.
SPECIAL_TOKENS = {
    "qwen2_vl": ("<|endoftext|>", "<s>", "<|im_end|>"),
    "qwen2_5_vl": ("<|endoftext|>", "<s>", "<|im_end|>"),
    "gemma3": ("<pad>", "<s>", "<end_of_turn>"),
}
IMAGE_PLACEHOLDER = {"qwen2_vl": "<|image_pad|>", "qwen2_5_vl": "<|image_pad|>", "gemma3": "<image_soft_token>"}


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
            else:  # AutoProcessor, except for Qwen-VL without torchvision (vlm_ppo.processors)
                processor = load_processor(path, transformers.AutoConfig.from_pretrained(path).model_type)
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
    return texts, processor(images=[[image] for image in images], text=texts, return_tensors="pt", padding=True)


def model_kwargs(inputs):
    return {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}


# -------------------------------------------------------------------------------------------- build


def test_architectures_constant():
    assert tiny.ARCHITECTURES == ("llava", "llava_next", "idefics3", "qwen2_vl", "qwen2_5_vl", "gemma3", "text")


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
        "qwen2_vl": "Qwen2VLForConditionalGeneration",
        "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
        "gemma3": "Gemma3ForConditionalGeneration",
        "text": "LlamaForCausalLM",
    }[architecture]
    assert type(model).__name__ == expected
    tokenizer = tokenizer_of(processor)
    assert tokenizer.padding_side == "left"
    assert len(tokenizer) == model.config.get_text_config().vocab_size
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer)
    expected_specials = SPECIAL_TOKENS.get(architecture, ("<pad>", "<s>", "</s>"))
    assert (tokenizer.pad_token, tokenizer.bos_token, tokenizer.eos_token) == expected_specials
    assert model.config.get_text_config().pad_token_id == tokenizer.pad_token_id
    if architecture != "text":
        if not transformers.utils.is_torchvision_available():  # the PIL backend image processors
            assert type(processor.image_processor).__name__.endswith("Pil")
        assert model.config.image_token_id == tokenizer.convert_tokens_to_ids(IMAGE_PLACEHOLDER.get(architecture, "<image>"))


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
    path = tiny.build_tiny_model(
        tmp_path, "llava", corpus=["a b c"] * 3, image_mean=(0.5, 0.5, 0.5), image_std=(0.25, 0.25, 0.25)
    )
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
    if architecture in QWEN_VL:
        expected = (
            "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Which card?<|im_end|>\n<|im_start|>assistant\n"
        )
        answer_end = '<|im_start|>assistant\n{"action": "+"}<|im_end|>\n'
    elif architecture == "gemma3":
        expected = "<s><start_of_turn>user\n<start_of_image>Which card?<end_of_turn>\n<start_of_turn>model\n"
        answer_end = '<start_of_turn>model\n{"action": "+"}<end_of_turn>\n'
    else:
        expected = "<s>User: <image>\nWhich card?</s>\nAssistant:\n" if image else "<s>User: Which card?</s>\nAssistant:\n"
        answer_end = 'Assistant:\n{"action": "+"}</s>\n'
    assert prompt == expected
    answer_turn = {"role": "assistant", "content": [{"type": "text", "text": '{"action": "+"}'}]}
    conversation = [*messages("Q", image), answer_turn]
    full = processor.apply_chat_template(conversation, tokenize=False)
    assert full.endswith(answer_end)
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
        counts = (inputs["input_ids"] == model.config.image_token_id).sum(-1).tolist()
        if architecture in QWEN_VL:  # keeps the aspect ratio: only the square image makes a 4 x 4 grid
            assert counts[0] == IMAGE_TOKENS[architecture] and 1 <= counts[1] < counts[0]
        else:
            assert counts == [IMAGE_TOKENS[architecture]] * 2


# ------------------------------------------------------------------------------ generate and logits


def forward_log_probs(model, inputs, sequences, temperature):
    prompt = inputs["input_ids"].shape[1]
    mask = torch.cat([inputs["attention_mask"], torch.ones_like(sequences[:, prompt:])], dim=1)
    extra = model_kwargs(inputs)
    if "mm_token_type_ids" in extra:  # Qwen-VL: which tokens are image placeholders (M-RoPE); answers are text
        extra["mm_token_type_ids"] = torch.cat([extra["mm_token_type_ids"], torch.zeros_like(sequences[:, prompt:])], dim=1)
    with torch.no_grad():
        logits = model(input_ids=sequences, attention_mask=mask, **extra).logits
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
        blocks, linears, per_block = VISION_BLOCK[architecture]
        vision_targets = rf"^{re.escape(vision)}\.{blocks}\.\d+\.(?:{linears})$"
        targets = f"(?:{LM_LORA_TARGETS})|(?:{vision_targets})"
        modules_to_save = [projector.rsplit(".", 1)[-1]]
    wrapped = peft.get_peft_model(
        model, peft.LoraConfig(r=4, target_modules=targets, modules_to_save=modules_to_save, task_type="CAUSAL_LM")
    )
    lora = {n.split(".lora_A")[0] for n, _ in wrapped.named_parameters() if ".lora_A." in n}
    in_lm = {n for n in lora if ".vision_" not in n and ".visual." not in n}
    assert len(in_lm) == 7 * layers
    if architecture != "text":
        assert len(lora - in_lm) == per_block * layers
        full = [n for n, p in wrapped.named_parameters() if p.requires_grad and "lora_" not in n]
        assert full and all(projector.rsplit(".", 1)[-1] in n for n in full)
    if architecture == "text":
        processor = AutoTokenizer.from_pretrained(path)
    else:
        processor = load_processor(path, model.config.model_type)
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


def test_default_corpus_is_the_frozen_snapshot_and_a_rewrite_is_byte_identical(tmp_path):
    assert tiny.default_corpus() == json.loads(gzip.decompress(tiny.CORPUS_SNAPSHOT.read_bytes()))
    first = tiny.write_corpus_snapshot(tmp_path / "a.json.gz").read_bytes()
    assert tiny.write_corpus_snapshot(tmp_path / "b.json.gz").read_bytes() == first
    corpus = json.loads(gzip.decompress(first))
    assert corpus == list(tiny._task_corpus.__wrapped__())
    for env_id in gym_cards.ENV_IDS:
        assert task_prompt(env_id, True) in corpus and task_prompt(env_id, False) in corpus
        assert task_prompt(env_id, True, text_only=True) in corpus and "Table: " in task_prompt(env_id, True, text_only=True)
    assert any(text.startswith('{"action": ') for text in corpus)
    assert any('"thoughts": ' in text for text in corpus)


def test_the_frozen_tokenizer_still_encodes_todays_task_texts_compactly():
    """The snapshot stops tracking the tasks' wording; once it drifts so far that today's prompts
    and answers take over 10% more tokens than a tokenizer trained on them, rewrite it (README)."""
    frozen = tiny.train_tokenizer(tiny.default_corpus(), extra_special_tokens=("<image>",))
    current = tiny.train_tokenizer(tiny.task_corpus(), extra_special_tokens=("<image>",))
    texts = tiny.task_corpus()
    frozen_tokens = sum(len(frozen(text)["input_ids"]) for text in texts)
    current_tokens = sum(len(current(text)["input_ids"]) for text in texts)
    assert frozen_tokens <= 1.1 * current_tokens, (frozen_tokens, current_tokens)


# ------------------------------------------------------------- Qwen-VL processors (torchvision or not)


@pytest.mark.parametrize("architecture", ["qwen2_vl", "qwen2_5_vl"])
def test_qwen_vl_stand_in_processor_expands_images_and_marks_them(tmp_path, architecture):
    from vlm_ppo.model_loading import load_base_model

    path = tiny.build_tiny_model(tmp_path / architecture, architecture=architecture, image_size=56)
    _, processor = load_base_model(path, torch.device("cpu"), torch.float32)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>hi<|im_end|>\n<|im_start|>assistant\n"
    image = Image.fromarray(np.zeros((300, 300, 3), np.uint8))  # a gym_cards frame
    inputs = processor(images=[[image]], text=[text], return_tensors="pt", add_special_tokens=False)
    assert inputs["image_grid_thw"].tolist() == [[1, 4, 4]]  # resized to 56 x 56: 4 x 4 patches of 14 px
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    placeholders = inputs["input_ids"][0] == image_id
    assert int(placeholders.sum()) == 4  # merged 2 x 2: one token per 28 px square
    assert inputs["mm_token_type_ids"][0].tolist() == placeholders.long().tolist()
    assert inputs["pixel_values"].shape == (16, 3 * 2 * 14 * 14)


@pytest.mark.skipif(
    not transformers.utils.is_torchvision_available(), reason="transformers' own Qwen-VL processor needs torchvision"
)
@pytest.mark.parametrize("architecture", ["qwen2_vl", "qwen2_5_vl"])
def test_qwen_vl_stand_in_processor_matches_transformers_own(tmp_path, architecture):
    """Where torchvision imports, AutoProcessor builds the real processor from the same directory:
    the same tokens and placeholder marks; pixels within one intensity level (torchvision and
    PIL resize with slightly different bicubic kernels)."""
    from transformers import AutoTokenizer, Qwen2VLImageProcessorPil

    from vlm_ppo.processors import qwen_vl_processor

    path = tiny.build_tiny_model(tmp_path / architecture, architecture=architecture, image_size=56)
    real = AutoProcessor.from_pretrained(path)
    assert type(real).__name__ == {"qwen2_vl": "Qwen2VLProcessor", "qwen2_5_vl": "Qwen2_5_VLProcessor"}[architecture]
    ours = qwen_vl_processor(
        Qwen2VLImageProcessorPil.from_pretrained(path),
        AutoTokenizer.from_pretrained(path),
        (path / "chat_template.jinja").read_text(),
    )
    rng = np.random.default_rng(0)
    images = [[Image.fromarray(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8))] for _ in range(2)]
    texts = []
    for prompt in ("a longer prompt here", "short"):
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        texts.append(real.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
        assert texts[-1] == ours.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    for processor in (real, ours):
        processor.tokenizer.padding_side = "left"
    theirs = real(images=images, text=texts, return_tensors="pt", padding=True, add_special_tokens=False)
    mine = ours(images=images, text=texts, return_tensors="pt", padding=True, add_special_tokens=False)
    assert sorted(theirs) == sorted(mine)
    for key in ("input_ids", "attention_mask", "mm_token_type_ids", "image_grid_thw"):
        assert torch.equal(theirs[key], mine[key]), key
    one_level = 1 / 255 / 0.5  # an intensity step, normalised with std 0.5
    assert (theirs["pixel_values"] - mine["pixel_values"]).abs().max() <= one_level + 1e-6
