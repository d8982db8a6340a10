"""Model input and output in one place: prompts in, answers' token log-probabilities out.

RL (the policy) and SFT must show the model exactly the same prompt and score an answer the same
way, or SFT would teach a format that PPO then reads differently. Everything that decides that
lives here:

* the prompt turn: the chat template with the generation prompt, the image through the
  processor, batches padded on the left (:func:`encode_prompts`);
* an answer appended to it, every per-token input growing with it (:func:`append_answers`);
* the positions ``generate`` uses under left padding, except for multimodal RoPE models (Qwen-VL),
  which compute theirs from the image grid (:func:`position_ids`);
* the tokens that end an answer (:func:`stop_token_ids`, :func:`answer_end_token`);
* per-token log-probs at the sampling temperature (:func:`token_log_probs`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from jinja2 import TemplateError
from PIL import Image


def tokenizer_of(processor):
    """The tokenizer of a VLM processor, or the tokenizer itself for a text model."""
    return getattr(processor, "tokenizer", processor)


def chat_texts(processor, prompts: Sequence[str], with_images: bool) -> list[str]:
    """Each prompt as a user turn (after an image when ``with_images``) in the chat template,
    ending with the generation prompt: the text the model continues with its answer."""
    if not with_images:
        tokenizer = tokenizer_of(processor)
        return [
            tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
            for p in prompts
        ]
    messages = [[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": p}]}] for p in prompts]
    return [processor.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in messages]


def encode_prompts(processor, images: Sequence[np.ndarray] | np.ndarray | None, prompts: Sequence[str]):
    """Model inputs for a batch of prompt turns, padded on the left (the answers follow on the
    right). ``images`` is one uint8 ``(H, W, 3)`` array per prompt, or None for text-only prompts.
    Token for token what transformers' ``apply_chat_template(..., tokenize=True)`` gives: a text
    tokenizer's template writes every special token; a processor adds BOS where its template does not."""
    tokenizer = tokenizer_of(processor)
    if tokenizer.padding_side != "left":
        raise ValueError("prompts are batched with left padding; set tokenizer.padding_side = 'left'")
    if images is None:
        return tokenizer(chat_texts(processor, prompts, False), return_tensors="pt", padding=True, add_special_tokens=False)
    if len(images) != len(prompts):
        raise ValueError(f"an image agent needs one image per prompt, got {len(images)} for {len(prompts)} prompts")
    pictures = [[Image.fromarray(np.asarray(image, dtype=np.uint8))] for image in images]
    texts = chat_texts(processor, prompts, True)
    # As transformers' own processor.apply_chat_template: the tokenizer's special tokens (BOS) are
    # added unless the template wrote BOS itself. LLaVA-1.6's "[INST] ..." template does not, and
    # without this its prompts would miss the <s> the model was trained with.
    bos = tokenizer.bos_token
    written = bos is not None and all(text.startswith(bos) for text in texts)
    return processor(images=pictures, text=texts, return_tensors="pt", padding=True, add_special_tokens=not written)


def append_answers(inputs, tokens: torch.Tensor, token_mask: torch.Tensor) -> dict:
    """Prompt inputs followed by answers: ``input_ids`` grow by the answer tokens,
    ``attention_mask`` by their mask, and every other per-token input (Qwen-VL's
    ``mm_token_type_ids``, which marks image placeholders) by zeros, since answers are text."""
    prompt_shape = inputs["input_ids"].shape
    grown = dict(inputs)
    for key, value in inputs.items():
        if key in ("input_ids", "attention_mask") or not torch.is_tensor(value) or value.shape[:2] != prompt_shape:
            continue
        grown[key] = torch.cat([value, value.new_zeros(tokens.shape)], dim=1)
    grown["input_ids"] = torch.cat([inputs["input_ids"], tokens.to(inputs["input_ids"].dtype)], dim=1)
    grown["attention_mask"] = torch.cat([inputs["attention_mask"], token_mask.to(inputs["attention_mask"].dtype)], dim=1)
    return grown


def uses_multimodal_rope(config) -> bool:
    """Qwen2-VL-style models compute 3-D rotary positions from the image grid themselves; plain
    2-D ``position_ids`` would override them wrongly."""
    text_config = getattr(config, "text_config", config)
    rope = getattr(text_config, "rope_parameters", None) or getattr(text_config, "rope_scaling", None) or {}
    return "mrope_section" in rope


def with_positions(model_config, inputs: dict) -> dict:
    """``inputs`` with the position ids ``generate`` uses under left padding (counted over the
    attended tokens, so padding does not shift them); multimodal RoPE models compute their own."""
    if uses_multimodal_rope(model_config):
        return inputs
    return {**inputs, "position_ids": (inputs["attention_mask"].long().cumsum(-1) - 1).clamp(min=0)}


def stop_token_ids(model, tokenizer) -> list[int]:
    """The tokens generation stops on: the generation config's ``eos_token_id`` (one or several,
    e.g. an end-of-turn token), else the tokenizer's EOS."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no EOS token and the generation config names none: nothing would end an answer")
    return sorted({eos} if isinstance(eos, int) else set(eos))


def answer_end_token(model, processor) -> int:
    """The token a demonstration ends with: the one the chat template writes right after an
    assistant message when generation stops on it (Gemma-3's ``<end_of_turn>``, Phi-3's ``<|end|>``,
    not their tokenizers' EOS), else the tokenizer's EOS when generation stops on it, else the first
    token generation stops on. The policy's answers end with exactly such a token.

    :param processor: the VLM's processor or the text LM's tokenizer (whose template is read).
    """
    tokenizer = tokenizer_of(processor)
    stops = stop_token_ids(model, tokenizer)
    written = _template_end_token(processor)
    if written in stops:
        return written
    eos = tokenizer.eos_token_id
    return eos if eos in stops else stops[0]


def _template_end_token(processor) -> int | None:
    """The first token the chat template writes after an assistant message (None if it has no template)."""
    tokenizer = tokenizer_of(processor)
    mark = "answer end probe"
    if processor is not tokenizer and getattr(processor, "chat_template", None):
        turns = [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": [{"type": "text", "text": mark}]},
        ]
        render = processor.apply_chat_template
    elif getattr(tokenizer, "chat_template", None):
        turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": mark}]
        render = tokenizer.apply_chat_template
    else:
        return None
    try:
        text = render(turns, tokenize=False)
    except (TemplateError, TypeError, ValueError, KeyError):  # a template that cannot end an assistant turn
        return None
    if mark not in text:
        return None
    after = tokenizer(text.split(mark, 1)[1].lstrip(), add_special_tokens=False)["input_ids"]
    return after[0] if after else None


def token_log_probs(
    logits: torch.Tensor, tokens: torch.Tensor, temperature: float, suppressed_ids: Sequence[int] = ()
) -> torch.Tensor:
    """Log-probability of each token under ``softmax(logits / temperature)`` with the
    ``suppressed_ids`` removed, in float32: the distribution sampling really draws from.

    :param logits: ``[B, T, V]`` logits at the answer positions (any float dtype).
    :param tokens: ``[B, T]`` the generated token ids.
    :param temperature: the sampling temperature.
    :param suppressed_ids: tokens generation may never write (image placeholders).
    :return: ``[B, T]`` float32 log-probs.
    """
    logits = logits.float()
    if len(suppressed_ids):
        logits = logits.index_fill(-1, torch.tensor(list(suppressed_ids), device=logits.device), float("-inf"))
    log_probs = torch.log_softmax(logits / temperature, dim=-1)
    return log_probs.gather(-1, tokens.long().unsqueeze(-1)).squeeze(-1)
