"""Tiny random-weight models of real Hugging Face architectures, built offline, for smoke tests.

``build_tiny_model(dir, "llava")`` writes a normal Hugging Face model directory (config,
safetensors weights, tokenizer, processor, chat template) that the generic Auto classes load:

* VLMs (``"llava"``, ``"llava_next"``, ``"idefics3"``): ``AutoProcessor.from_pretrained(dir)`` and
  ``AutoModelForImageTextToText.from_pretrained(dir)``.
* ``"text"``: ``AutoTokenizer.from_pretrained(dir)`` and ``AutoModelForCausalLM.from_pretrained(dir)``
  (a ``LlamaForCausalLM``).

The tokenizer is a byte-level BPE trained here with the ``tokenizers`` library on
:func:`default_corpus` (a frozen snapshot of the gym_cards prompts and expert answers), so any text round-trips and
offset mappings work. Image processors are the PIL-backend classes, which need no torchvision.
The weights are random: the models write gibberish, but every code path (processor, padding,
generate, logits, LoRA) is the real one.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import transformers

ARCHITECTURES = ("llava", "llava_next", "idefics3", "qwen2_vl", "qwen2_5_vl", "gemma3", "text")  # "text" = plain causal LM

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
IMAGE = "<image>"
# What Idefics3Processor looks up in the tokenizer (it adds the first three itself if missing,
# which would grow the vocabulary past the model's embedding, so they are in the vocab from the start).
IDEFICS3_TOKENS = (
    "<fake_token_around_image>",
    IMAGE,
    "<end_of_utterance>",
    "<global-img>",
    *(f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)),
)
GENERATION_PROMPT = "Assistant:\n"
# Qwen-VL's special tokens; its answers end with the end-of-turn token <|im_end|>, as in the real
# Qwen2.5-VL-Instruct, whose pad token <|endoftext|> is a different one.
QWEN_TOKENS = (
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
QWEN_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif item['type'] == 'text' -%}{{- item['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

# Rendering: "<s>User: <image>\n{text}</s>\nAssistant:\n{answer}</s>\n". The prompt ends with a
# newline so that tokenizing prompt + answer gives the prompt's tokens followed by the answer's
# (the byte-level pre-tokenizer always splits after whitespace before "{").
CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}{{- 'User: ' -}}"
    "{%- elif message['role'] == 'assistant' -%}{{- 'Assistant:\\n' -}}"
    "{%- else -%}{{- message['role'] | capitalize + ': ' -}}{%- endif -%}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if not loop.first -%}{{- '\\n' -}}{%- endif -%}"
    "{%- if item['type'] == 'image' -%}{{- '<image>' -}}"
    "{%- elif item['type'] == 'text' -%}{{- item['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- eos_token + '\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- 'Assistant:\\n' -}}{%- endif -%}"
)

_CORPUS_STEPS = 200  # expert steps per env in task_corpus
CORPUS_SNAPSHOT = Path(__file__).with_name("tiny_corpus.json.gz")
"""``task_corpus()`` as of 2026-12-07, shipped so that rewording a task or changing an expert does not
change the tokenizer, whose vocabulary decides every random weight a seed draws (it once did: README
numbers measured before that change no longer rerun). Rewrite it deliberately with
:func:`write_corpus_snapshot`, knowing that every tiny model's start moves with it."""


