"""The actor-critic: a Hugging Face (V)LM that writes an answer, with log-probs and values.

``act`` samples answers with one ``generate`` call and takes everything PPO needs from it: the
answer tokens, their old log-probabilities from the *raw* logits (``output_logits``) divided by
the temperature, and the value from the prefill's last hidden state at the last prompt token.
There is no second forward pass. That hidden state is caught on its way into the LM head (a
forward pre-hook) rather than with ``output_hidden_states``, which would keep every layer's
states for every position. ``forward`` recomputes the same quantities with gradients in
one forward pass over prompt + answer; on the same tokens it agrees with ``act`` to float
precision, which the tests check. That pass computes logits only over the answer
(``logits_to_keep``): a 1,000-token prompt with a 152k vocabulary would otherwise make 300 MB of
bfloat16 logits per answer, to keep none of them. ``reference_log_probs`` scores answers under the model training
started from, for a KL penalty: a LoRA policy's own model with its adapters switched off (no
extra memory), or a frozen copy given as ``reference``.

Sampling uses ``top_k=0, top_p=1`` so that the sampled distribution is exactly
``softmax(logits / T)`` over the vocabulary minus the suppressed image-placeholder tokens, and
both ``act`` and ``evaluate`` take log-probs under that same masked distribution. Every other
logits processor is switched off explicitly (``NEUTRAL_SAMPLING``): ``generate`` fills what it is
not told from the checkpoint's ``generation_config.json``, and Qwen2.5-VL-Instruct's sets
``repetition_penalty`` 1.05 (and ``top_k`` 1), which would sample from another distribution than
the one the log-probs score.

Two rules keep the PPO ratio honest, i.e. exactly 1 before the first optimizer step:

* **No dropout, ever.** The policy is always in eval mode (``train()`` keeps it there): with
  LoRA's default dropout of 0.05, ``generate`` and the update's forward pass drew different masks,
  so the old and new log-probs of one answer at the same weights differed by up to 0.1 nats on
  SmolLM2 (the clip range). TRL's PPO turns dropout off for the same reason. Supervised
  fine-tuning (``vlm_ppo.sft``) keeps its dropout.
* **Old log-probs from the training forward pass when the arithmetic is not float32**
  (``rescore``). In bfloat16, ``generate``'s incremental decoding (KV cache) and a full forward
  pass round differently: up to 0.52 nats per answer on SmolLM2, against 8e-5 in float32. Then
  ``act`` scores its sampled answers once more with the same forward pass the update uses, as
  verl and OpenRLHF recompute old log-probs. (Exactly the same numbers where the batch shapes
  match, as with one env and minibatch 1; in bfloat16 another batch's left padding alone moves a
  log-prob by about 0.01 nats, so a rollout of 16 envs starts its minibatches' ratios within
  about that of 1.)

Scoring passes (``forward``, ``rescore``, the reference) compute the LM head in float32 whenever
the model computes in lower precision: bfloat16 logits are rounded to steps of 0.125 at a logit
of 20, 0.625 nats after the temperature 0.2, so a token's ratio would stay at 1 and then jump past
the clip range. MiniMax-M1 found the same and raised its LM head to float32. ``generate`` keeps
the model's own head (a float32 copy of a large vocabulary's head at every decoded token costs
more than it is worth: the old log-probs are rescored anyway).
"""

from __future__ import annotations

import inspect
import re
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from peft import PeftModel
from torch import nn
from transformers import GenerationConfig

from vlm_ppo.action_split import action_token_mask
from vlm_ppo.model_io import append_answers, encode_prompts, stop_token_ids, token_log_probs, tokenizer_of, with_positions
from vlm_ppo.ppo import sequence_log_prob
from vlm_ppo.value_head import ValueHead

# Processor attributes that name image/video placeholder tokens, across architectures.
_PLACEHOLDER_ATTRIBUTES = ("image_token", "fake_image_token", "global_image_token", "video_token", "boi_token", "eoi_token")
_PLACEHOLDER_CONFIG_IDS = (
    "image_token_id",
    "image_token_index",
    "video_token_id",
    "vision_start_token_id",
    "vision_end_token_id",
)
# Idefics3 writes a grid of <row_i_col_j> tokens around image patches.
_GRID_TOKEN = re.compile(r"<row_\d+_col_\d+>")

