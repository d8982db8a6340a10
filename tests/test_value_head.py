"""The critic's head computes in float32, whatever precision the language model runs in."""

import torch

from vlm_ppo.value_head import ValueHead


def test_values_are_float32_arithmetic_under_bfloat16_autocast():
    torch.manual_seed(0)
    head = ValueHead(64, (32,))
    hidden = torch.randn(4, 64).bfloat16()  # what a bf16 language model hands over
    expected = head.mlp(hidden.float()).squeeze(-1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        values = head(hidden)
    assert values.dtype == torch.float32
    torch.testing.assert_close(values, expected, rtol=0, atol=0)