def train_tokenizer(
    corpus: Iterable[str],
    vocab_size: int = 2048,
    *,
    extra_special_tokens: Sequence[str] = (),
    chat_template: str = CHAT_TEMPLATE,
    eos_token: str = EOS,
    pad_token: str = PAD,
    named_tokens: dict[str, str] | None = None,
) -> transformers.PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``corpus``, with a chat template, left padding.

    Special tokens (ids from 0): ``<pad> <s> </s> <unk>``, then ``extra_special_tokens`` (e.g.
    ``("<image>",)`` for a VLM). Byte-level pre-tokenizer and decoder: every string encodes and
    decodes back exactly; offsets are character offsets into the input (``trim_offsets=False``),
    so ``tokenizer(text, return_offsets_mapping=True)`` maps characters to tokens. Nothing is
    added around the text (no BOS): the chat template writes ``<s>`` itself. ``eos_token`` and
    ``pad_token`` may name extra special tokens instead (Qwen's ``<|im_end|>``, ``<|endoftext|>``);
    ``named_tokens`` gives some of them names a processor looks up (Gemma-3's ``boi_token``).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    specials = list(dict.fromkeys([PAD, BOS, EOS, UNK, *extra_special_tokens]))
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(corpus), trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=eos_token,
        pad_token=pad_token,
        unk_token=UNK,
        padding_side="left",
        clean_up_tokenization_spaces=False,
        chat_template=chat_template,
        model_max_length=4096,
        extra_special_tokens=dict(named_tokens or {}),
    )


@functools.lru_cache(maxsize=1)
def _task_corpus() -> tuple[str, ...]:
    import gym_cards
    from vlm_ppo.tasks import make_task

    texts: list[str] = []
    for env_id in gym_cards.ENV_IDS:
        task = make_task(env_id)
        env = task.make_env(image_size=64)
        env.reset(seed=0)
        for chain_of_thought in (True, False):
            texts.append(task.prompt(env, chain_of_thought))
        for _ in range(_CORPUS_STEPS):
            advice = task.expert(env)
            texts.append(task.prompt(env, True, text_only=True))
            texts.append(task.prompt(env, False, text_only=True))
            texts.append(task.answer(env, advice, True))
            texts.append(task.answer(env, advice, False))
            _, _, terminated, truncated, _ = env.step(advice.action)
            if terminated or truncated:
                env.reset()
        env.close()
    return tuple(texts)


def task_corpus() -> list[str]:
    """What the policies read and write today: every env's task prompts (with and without the
    table description, with and without chain of thought) and the expert's answers over
    ``_CORPUS_STEPS`` seeded steps of each env. Deterministic."""
    return list(_task_corpus())


@functools.lru_cache(maxsize=1)
def _snapshot() -> tuple[str, ...]:
    return tuple(json.loads(gzip.decompress(CORPUS_SNAPSHOT.read_bytes())))


def default_corpus() -> list[str]:
    """The tiny tokenizers' training texts: the frozen :data:`CORPUS_SNAPSHOT` of
    :func:`task_corpus`, so that the same seed builds the same model whatever the tasks now say."""
    return list(_snapshot())


def write_corpus_snapshot(path: str | Path = CORPUS_SNAPSHOT) -> Path:
    """Freeze today's :func:`task_corpus` (byte-identical for identical texts: no timestamp)."""
    path = Path(path)
    path.write_bytes(gzip.compress(json.dumps(task_corpus(), ensure_ascii=False).encode("utf-8"), mtime=0))
    return path


def _heads(hidden_size: int) -> int:
    for heads in (4, 2, 1):
        if hidden_size % heads == 0 and (hidden_size // heads) % 2 == 0:
            return heads
    raise ValueError(f"hidden_size must be even, got {hidden_size}")


def _patch_size(image_size: int, patches: int = 4) -> int:
    """The patch size that cuts an image into ``patches`` x ``patches`` (14 px for 56 and 4):
    few image tokens by default; more to read smaller things (a card's rank)."""
    if patches < 1 or image_size % patches != 0 or image_size // patches < 2:
        raise ValueError(
            f"image_size must be a multiple of patches ({patches}) with patches of 2 px or more, got {image_size}"
        )
    return image_size // patches


def _text_config(tokenizer, hidden_size: int, num_layers: int) -> transformers.LlamaConfig:
    heads = _heads(hidden_size)
    return transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )


def _mrope_section(head_dim: int) -> list[int]:
    """Qwen-VL's split of the rotary frequencies over (time, height, width): [16, 24, 24] for its
    head size of 128, in the same proportions for smaller heads."""
    half = head_dim // 2
    time = half // 4
    height = (half - time) // 2
    return [time, height, half - time - height]


def _qwen_vl(architecture: str, tokenizer, image_size: int, hidden_size: int, num_layers: int, image_mean, image_std):
    """(config, processor) of a tiny Qwen2-VL or Qwen2.5-VL: 14 px patches merged 2x2, so a
    56 px image is 4 image tokens. Qwen's processor keeps the aspect ratio within a pixel budget,
    sides multiples of 28; a square frame of any size becomes ``image_size`` square (the budget's
    upper end lies a little above ``image_size**2``: at exactly that, rounding lets a 300 px frame
    fall to 28 px)."""
    from transformers import Qwen2VLImageProcessorPil

    from vlm_ppo.processors import qwen_vl_processor

    if image_size % 28:
        raise ValueError(
            f"Qwen-VL images are cut into 14 px patches merged 2x2: image_size must be a multiple of 28, got {image_size}"
        )
    heads = _heads(hidden_size)
    ids = {
        name: tokenizer.convert_tokens_to_ids(token)
        for name, token in (
            ("image_token_id", "<|image_pad|>"),
            ("video_token_id", "<|video_pad|>"),
            ("vision_start_token_id", "<|vision_start|>"),
            ("vision_end_token_id", "<|vision_end|>"),
        )
    }
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden_size,
        "intermediate_size": 2 * hidden_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": heads,
        "num_key_value_heads": max(1, heads // 2),
        "max_position_embeddings": 4096,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": _mrope_section(hidden_size // heads),
        },
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "tie_word_embeddings": False,
    }
    if architecture == "qwen2_vl":
        vision = {
            "depth": num_layers,
            "embed_dim": hidden_size,
            "hidden_size": hidden_size,
            "num_heads": heads,
            "mlp_ratio": 2,
        }
        config = transformers.Qwen2VLConfig(
            text_config=text, vision_config={**vision, "patch_size": 14, "spatial_merge_size": 2}, **ids
        )
    else:
        vision = {
            "depth": num_layers,
            "hidden_size": hidden_size,
            "intermediate_size": 2 * hidden_size,
            "num_heads": heads,
            "out_hidden_size": hidden_size,
            "window_size": 56,
            "fullatt_block_indexes": [num_layers - 1],
        }
        config = transformers.Qwen2_5_VLConfig(
            text_config=text, vision_config={**vision, "patch_size": 14, "spatial_merge_size": 2}, **ids
        )
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": image_size * image_size, "longest_edge": image_size * (image_size + 14)},
        patch_size=14,
        merge_size=2,
        temporal_patch_size=2,
        image_mean=list(image_mean),
        image_std=list(image_std),
    )
    return config, qwen_vl_processor(image_processor, tokenizer, QWEN_CHAT_TEMPLATE)


