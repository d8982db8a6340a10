"""Teach a tiny random-weight VLM's vision tower to read cards before SFT.

    python benchmarks/vision_pretraining.py MODEL_DIR READING_DATA OUT_DIR [--epochs 4] [--field cards]

A real VLM's encoder (CLIP, SigLIP) was pretrained on images that include digits and playing
cards; the benchmark's tiny model starts from random weights. Through the language-model loss
alone it never learned to read Points24's four ranks (README, Points24: the true card at p 0.077,
the marginal, after 3 epochs at hidden 256), although the same tower, given a direct loss, reads
them all in 3 epochs. This stage is that direct loss: a linear head per list item over the
projected image features (what the language model receives) is trained with cross-entropy
against the expert's reading of the first frame (``READING_DATA``: a reading dataset of
``learning_curve.reading_dataset``, whose answers hold ``field``, a list such as
``["Q", "7", "5", "A"]``). The vision tower and projector are trained, the language model is not;
the head is then discarded and the model is written as a plain Hugging Face directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HELD_OUT_FRACTION = 0.1
"""The last tenth of the records (other deals) score the head; training never sees them."""


def item_labels(records, field: str) -> tuple[list[list[str]], list[str]]:
    """The ``field`` list of every record's answer, and the sorted classes seen in any position.

    :raises ValueError: a record without the field, or lists of different lengths (the head has
        one classifier per position).
    """
    lists = []
    for record in records:
        answer = json.loads(record.answer)
        if not isinstance(answer.get(field), list):
            raise ValueError(f"record {record.id}: the answer has no list field {field!r}: {record.answer}")
        lists.append([str(item) for item in answer[field]])
    lengths = {len(items) for items in lists}
    if len(lengths) != 1:
        raise ValueError(f"the {field!r} lists have lengths {sorted(lengths)}; a head needs one length")
    return lists, sorted({item for items in lists for item in items})


def image_features(model, pixel_inputs: dict) -> torch.Tensor:
    """``(B, tokens * hidden)``: the projected image features the language model would receive."""
    output = model.get_image_features(**pixel_inputs)
    features = output.pooler_output if hasattr(output, "pooler_output") else output
    if isinstance(features, (list, tuple)):
        features = torch.stack(list(features))
    return features.flatten(1)


def pretrain_vision(
    model_dir: str | Path,
    data_dir: str | Path,
    output_dir: str | Path,
    epochs: int = 4,
    lr: float = 1e-3,
    batch_size: int = 64,
    field: str = "cards",
    seed: int = 0,
) -> dict:
    """Train ``model_dir``'s vision tower and projector to read ``field`` from the records' images,
    write the model to ``output_dir``; returns the held-out accuracy per list position and the
    mean probability of the true item, before and after."""
    from vlm_ppo.model_loading import load_base_model, module_part
    from vlm_ppo.sft import save_model
    from vlm_ppo.sft_data import load_sft_records

    torch.manual_seed(seed)
    records = load_sft_records(data_dir)
    lists, classes = item_labels(records, field)
    model, processor = load_base_model(model_dir, torch.device("cpu"), torch.float32)
    if not hasattr(model, "get_image_features"):
        raise ValueError(f"{model_dir} is not a vision-language model with get_image_features")
    images = []
    for record in records:
        with Image.open(Path(data_dir) / record.image) as picture:
            images.append(np.asarray(picture.convert("RGB")))
    pixels = processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
    labels = torch.tensor([[classes.index(item) for item in items] for items in lists])
    positions, count = labels.shape[1], len(classes)
    held = max(1, int(len(records) * HELD_OUT_FRACTION))
    train_x, train_y, test_x, test_y = pixels[:-held], labels[:-held], pixels[-held:], labels[-held:]

    for parameter in model.parameters():
        parameter.requires_grad_(False)
    tower = [p for name, p in model.named_parameters() if module_part(name) in ("vision", "projector")]
    for parameter in tower:
        parameter.requires_grad_(True)
    width = image_features(model, {"pixel_values": pixels[:1]}).shape[1]
    head = torch.nn.Linear(width, positions * count)
    optimizer = torch.optim.AdamW(tower + list(head.parameters()), lr=lr, weight_decay=0.0)

    def logits(x: torch.Tensor) -> torch.Tensor:
        return head(image_features(model, {"pixel_values": x})).view(-1, positions, count)

    @torch.no_grad()
    def score() -> tuple[list[float], float]:
        out = torch.cat([logits(test_x[i : i + batch_size]) for i in range(0, len(test_x), batch_size)])
        accuracy = (out.argmax(-1) == test_y).float().mean(0)
        true_p = out.softmax(-1).gather(-1, test_y[..., None]).mean()
        return [round(float(a), 4) for a in accuracy], round(float(true_p), 4)

    before = after = score()
    generator = torch.Generator().manual_seed(seed)
    losses = []
    started = time.time()
    for epoch in range(epochs):
        order = torch.randperm(len(train_x), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            loss = torch.nn.functional.cross_entropy(logits(train_x[batch]).reshape(-1, count), train_y[batch].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        losses.append(round(total / len(order), 4))
        after = score()
        print(f"vision pretraining: epoch {epoch + 1}/{epochs}, loss {losses[-1]}, held-out accuracy {after[0]}")
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    result = {
        "field": field, "classes": classes, "train_images": len(train_x), "held_out_images": len(test_x),
        "epochs": epochs, "lr": lr, "losses": losses, "seconds": round(time.time() - started, 1),
        "held_out_accuracy_before": before[0], "held_out_true_p_before": before[1],
        "held_out_accuracy": after[0], "held_out_true_p": after[1],
    }  # fmt: skip
    save_model(model, processor, Path(output_dir), {"vision_pretraining": result, "base_model": str(model_dir)})
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("reading_data", help="a reading dataset (learning_curve.reading_dataset)")
    parser.add_argument("output_dir")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--field", default="cards")
    args = parser.parse_args(argv)
    try:
        result = pretrain_vision(args.model_dir, args.reading_data, args.output_dir, args.epochs, args.lr, field=args.field)
    except (FileNotFoundError, ValueError) as error:
        print(f"vision_pretraining: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
