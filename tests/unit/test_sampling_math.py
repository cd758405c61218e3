"""The sampler's arithmetic: renoising keeps the right marginals, plans count evaluations, masks and paste-back."""

from __future__ import annotations

import pytest
import torch
from iclora_pack.nodes.core.masks import box_blur
from iclora_pack.nodes.core.sampling_math import (
    MODES,
    harmonized_steps,
    noise_estimate,
    paste_references,
    paste_weight,
    planned_step_count,
    reference_input,
    reference_soft_mask,
    reference_token_slices,
    refined_steps,
    renoise,
    seam_mask,
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


@pytest.mark.parametrize("flow,sigma", [(True, 0.7), (True, 0.05), (False, 3.0), (False, 0.2)])
def test_noise_estimate_recovers_the_noise_renoising_put_in(flow, sigma):
    generator = torch.Generator().manual_seed(1)
    x0, noise = torch.randn(2, 2, 4, 8, 8, generator=generator)
    x = (1 - sigma) * x0 + sigma * noise if flow else x0 + sigma * noise
    assert torch.allclose(noise_estimate(x, x0, torch.tensor([sigma, sigma]), flow), noise, atol=1e-5)
    assert torch.allclose(noise_estimate(x, x0, sigma, flow), noise, atol=1e-5)


def test_consistent_mode_costs_one_evaluation_a_step_plus_its_refined_steps():
    assert "consistent" in MODES
    assert planned_step_count(20, "consistent", 3, 1.0) == 20
    assert planned_step_count(20, "consistent", 3, 1.0, refine=0.5) == 30
    assert refined_steps(20, 0.25) == 5 and refined_steps(20, 0.0) == 0


def _panel_mask(width: int = 64, border: int = 32) -> torch.Tensor:
    mask = torch.zeros(1, 16, width)
    mask[..., border:] = 1.0
    return mask


def test_seam_feather_zero_uses_the_connected_mask_as_it_is():
    feathered = box_blur(_panel_mask(), 4)
    assert torch.equal(seam_mask(feathered, 0), feathered)


def test_seam_feather_softens_a_hard_mask_with_a_ramp_of_about_twice_its_value():
    soft = seam_mask(_panel_mask(), 4)
    row = soft[0, 0]
    ramp = ((row > 0) & (row < 1)).sum().item()
    assert ramp == 2 * 4 and torch.equal(soft, box_blur(_panel_mask(), 4).clamp(0, 1))


@pytest.mark.parametrize("mask_feather,seam_feather", [(4, 4), (8, 2), (2, 8)])
def test_a_feathered_mask_is_not_blurred_twice(mask_feather, seam_feather):
    hard = _panel_mask()
    from_feathered = seam_mask(box_blur(hard, mask_feather).clamp(0, 1), seam_feather)
    assert torch.equal(from_feathered, seam_mask(hard, seam_feather))  # one ramp, the sampler's
    twice = box_blur(box_blur(hard, mask_feather), seam_feather)
    assert not torch.allclose(from_feathered, twice)


def test_reference_mode_is_the_last_mode_so_saved_workflows_keep_their_values():
    assert MODES == ("joint", "masked", "consistent", "harmonized", "fill", "reference")
    assert planned_step_count(20, "reference", 3, 1.0, refine=0.5) == 20  # one evaluation a step, always


def test_reference_input_holds_the_clean_reference_where_kept_and_the_sample_where_generated():
    generator = torch.Generator().manual_seed(2)
    x, clean = torch.randn(2, 1, 16, 4, 8, generator=generator)
    mask = torch.zeros(1, 1, 4, 8)
    mask[..., 4:] = 1.0
    mixed = reference_input(x, clean, mask)
    assert torch.equal(mixed[..., :4], clean[..., :4]) and torch.equal(mixed[..., 4:], x[..., 4:])
    soft = mask.clone()
    soft[..., 3] = 0.25  # a feathered seam blends the two
    assert torch.allclose(reference_input(x, clean, soft)[..., 3], 0.25 * x[..., 3] + 0.75 * clean[..., 3])


def test_reference_token_slices_are_the_row_major_runs_of_fully_kept_tokens():
    mask = torch.ones(4, 12)  # 2 x 6 tokens of 2 x 2 cells
    mask[:, :4] = 0.0  # tokens 0-1 of each row kept
    assert reference_token_slices(mask, 2) == [(0, 2), (6, 8)]
    mask[0, 3] = 0.5  # a feathered cell: its token counts as generated
    assert reference_token_slices(mask, 2) == [(0, 1), (6, 8)]
    right = torch.ones(4, 12)
    right[:, 8:] = 0.0  # reference on the right, runs reach the row end
    assert reference_token_slices(right, 2) == [(4, 6), (10, 12)]
    odd = torch.zeros(3, 4)  # an odd height is padded as generated, as the DiT pads it
    assert reference_token_slices(odd, 2) == [(0, 2)]
    assert reference_token_slices(torch.ones(4, 4), 2) == []