# Gemma-3: an image is <start_of_image>, which the processor expands into <image_soft_token>s
# between blank lines; turns are <start_of_turn>role ... <end_of_turn>, which also ends answers.
GEMMA3_TOKENS = {"boi_token": "<start_of_image>", "image_token": "<image_soft_token>", "eoi_token": "<end_of_image>"}
GEMMA3_CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{{- '<start_of_turn>' + ('model' if message['role'] == 'assistant' else message['role']) + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{- '<start_of_image>' -}}"
    "{%- elif item['type'] == 'text' -%}{{- item['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<end_of_turn>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}"
)


def _gemma3(tokenizer, image_size: int, hidden_size: int, num_layers: int, image_mean, image_std, patches: int):
    """(config, processor) of a tiny Gemma-3: a SigLIP tower of ``patches`` x ``patches`` patches,
    average-pooled to half as many per side (4 image tokens at the default)."""
    from transformers import Gemma3ImageProcessorPil

    heads = _heads(hidden_size)
    ids = {
        "boi_token_index": tokenizer.convert_tokens_to_ids(GEMMA3_TOKENS["boi_token"]),
        "eoi_token_index": tokenizer.convert_tokens_to_ids(GEMMA3_TOKENS["eoi_token"]),
        "image_token_index": tokenizer.convert_tokens_to_ids(GEMMA3_TOKENS["image_token"]),
    }
    text = {
        "vocab_size": len(tokenizer), "hidden_size": hidden_size, "intermediate_size": 2 * hidden_size,
        "num_hidden_layers": num_layers, "num_attention_heads": heads, "num_key_value_heads": max(1, heads // 2),
        "head_dim": hidden_size // heads,
        "max_position_embeddings": 4096, "sliding_window": 512, "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
    }  # fmt: skip
    vision = {
        "hidden_size": hidden_size, "intermediate_size": 2 * hidden_size, "num_hidden_layers": num_layers,
        "num_attention_heads": heads, "image_size": image_size, "patch_size": _patch_size(image_size, patches),
    }  # fmt: skip
    tokens_per_image = (patches // 2) ** 2
    config = transformers.Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=tokens_per_image, **ids)
    image_processor = Gemma3ImageProcessorPil(
        size={"height": image_size, "width": image_size},
        image_mean=list(image_mean),
        image_std=list(image_std),
        do_pan_and_scan=False,
    )
    processor = transformers.Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=GEMMA3_CHAT_TEMPLATE,
        image_seq_length=tokens_per_image,
    )
    return config, processor


