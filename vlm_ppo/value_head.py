"""The critic: a small MLP on the language model's last hidden state at the last prompt token."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ValueHead(nn.Module):
    """``hidden_size -> hidden_sizes... -> 1`` with ReLUs, in float32 whatever the model's dtype,
    also under the bfloat16 autocast of full-weight training (which would round the values to 3
    significant digits and the value loss's gradients with them).

    :param hidden_size: the language model's hidden size.
    :param hidden_sizes: the MLP's hidden layers (the paper used 1024 and 512).
    """

    def __init__(self, hidden_size: int, hidden_sizes: Sequence[int] = (1024, 512)) -> None:
        super().__init__()
        sizes = [hidden_size, *hidden_sizes]
        layers: list[nn.Module] = []
        for n_in, n_out in zip(sizes, sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], 1))
        self.mlp = nn.Sequential(*layers)
        self.hidden_size = hidden_size
        self.hidden_sizes = tuple(hidden_sizes)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(B, hidden_size)`` -> ``(B,)`` values."""
        with torch.autocast(hidden.device.type, enabled=False):
            return self.mlp(hidden.float()).squeeze(-1)
