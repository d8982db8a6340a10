"""Processors for every model directory: ``AutoProcessor``, with one isolated exception.

The exception is the Qwen-VL family (Qwen2-VL, Qwen2.5-VL) on a machine without torchvision.
transformers builds their processor from an image processor, a tokenizer *and a video processor*,
and its video processors exist only with torchvision; the PyPI torchvision wheel is a CUDA build
that does not work beside a CPU build of torch. The policy never shows a video, so
:func:`qwen_vl_processor` builds the same processor class without the video part: the
PIL-backend image processor, the tokenizer, transformers' own expansion of each image
placeholder into ``grid_t * grid_h * grid_w / merge_size**2`` tokens and its ``mm_token_type_ids``.
Where torchvision imports, ``AutoProcessor`` is used as for every other model, and the tests
compare the two.
"""

from __future__ import annotations

import json
from pathlib import Path

QWEN_VL_TYPES = ("qwen2_vl", "qwen2_5_vl")


def qwen_vl_processor(image_processor, tokenizer, chat_template: str | None = None):
    """Qwen-VL's processor without its video processor (see the module docstring)."""
    from transformers import ProcessorMixin, Qwen2_5_VLProcessor

    class QwenVLImageOnlyProcessor(Qwen2_5_VLProcessor):  # Qwen2-VL's processor does the same
        """Images and text only: ``ProcessorMixin`` takes its parts from this ``__init__``'s arguments."""

        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            # What Qwen2_5_VLProcessor.__init__ sets before handing its parts to ProcessorMixin.
            self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
            self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    return QwenVLImageOnlyProcessor(image_processor, tokenizer, chat_template=chat_template)


def load_processor(path: str | Path, model_type: str):
    """The processor of the VLM at ``path`` (padding left is the caller's business)."""
    from transformers import AutoProcessor
    from transformers.utils import is_torchvision_available

    if model_type in QWEN_VL_TYPES and not is_torchvision_available():
        from transformers import AutoTokenizer, Qwen2VLImageProcessorPil

        tokenizer = AutoTokenizer.from_pretrained(path)
        template_file = Path(path) / "chat_template.jinja"  # the processor's template, when saved apart
        template = template_file.read_text() if template_file.is_file() else tokenizer.chat_template
        return qwen_vl_processor(Qwen2VLImageProcessorPil.from_pretrained(path), tokenizer, template)
    return AutoProcessor.from_pretrained(path)


def declare_qwen_vl_processor(output_dir: Path, architecture: str) -> None:
    """Make the saved processor the one a real Qwen-VL directory names: ``Qwen2VLProcessor`` or
    ``Qwen2_5_VLProcessor`` with a video processor section, so that ``AutoProcessor`` builds the
    real thing wherever torchvision imports (the image-only stand-in saves under its own name)."""
    name = {"qwen2_vl": "Qwen2VLProcessor", "qwen2_5_vl": "Qwen2_5_VLProcessor"}[architecture]
    path = output_dir / "processor_config.json"
    config = json.loads(path.read_text())
    image = config["image_processor"]
    shared = (
        "do_convert_rgb",
        "do_normalize",
        "do_rescale",
        "do_resize",
        "image_mean",
        "image_std",
        "merge_size",
        "patch_size",
        "resample",
        "rescale_factor",
        "temporal_patch_size",
    )
    config["processor_class"] = name
    config["video_processor"] = {
        **{key: image[key] for key in shared},
        "size": dict(image["size"]),
        "video_processor_type": "Qwen2VLVideoProcessor",
    }
    path.write_text(json.dumps(config, indent=2, sort_keys=True))
    tokenizer_path = output_dir / "tokenizer_config.json"
    tokenizer = json.loads(tokenizer_path.read_text())
    tokenizer["processor_class"] = name
    tokenizer_path.write_text(json.dumps(tokenizer, indent=2))


def save_processor(processor, directory: Path, model_type: str) -> None:
    """``processor.save_pretrained``, with the image-only Qwen-VL stand-in saved under the real
    processor's name, so the directory loads with ``AutoProcessor`` wherever torchvision imports."""
    processor.save_pretrained(directory)
    if model_type in QWEN_VL_TYPES and type(processor).__name__ == "QwenVLImageOnlyProcessor":
        declare_qwen_vl_processor(Path(directory), model_type)
