"""The sampler's arithmetic: renoising keeps the right marginals, plans count evaluations, masks and paste-back."""

from __future__ import annotations

import pytest
import torch
from iclora_pack.nodes.sampling_math import (
    harmonized_steps,
    paste_references,
    paste_weight,
    planned_step_count,
    reference_soft_mask,
    renoise,
)


@pytest.mark.parametrize("flow,s_from,s_to", [(True, 0.3, 0.6), (True, 0.0, 0.9), (True, 0.5, 1.0),
                                              (False, 1.0, 4.0), (False, 0.0, 2.0)])
def test_renoise_gives_the_marginal_of_the_higher_noise_level(flow, s_from, s_to):
    generator = torch.Generator().manual_seed(0)
    x0 = torch.full((400_000,), 0.7)
    noise, fresh = torch.randn(2, 400_000, generator=generator)
    x_from = (1 - s_from) * x0 + s_from * noise if flow else x0 + s_from * noise
    x_to = renoise(x_from, s_from, s_to, fresh, flow)
    expected_mean = (1 - s_to) * 0.7 if flow else 0.7
    assert abs(float(x_to.mean()) - expected_mean) < 5e-3
    assert abs(float(x_to.std()) - s_to) < 5e-3


def test_renoise_only_goes_up():
    with pytest.raises(ValueError):
        renoise(torch.zeros(3), 0.5, 0.4, torch.zeros(3), True)


def test_harmonized_plan_counts_steps():
    assert harmonized_steps(20, 0.5) == 10 and harmonized_steps(20, 0.0) == 0 and harmonized_steps(20, 1.0) == 20
    assert harmonized_steps(6, 0.3) == 2
    assert planned_step_count(20, "harmonized", 3, 0.5) == 20 + 2 * 10
    assert planned_step_count(20, "masked", 3, 0.5) == 20
    assert planned_step_count(20, "harmonized", 1, 0.5) == 20


def test_reference_soft_mask():
    mask = torch.tensor([[0.0, 1.0]])
    assert torch.equal(reference_soft_mask(mask, 1.0), mask)
    assert torch.allclose(reference_soft_mask(mask, 0.7), torch.tensor([[0.3, 1.0]]))


def test_paste_weight_is_exact_without_blend_and_ramps_inside_the_reference_with_it():
    mask = torch.zeros(1, 8, 40)
    mask[..., 20:] = 1.0
    assert torch.equal(paste_weight(mask, 0), 1 - mask)
    weight = paste_weight(mask, 3)[0, 4]
    assert torch.equal(weight[20:], torch.zeros(20))  # generated side untouched
    assert torch.equal(weight[:12], torch.ones(12))  # deep inside the reference: the original pixels
    assert bool((weight[11:21][1:] <= weight[11:21][:-1]).all()) and 0 < float(weight[17]) < 1


def test_paste_references_puts_original_pixels_back_exactly():
    decoded = torch.rand(2, 8, 16, 3)
    original = torch.rand(1, 8, 16, 3)
    weight = torch.zeros(1, 8, 16)
    weight[..., :8] = 1.0
    out = paste_references(decoded, original, weight)
    assert torch.equal(out[:, :, :8], original[:, :, :8].expand(2, -1, -1, -1))
    assert torch.equal(out[:, :, 8:], decoded[:, :, 8:])