def _clip_vision_config(image_size: int, hidden_size: int, num_layers: int, patches: int) -> transformers.CLIPVisionConfig:
    return transformers.CLIPVisionConfig(
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=_heads(hidden_size),
        image_size=image_size,
        patch_size=_patch_size(image_size, patches),
        projection_dim=hidden_size,
    )


# Pixel normalisation of the tiny models: a white pixel maps to 0 and black to -2. With random
# vision weights the features of a frame are dominated by whatever is constant in it; CLIP's
# statistics leave the white background a large constant vector, so the few patches that differ
# between game states (a digit, a card) moved a frame's features by 4%, and a 5M model still read
# NumberLine's numbers at chance after 575 SFT steps. Centred on white they move them by 16% and
# it reads both numbers after about 200 steps (benchmarks/learning_curve.py).
WHITE_ZERO_MEAN = (1.0, 1.0, 1.0)
WHITE_ZERO_STD = (0.5, 0.5, 0.5)


def _build(
    architecture: str,
    tokenizer,
    image_size: int,
    hidden_size: int,
    num_layers: int,
    image_mean: Sequence[float] = WHITE_ZERO_MEAN,
    image_std: Sequence[float] = WHITE_ZERO_STD,
    patches: int = 4,
):
    """(config, processor or tokenizer, auto model class) for ``architecture``."""
    # transformers 5: "...Pil" = PIL/numpy backend; the unsuffixed class is the torchvision backend.
    from transformers import CLIPImageProcessorPil, Idefics3ImageProcessorPil, LlavaNextImageProcessorPil

    if architecture in ("qwen2_vl", "qwen2_5_vl"):
        config, processor = _qwen_vl(architecture, tokenizer, image_size, hidden_size, num_layers, image_mean, image_std)
        return config, processor, transformers.AutoModelForImageTextToText
    if architecture == "gemma3":
        config, processor = _gemma3(tokenizer, image_size, hidden_size, num_layers, image_mean, image_std, patches)
        return config, processor, transformers.AutoModelForImageTextToText
    text_config = _text_config(tokenizer, hidden_size, num_layers)
    patch = _patch_size(image_size, patches)
    square = {"height": image_size, "width": image_size}
    normalise = {"image_mean": list(image_mean), "image_std": list(image_std)}
    if architecture == "text":
        return text_config, tokenizer, transformers.AutoModelForCausalLM
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE)
    if architecture == "llava":
        config = transformers.LlavaConfig(
            vision_config=_clip_vision_config(image_size, hidden_size, num_layers, patches),
            text_config=text_config,
            image_token_index=image_token_id,
            image_seq_length=(image_size // patch) ** 2,
            vision_feature_select_strategy="default",
            vision_feature_layer=-2,
        )
        image_processor = CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size=square, **normalise)
        processor = transformers.LlavaProcessor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            patch_size=patch,
            vision_feature_select_strategy="default",
            num_additional_image_tokens=1,  # CLIP's CLS, dropped by the "default" strategy
            chat_template=CHAT_TEMPLATE,
        )
    elif architecture == "llava_next":
        pinpoints = [[image_size, image_size], [image_size, 2 * image_size], [2 * image_size, image_size]]
        config = transformers.LlavaNextConfig(
            vision_config=_clip_vision_config(image_size, hidden_size, num_layers, patches),
            text_config=text_config,
            image_token_index=image_token_id,
            image_grid_pinpoints=pinpoints,
            image_seq_length=(image_size // patch) ** 2,
            vision_feature_select_strategy="default",
            vision_feature_layer=-2,
        )
        image_processor = LlavaNextImageProcessorPil(
            size={"shortest_edge": image_size}, crop_size=square, image_grid_pinpoints=pinpoints, **normalise
        )
        processor = transformers.LlavaNextProcessor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            patch_size=patch,
            vision_feature_select_strategy="default",
            num_additional_image_tokens=1,
            chat_template=CHAT_TEMPLATE,
        )
    elif architecture == "idefics3":
        scale_factor = 2
        vision_config = transformers.Idefics3VisionConfig(
            hidden_size=hidden_size,
            intermediate_size=2 * hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=_heads(hidden_size),
            image_size=image_size,
            patch_size=patch,
        )
        config = transformers.Idefics3Config(
            vision_config=vision_config,
            text_config=text_config,
            image_token_id=image_token_id,
            scale_factor=scale_factor,
            pad_token_id=tokenizer.pad_token_id,
        )
        image_processor = Idefics3ImageProcessorPil(
            size={"longest_edge": image_size},
            max_image_size={"longest_edge": image_size},
            do_image_splitting=False,
            **normalise,
        )
        processor = transformers.Idefics3Processor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            image_seq_len=(image_size // patch) ** 2 // scale_factor**2,
            chat_template=CHAT_TEMPLATE,
        )
    else:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    return config, processor, transformers.AutoModelForImageTextToText