# The settings of every logits processor and stopping rule ``generate`` knows, each at the value that
# leaves ``softmax(logits / T)`` as it is. Passed explicitly because ``generate`` takes whatever is
# not passed from the checkpoint's generation config (Qwen2.5-VL-Instruct: repetition_penalty
# 1.05, top_k 1, top_p 0.001). Keys this transformers' GenerationConfig lacks are dropped.
NEUTRAL_SAMPLING = {
    key: value
    for key, value in {
        "num_beams": 1,
        "num_return_sequences": 1,
        "constraints": None,
        "force_words_ids": None,
        "prompt_lookup_num_tokens": None,  # assisted decoding: another code path
        "assistant_early_exit": None,
        "use_mtp": False,
        "dola_layers": None,
        "token_healing": False,
        "top_k": 0,
        "top_p": 1.0,
        "min_p": None,
        "top_h": None,
        "typical_p": 1.0,
        "epsilon_cutoff": 0.0,
        "eta_cutoff": 0.0,
        "repetition_penalty": 1.0,
        "encoder_repetition_penalty": 1.0,
        "no_repeat_ngram_size": 0,
        "encoder_no_repeat_ngram_size": 0,
        "bad_words_ids": None,
        "sequence_bias": None,
        "min_length": 0,
        "min_new_tokens": None,
        "forced_bos_token_id": None,
        "forced_eos_token_id": None,
        "begin_suppress_tokens": None,
        "exponential_decay_length_penalty": None,
        "guidance_scale": None,
        "renormalize_logits": False,
        "remove_invalid_values": False,
        "watermarking_config": None,
        "stop_strings": None,
        "max_time": None,
    }.items()
    if hasattr(GenerationConfig(), key)
}


@dataclass
class Rollout:
    """What ``act`` returns for a batch of prompts (numpy, on the CPU).

    :param answers: decoded answers (what the env parses).
    :param tokens: ``(B, max_new_tokens)`` answer token ids, padded.
    :param token_mask: true for real answer tokens (up to and including EOS).
    :param action_mask: true for the tokens from the ``"action"`` key on.
    :param token_log_probs: ``(B, max_new_tokens)`` log-probability of each answer token (0 where masked).
    :param log_probs: ``(B,)`` λ-weighted log-probability of each answer.
    :param values: ``(B,)`` value estimates (NaN without a critic).
    :param finished: ``(B,)`` whether the answer ended with a stop token within ``max_new_tokens``
        (a model that rambles on is cut there: its answer is unfinished).
    """

    answers: list[str]
    tokens: np.ndarray
    token_mask: np.ndarray
    action_mask: np.ndarray
    token_log_probs: np.ndarray
    log_probs: np.ndarray
    values: np.ndarray
    finished: np.ndarray


def placeholder_token_ids(processor, model_config) -> list[int]:
    """Ids of the image/video placeholder tokens, which the policy must never write."""
    tokenizer = getattr(processor, "tokenizer", processor)
    ids = set()
    for attribute in _PLACEHOLDER_ATTRIBUTES:
        token = getattr(processor, attribute, None)
        if isinstance(token, str):
            ids.add(tokenizer.convert_tokens_to_ids(token))
    for attribute in _PLACEHOLDER_CONFIG_IDS:
        token_id = getattr(model_config, attribute, None)
        if isinstance(token_id, int):
            ids.add(token_id)
    ids.update(i for i, token in tokenizer.added_tokens_decoder.items() if _GRID_TOKEN.fullmatch(str(token)))
    unknown = tokenizer.unk_token_id
    return sorted(i for i in ids if isinstance(i, int) and i >= 0 and i != unknown)