_README = """# Tiny random-weight `{architecture}` model (smoke tests only)

This is NOT a trained model: its weights are random (seed {seed}). It writes gibberish. It exists
so that tests can run the real Hugging Face `{model_class}` code paths (processor, left padding,
chat template, `generate`, logits, LoRA) on a CPU in seconds, offline.

Made by `vlm_ppo.tiny.build_tiny_model(dir, architecture={architecture!r}, image_size={image_size},
hidden_size={hidden_size}, num_layers={num_layers}, vocab_size={vocab_size}, seed={seed})`:

- tokenizer: byte-level BPE trained with the `tokenizers` library on {corpus} ({vocab} tokens,
  special tokens {specials}), left padding, a simple chat template
  (`<s>User: <image>\\n...</s>\\nAssistant:\\n...</s>\\n`; the generation prompt ends with `Assistant:\\n`);
- model: `{model_class}`, {parameters:,} parameters, float32 safetensors;
- load with {loaders}.
"""


def _token_list(tokens: list[str], limit: int = 8) -> str:
    shown = ", ".join(f"`{token}`" for token in tokens[:limit])
    return shown + (f" and {len(tokens) - limit} more" if len(tokens) > limit else "")


def build_tiny_model(
    output_dir: str | Path,
    architecture: str = "llava",
    corpus: Iterable[str] | None = None,
    image_size: int = 56,
    hidden_size: int = 64,
    num_layers: int = 2,
    vocab_size: int = 2048,
    seed: int = 0,
    image_mean: Sequence[float] = WHITE_ZERO_MEAN,
    image_std: Sequence[float] = WHITE_ZERO_STD,
    patches: int = 4,
) -> Path:
    """Write a tiny random-weight ``architecture`` model (one of :data:`ARCHITECTURES`) with its
    tokenizer and processor to ``output_dir`` and return the directory.

    Vision towers (tiny CLIP for LLaVA and LLaVA-NeXT, Idefics3's SigLIP-like tower) see
    ``image_size`` square images in a grid of ``patches`` x ``patches`` (Qwen-VL: 14 px patches);
    the language model is a tiny Llama (``hidden_size``, ``num_layers``, 2-4 heads, MLP
    ``2 * hidden_size``) whose vocabulary is the tokenizer trained on ``corpus``
    (:func:`default_corpus` when ``None``). Pixels are normalised with ``image_mean``/``image_std``
    per channel; the default maps white to 0 (see :data:`WHITE_ZERO_MEAN`: it is what lets a
    random vision tower learn to read). Same arguments, same weights.
    """
    import torch

    from vlm_ppo.processors import save_processor

    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    output_dir = Path(output_dir)
    texts = default_corpus() if corpus is None else list(corpus)
    if architecture in ("qwen2_vl", "qwen2_5_vl"):
        tokenizer = train_tokenizer(
            texts,
            vocab_size,
            extra_special_tokens=QWEN_TOKENS,
            chat_template=QWEN_CHAT_TEMPLATE,
            eos_token="<|im_end|>",
            pad_token="<|endoftext|>",
        )
    elif architecture == "gemma3":
        tokenizer = train_tokenizer(
            texts,
            vocab_size,
            extra_special_tokens=(*GEMMA3_TOKENS.values(), "<start_of_turn>", "<end_of_turn>"),
            chat_template=GEMMA3_CHAT_TEMPLATE,
            eos_token="<end_of_turn>",
            named_tokens=GEMMA3_TOKENS,
        )
    else:
        extra = {"text": (), "idefics3": IDEFICS3_TOKENS}.get(architecture, (IMAGE,))
        tokenizer = train_tokenizer(texts, vocab_size, extra_special_tokens=extra)
    config, processor, auto_class = _build(
        architecture, tokenizer, image_size, hidden_size, num_layers, image_mean, image_std, patches
    )
    if len(processor.tokenizer if architecture != "text" else processor) != config.get_text_config().vocab_size:
        raise AssertionError("the processor grew the vocabulary")  # pragma: no cover
    with torch.random.fork_rng(devices=[]):  # the same weights for the same seed, and the caller's RNG untouched
        torch.manual_seed(seed)
        model = auto_class.from_config(config, dtype=torch.float32)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    save_processor(processor, output_dir, architecture)
    loaders = (
        "`AutoTokenizer` + `AutoModelForCausalLM`"
        if architecture == "text"
        else "`AutoProcessor` + `AutoModelForImageTextToText`"
    )
    (output_dir / "TINY_MODEL.md").write_text(
        _README.format(
            architecture=architecture,
            seed=seed,
            model_class=type(model).__name__,
            image_size=image_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            vocab_size=vocab_size,
            corpus="`vlm_ppo.tiny.default_corpus()`" if corpus is None else f"a given corpus of {len(texts)} texts",
            vocab=len(tokenizer),
            specials=_token_list([token.content for token in tokenizer.added_tokens_decoder.values()]),
            parameters=sum(p.numel() for p in model.parameters()),
            loaders=loaders,
        )
    )
    (output_dir / "tiny_model.json").write_text(
        json.dumps(
            {
                "architecture": architecture,
                "image_size": image_size,
                "patches": patches,
                "hidden_size": hidden_size,
                "num_layers": num_layers,
                "vocab_size": vocab_size,
                "seed": seed,
                "image_mean": list(image_mean),
                "image_std": list(image_std),
            },
            indent=2,
        )
    )
    return output_dir