class Float32Linear(torch.autograd.Function):
    """``hidden @ weight.T + bias`` computed in float32 from lower-precision inputs, saving the
    inputs as they are for backward: ``F.linear(hidden.float(), weight.float())`` would keep a
    float32 copy of a large vocabulary's head for the backward pass (2.2 GB for Qwen2.5-VL-7B's
    152k x 3584, 2.7 GB for Gemma-3-4B's 262k); here it exists only while each pass computes.
    Gradients are returned in each input's own dtype."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(hidden, weight)
        ctx.bias_dtype = None if bias is None else bias.dtype
        return F.linear(hidden.float(), weight.float(), None if bias is None else bias.float())

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        hidden, weight = ctx.saved_tensors
        grad_hidden = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_hidden = (grad @ weight.float()).to(hidden.dtype)
        flat = grad.reshape(-1, grad.shape[-1])
        if ctx.needs_input_grad[1]:
            grad_weight = (flat.T @ hidden.reshape(-1, hidden.shape[-1]).float()).to(weight.dtype)
        if ctx.bias_dtype is not None and ctx.needs_input_grad[2]:
            grad_bias = flat.sum(0).to(ctx.bias_dtype)
        return grad_hidden, grad_weight, grad_bias


class VLMPolicy(nn.Module):
    """Actor (the language model, usually with LoRA adapters) and critic (a value head).

    :param model: an ``AutoModelForImageTextToText`` or ``AutoModelForCausalLM`` (possibly peft-wrapped).
    :param processor: its ``AutoProcessor`` (VLMs) or tokenizer (text models), padding on the left.
    :param value_head: the critic; None for critic-free algorithms (values are then NaN).
    :param temperature: sampling temperature; log-probs are taken at the same temperature.
    :param max_new_tokens: the longest answer.
    :param thought_coef: λ, the weight of the thought tokens' log-probability.
    :param text_only: prompts carry no image.
    :param reference: a frozen copy of the starting model for ``reference_log_probs``; None: a peft
        model's adapters are switched off instead (other models then have no reference).
    :param rescore: take the old log-probs and values of ``act`` from a forward pass over prompt +
        answer (as the update computes them) rather than from ``generate``'s logits; costs one
        forward pass per rollout step. Needed wherever the arithmetic is not float32.
    :param autocast_dtype: run every forward pass under ``torch.autocast`` in this dtype (mixed
        precision over float32 master weights); None: in the weights' own dtype.
    """

    def __init__(
        self,
        model: nn.Module,
        processor,
        value_head: ValueHead | None,
        temperature: float,
        max_new_tokens: int,
        thought_coef: float,
        text_only: bool,
        reference: nn.Module | None = None,
        rescore: bool = False,
        autocast_dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        # Kept out of the module tree: never trained, saved, moved or synchronised by DDP.
        object.__setattr__(self, "reference", reference)
        self.model = model
        self.value_head = value_head
        self.processor = processor
        self.tokenizer = tokenizer_of(processor)
        if self.tokenizer.padding_side != "left":
            raise ValueError("the policy batches prompts with left padding; set tokenizer.padding_side = 'left'")
        self.temperature = temperature
        self.max_new_tokens = max_new_tokens
        self.thought_coef = thought_coef
        self.text_only = text_only
        self.suppressed_ids = placeholder_token_ids(processor, model.config)
        self.pad_token_id = (
            self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        )
        self.eos_token_ids = stop_token_ids(model, self.tokenizer)
        self.rescore = rescore
        self.autocast_dtype = autocast_dtype
        self.eval()

    def train(self, mode: bool = True) -> VLMPolicy:
        """Stays in eval mode whatever ``mode`` says: dropout would give the rollout and the update
        different functions of the same weights (see the module docstring). Gradients still flow."""
        return super().train(False)

    # --------------------------------------------------------------- inputs
    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    def encode(self, images: np.ndarray | None, prompts: list[str]):
        """Chat-templated, left-padded model inputs for a batch of prompts (and images)."""
        if not self.text_only and images is None:
            raise ValueError(f"an image agent needs one image per prompt, got none for {len(prompts)} prompts")
        return encode_prompts(self.processor, None if self.text_only else images, prompts).to(self.device)

    def _values(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.value_head is None:
            return torch.full(hidden.shape[:1], float("nan"), device=hidden.device)
        return self.value_head(hidden)

    @contextmanager
    def _precision(self):
        """Mixed precision for every forward pass when ``autocast_dtype`` is set."""
        if self.autocast_dtype is None:
            yield
        else:
            with torch.autocast(self.device.type, dtype=self.autocast_dtype):
                yield

    @contextmanager
    def _float32_head(self, model: nn.Module):
        """Inside the block, ``model``'s LM head computes in float32 when the model computes in
        lower precision (see the module docstring). Only a plain ``nn.Linear`` head is replaced:
        an adapter on the head (LoRA targeting ``lm_head``) keeps its own forward."""
        head = model.get_output_embeddings()
        low = self.autocast_dtype is not None or (head is not None and head.weight.dtype != torch.float32)
        if type(head) is not nn.Linear or not low:
            yield
            return

        def forward(hidden: torch.Tensor) -> torch.Tensor:
            with torch.autocast(hidden.device.type, enabled=False):
                return Float32Linear.apply(hidden, head.weight, head.bias)

        replaced = head.__dict__.get("forward")  # an instance forward already there (a dispatch hook)
        head.forward = forward
        try:
            yield
        finally:
            if replaced is None:
                del head.forward
            else:
                head.forward = replaced

    def _score(self, model: nn.Module, model_inputs: dict, keep: int):
        """``model``'s output over ``model_inputs`` with logits for the last ``keep`` positions
        only (all of them where the model's forward takes no ``logits_to_keep``)."""
        base = model.get_base_model() if isinstance(model, PeftModel) else model
        kwargs = {"logits_to_keep": keep} if "logits_to_keep" in inspect.signature(base.forward).parameters else {}
        with self._float32_head(model), self._precision():
            output = model(**model_inputs, use_cache=False, **kwargs)
        return output.logits[:, -keep:]

    @contextmanager
    def _final_hidden_states(self):
        """Collects what the LM head receives (the last layer's normalised hidden states) on
        each forward call inside the block; the first call is the prompt's."""
        captured: list[torch.Tensor] = []
        handle = self.model.get_output_embeddings().register_forward_pre_hook(lambda _, args: captured.append(args[0]))
        try:
            yield captured
        finally:
            handle.remove()

    # --------------------------------------------------------------- acting
    def _masked_log_probs(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Per-token log-probs at the temperature, under the distribution sampling really uses."""
        return token_log_probs(logits, tokens, self.temperature, self.suppressed_ids)

    def _answer_masks(self, tokens: torch.Tensor) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Token mask (through the first EOS), action mask and decoded answers of generated rows."""
        tokens_np = tokens.cpu().numpy()
        is_eos = np.isin(tokens_np, self.eos_token_ids)
        token_mask = np.ones_like(tokens_np, dtype=bool)
        action_mask = np.zeros_like(token_mask)
        answers = []
        for row in range(tokens_np.shape[0]):
            ends = np.flatnonzero(is_eos[row])
            length = int(ends[0]) + 1 if len(ends) else tokens_np.shape[1]
            token_mask[row, length:] = False
            action_mask[row, :length] = action_token_mask(self.tokenizer, tokens_np[row, :length])
            answers.append(self.tokenizer.decode(tokens_np[row, :length], skip_special_tokens=True))
        return token_mask, action_mask, answers

    @torch.no_grad()
    def act(self, images: np.ndarray | None, prompts: list[str]) -> Rollout:
        """Sample one answer per prompt, with its λ-weighted log-prob and the state's value."""
        inputs = self.encode(images, prompts)
        with self._final_hidden_states() as hidden, self._precision():
            output = self.model.generate(
                **inputs,
                **NEUTRAL_SAMPLING,
                do_sample=True,
                temperature=self.temperature,
                max_new_tokens=self.max_new_tokens,
                suppress_tokens=self.suppressed_ids or None,
                pad_token_id=self.pad_token_id,
                eos_token_id=self.eos_token_ids,
                return_dict_in_generate=True,
                output_logits=True,
            )
        prompt_length = inputs["input_ids"].shape[1]
        tokens = output.sequences[:, prompt_length:]
        token_mask, action_mask, answers = self._answer_masks(tokens)
        mask, act_mask = (torch.as_tensor(m, device=tokens.device) for m in (token_mask, action_mask))
        if self.rescore:
            logits, values = self._forward(inputs, tokens, mask)
            per_token = self._masked_log_probs(logits, tokens)
        else:
            per_token = self._masked_log_probs(torch.stack(output.logits, dim=1), tokens)
            values = self._values(hidden[0][:, -1, :])
        log_probs = sequence_log_prob(per_token, mask, act_mask, self.thought_coef)
        padded = np.full((len(prompts), self.max_new_tokens), self.pad_token_id, dtype=np.int64)
        padded[:, : tokens.shape[1]] = tokens.cpu().numpy()
        width = (len(prompts), self.max_new_tokens)
        padded_log_probs = np.zeros(width, dtype=np.float32)
        padded_log_probs[:, : tokens.shape[1]] = torch.where(mask, per_token, 0.0).float().cpu().numpy()
        return Rollout(
            answers=answers,
            tokens=padded,
            token_mask=_pad_bool(token_mask, width),
            action_mask=_pad_bool(action_mask, width),
            token_log_probs=padded_log_probs,
            log_probs=log_probs.float().cpu().numpy(),
            values=values.float().cpu().numpy(),
            finished=np.isin(tokens.cpu().numpy(), self.eos_token_ids).any(axis=1),
        )

    # ------------------------------------------------------------- learning
    def _model_inputs(self, inputs, tokens: torch.Tensor | None, token_mask: torch.Tensor | None) -> dict:
        """Prompt (+ answer) inputs for one forward pass, with the positions ``generate`` used."""
        grown = dict(inputs) if tokens is None else append_answers(inputs, tokens, token_mask)
        return with_positions(self.model.config, grown)

    def _forward(self, inputs, tokens: torch.Tensor | None, token_mask: torch.Tensor | None):
        """One forward pass over prompt (+ answer); returns logits over the answer and values.

        The kept positions run from the last prompt token (which predicts the first answer
        token, and whose hidden state the critic reads) to the end."""
        length = 0 if tokens is None else tokens.shape[1]
        with self._final_hidden_states() as hidden:
            logits = self._score(self.model, self._model_inputs(inputs, tokens, token_mask), length + 1)
        values = self._values(hidden[0][:, -(length + 1), :])
        if tokens is None:
            return None, values
        return logits[:, :length], values

    @contextmanager
    def _reference_model(self):
        if self.reference is not None:
            yield self.reference
        elif isinstance(self.model, PeftModel):
            with self.model.disable_adapter():
                yield self.model
        else:
            raise ValueError(
                "this policy has no reference model for a KL penalty: pass reference= (a frozen copy of the "
                "starting model) or use LoRA"
            )

    @torch.no_grad()
    def reference_log_probs(
        self, images: np.ndarray | None, prompts: list[str], tokens: np.ndarray, token_mask: np.ndarray
    ) -> np.ndarray:
        """Per-token log-probs of answers (as ``act`` returned them) under the reference model, at
        the temperature; ``(B, tokens.shape[1])`` float32, 0 where ``token_mask`` is false."""
        inputs = self.encode(images, prompts)
        length = max(int(np.asarray(token_mask).sum(axis=1).max()), 1)
        answer = torch.as_tensor(tokens[:, :length], device=self.device)
        mask = torch.as_tensor(token_mask[:, :length], device=self.device)
        with self._reference_model() as model:
            logits = self._score(model, self._model_inputs(inputs, answer, mask), length + 1)
        per_token = self._masked_log_probs(logits[:, :length], answer)
        scores = np.zeros(np.shape(tokens), dtype=np.float32)
        scores[:, :length] = torch.where(mask, per_token, 0.0).float().cpu().numpy()
        return scores

    def forward(self, samples) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token log-probs ``(B, T)`` of stored answers and values ``(B,)``, with gradients.

        This is ``forward`` (called as ``policy(samples)``) so that DDP synchronises its gradients.

        :param samples: anything with ``images`` (uint8, or None), ``prompts``, ``tokens`` and ``token_mask``.
        """
        images = None if samples.images is None else samples.images.cpu().numpy()
        inputs = self.encode(images, list(samples.prompts))
        length = int(samples.token_mask.sum(dim=1).max().item()) if samples.token_mask.any() else 1
        tokens = samples.tokens[:, :length].to(self.device)
        token_mask = samples.token_mask[:, :length].to(self.device)
        logits, values = self._forward(inputs, tokens, token_mask)
        per_token = self._masked_log_probs(logits, tokens)
        full = torch.zeros(samples.tokens.shape, dtype=per_token.dtype, device=per_token.device)
        full[:, :length] = per_token
        return full, values

    @torch.no_grad()
    def value(self, images: np.ndarray | None, prompts: list[str]) -> np.ndarray:
        """Values of states (for bootstrapping truncated episodes and the rollout's last state)."""
        _, values = self._forward(self.encode(images, prompts), None, None)
        return values.float().cpu().numpy()


def _pad_bool(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    padded = np.zeros(shape, dtype=bool)
    padded[:, : mask.shape[1]] = mask
    return padded
