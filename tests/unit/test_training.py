"""The trainer's math (nodes/core/training.py): targets, noise levels, references, masks, seeded draws."""

from __future__ import annotations

import math

import pytest
import torch
from iclora_pack.nodes.core.layout import build_layout
from iclora_pack.nodes.core.training import (
    DISTRIBUTIONS,
    REFERENCE_RULES,
    SIGMA_MIN,
    TrainingDraws,
    check_layout_fits,
    flux_shift_mu,
    masked_velocity_loss,
    noisy_canvas,
    panel_latent_mask,
    reference_masks,
    reference_panels,
    sample_sigmas,
    time_shift,
    velocity_from_denoised,
    velocity_target,
)


def layout(count: int = 3, side: int = 32, arrangement: str = "row"):
    return build_layout(["input"] * count, side, side, arrangement)


def test_flux_shift_matches_comfyuis_model_sampling_flux_at_both_ends_and_between():
    assert flux_shift_mu(256) == pytest.approx(0.5) and flux_shift_mu(4096) == pytest.approx(1.15)
    # ModelSamplingFlux's own formula for a 1024 x 1024 image: width * height / (8 * 8 * 2 * 2) tokens
    mm = (1.15 - 0.5) / (4096 - 256)
    assert flux_shift_mu(4096) == pytest.approx(4096 * mm + 0.5 - mm * 256)
    t = torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)
    shifted = time_shift(1.15, t)
    assert torch.allclose(shifted, math.exp(1.15) / (math.exp(1.15) + 1 / t - 1))
    assert (shifted > t).all() and torch.equal(time_shift(0.0, t), t)


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_sigmas_are_seeded_in_range_and_ignore_the_global_generator(distribution):
    a = sample_sigmas(torch.Generator().manual_seed(3), 4000, distribution, flux_shift_mu(1024))
    torch.manual_seed(99)
    torch.rand(5)
    b = sample_sigmas(torch.Generator().manual_seed(3), 4000, distribution, flux_shift_mu(1024))
    assert torch.equal(a, b) and a.dtype == torch.float32
    assert float(a.min()) >= SIGMA_MIN and float(a.max()) <= 1.0


def test_distributions_differ_where_trainers_differ():
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    uniform = sample_sigmas(g(), 20000, "uniform")
    logit = sample_sigmas(g(), 20000, "logit-normal")
    shifted = sample_sigmas(g(), 20000, "flux shift", flux_shift_mu(4096))
    assert abs(float(uniform.mean()) - 0.5) < 0.01
    assert abs(float(logit.mean()) - 0.5) < 0.01 and float(logit.std()) < float(uniform.std())  # mid levels
    assert float(shifted.mean()) > 0.6  # shifted towards noise, as FLUX's sampling schedule
    assert torch.equal(sample_sigmas(g(), 10, "flux shift", 0.0), sample_sigmas(g(), 10, "uniform"))
    with pytest.raises(ValueError, match="distribution"):
        sample_sigmas(g(), 1, "cosine")


def test_noisy_canvas_is_the_flow_interpolation_with_references_exactly_clean():
    clean, noise = torch.randn(2, 16, 4, 12), torch.randn(2, 16, 4, 12)
    sigma = torch.tensor([0.25, 0.9])
    x = noisy_canvas(clean, noise, sigma)
    assert torch.allclose(x[1], 0.1 * clean[1] + 0.9 * noise[1], atol=1e-6)
    keep = panel_latent_mask(layout(3), [1], 4, 12)
    kept = noisy_canvas(clean, noise, sigma, keep)
    assert torch.equal(kept[..., :4], clean[..., :4])  # the reference panel, bit for bit
    assert torch.equal(kept[..., 4:], x[..., 4:])
    # the velocity target is the derivative of x_t along sigma
    eps = 1e-3
    derivative = (noisy_canvas(clean, noise, sigma + eps) - noisy_canvas(clean, noise, sigma - eps)) / (2 * eps)
    assert torch.allclose(derivative, velocity_target(clean, noise), atol=1e-3)


def test_velocity_from_comfyuis_clean_prediction_inverts_const_sampling():
    x, v = torch.randn(2, 16, 4, 4), torch.randn(2, 16, 4, 4)
    sigma = torch.tensor([SIGMA_MIN, 0.7])
    denoised = x - v * sigma.view(-1, 1, 1, 1)  # comfy.model_sampling.CONST.calculate_denoised
    assert torch.allclose(velocity_from_denoised(x, denoised, sigma), v, atol=1e-3)


def test_masked_loss_ignores_the_prediction_outside_the_mask_and_averages_inside():
    target, prediction = torch.randn(1, 16, 4, 12), torch.randn(1, 16, 4, 12)
    mask = panel_latent_mask(layout(3), [2, 3], 4, 12)
    loss = masked_velocity_loss(prediction, target, mask)
    changed = prediction.clone()
    changed[..., :4] += 100.0  # what the model says for the reference panel
    assert torch.equal(masked_velocity_loss(changed, target, mask), loss)
    assert loss == pytest.approx(float(((prediction - target)[..., 4:] ** 2).mean()), rel=1e-5)
    assert masked_velocity_loss(prediction, target) == pytest.approx(float(((prediction - target) ** 2).mean()))
    with pytest.raises(ValueError, match="empty"):
        masked_velocity_loss(prediction, target, torch.zeros(1, 1, 4, 12))


def test_reference_rules_leave_a_panel_to_generate_and_are_seeded():
    g = torch.Generator().manual_seed(1)
    assert reference_panels(3, "first", g) == [1]
    seen = {rule: set() for rule in REFERENCE_RULES}
    for _ in range(200):
        for rule in REFERENCE_RULES:
            seen[rule].add(tuple(reference_panels(4, rule, g)))
    assert seen["any one"] == {(1,), (2,), (3,), (4,)}
    assert all(len(r) == 3 for r in seen["all but one"]) and len(seen["all but one"]) == 4
    sizes = {len(r) for r in seen["any k of n"]}
    assert sizes == {1, 2, 3}  # never all four
    a = [reference_panels(5, "any k of n", torch.Generator().manual_seed(7)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    with pytest.raises(ValueError, match="1 panel"):
        reference_panels(1, "first", g)
    with pytest.raises(ValueError, match="rule"):
        reference_panels(3, "middle", g)


@pytest.mark.parametrize("arrangement", ["row", "column", "grid"])
def test_panel_mask_follows_the_layout_boxes_in_latent_cells(arrangement):
    lay = layout(3, 32, arrangement)
    h, w = lay.canvas_h // 8, lay.canvas_w // 8
    for panel in lay.panels:
        mask = panel_latent_mask(lay, [panel.number], h, w)
        assert mask.shape == (1, 1, h, w)
        b = panel.box
        assert torch.equal(mask[0, 0, b.y // 8:(b.y + b.h) // 8, b.x // 8:(b.x + b.w) // 8], torch.ones(4, 4))
        assert float(mask.sum()) == 16.0
    assert float(panel_latent_mask(lay, [], h, w).sum()) == 0.0


def test_reference_masks_keep_references_and_empty_cells_clean_and_take_the_loss_on_outputs():
    lay = layout(3, 32, "grid")  # 2 x 2 grid: the fourth cell is empty
    keep, loss = reference_masks(lay, [1], 8, 8)
    assert float(loss.sum()) == 32.0 and torch.equal(keep, 1.0 - loss)
    assert float(keep[0, 0, 4:, 4:].sum()) == 16.0  # the empty cell is not generated
    assert reference_masks(lay, [], 8, 8) == (None, None)
    with pytest.raises(ValueError, match="every panel"):
        reference_masks(lay, [1, 2, 3], 8, 8)


def test_a_layout_from_another_canvas_is_refused():
    with pytest.raises(ValueError, match="64x32 px canvas"):
        check_layout_fits(layout(2, 32), 4, 12)
    with pytest.raises(ValueError, match="not in the layout"):
        panel_latent_mask(layout(2, 32), [3], 4, 8)


def test_draws_are_reproducible_cover_every_set_each_epoch_and_mix_half_and_half_per_example():
    def run(seed):
        draws = TrainingDraws(seed, 5, 3, "mixed", "any one", "flux shift", flux_shift_mu(64))
        steps = [draws.step(1) for _ in range(400)]
        return steps, draws.noise((1, 16, 4, 12))

    (a, noise_a), (b, noise_b), (c, _) = run(0), run(0), run(1)
    assert a == b and torch.equal(noise_a, noise_b) and a != c
    order = [s.examples[0].index for s in a]
    for epoch in range(0, 400, 5):
        assert sorted(order[epoch:epoch + 5]) == [0, 1, 2, 3, 4]
    assert all(s.objective == "mixed" for s in a)
    with_refs = [s for s in a if s.examples[0].references]
    assert 150 < len(with_refs) < 250
    assert all(len(s.examples[0].references) == 1 for s in with_refs)
    # each example of a batch is drawn joint or with references on its own: most batches of 8 hold both
    batches = [TrainingDraws(seed, 5, 3, "mixed", "any one", "uniform").step(8) for seed in range(40)]
    both = [b for b in batches if {bool(e.references) for e in b.examples} == {True, False}]
    assert len(both) > 30
    joint = TrainingDraws(0, 2, 2, "joint", "first", "uniform")
    assert all(joint.step(2).objective == "joint" for _ in range(10))
    assert all(e.references == () for _ in range(10) for e in joint.step(2).examples)
    with pytest.raises(ValueError, match="objective"):
        TrainingDraws(0, 2, 2, "both", "first", "uniform")


@pytest.mark.parametrize("arrangement", ["row", "column", "grid"])
def test_reference_tokens_split_takes_the_references_out_and_lays_the_outputs_out_as_reference_tokens_does(
        arrangement):
    """Objective `reference tokens`: panel latents cropped by the layout boxes; the outputs side by side in reading
    order (a column for a column set), the same canvas Reference Tokens makes from the whole set."""
    from iclora_pack.nodes.core.layout import ROLE_INPUT, ROLE_OUTPUT
    from iclora_pack.nodes.core.reference_tokens import generation_layout
    from iclora_pack.nodes.core.training import split_for_reference_tokens

    whole = build_layout(["input"] * 4, 32, 16, arrangement, 2 if arrangement == "grid" else 0,
                         2 if arrangement == "grid" else 0)
    latent = torch.arange(whole.canvas_h // 8 * whole.canvas_w // 8, dtype=torch.float32).reshape(
        1, 1, whole.canvas_h // 8, whole.canvas_w // 8).repeat(1, 2, 1, 1)
    refs, target = split_for_reference_tokens(latent, whole, (3, 1))

    def cells(number):
        box = whole.panels[number - 1].box
        return latent[..., box.y // 8:(box.y + box.h) // 8, box.x // 8:(box.x + box.w) // 8]

    assert [r.tolist() for r in refs] == [cells(1).tolist(), cells(3).tolist()]  # reading order
    roles = [ROLE_INPUT if n in (1, 3) else ROLE_OUTPUT for n in (1, 2, 3, 4)]
    generated = generation_layout(build_layout(roles, 32, 16, arrangement, 2 if arrangement == "grid" else 0,
                                               2 if arrangement == "grid" else 0))
    assert (target.shape[-1] * 8, target.shape[-2] * 8) == (generated.canvas_w, generated.canvas_h)
    for source, place in zip((2, 4), generated.panels):
        box = place.box
        assert torch.equal(target[..., box.y // 8:(box.y + box.h) // 8, box.x // 8:(box.x + box.w) // 8],
                           cells(source))
    with pytest.raises(ValueError, match="at least one reference"):
        split_for_reference_tokens(latent, whole, (1, 2, 3, 4))


def test_reference_tokens_objective_draws_references_like_with_references():
    from iclora_pack.nodes.core.training import OBJECTIVE_TOKENS

    tokens = TrainingDraws(5, 4, 3, OBJECTIVE_TOKENS, "first", "uniform")
    refs = TrainingDraws(5, 4, 3, "with references", "first", "uniform")
    for _ in range(6):
        a, b = tokens.step(2), refs.step(2)
        assert [(e.index, e.sigma, e.references) for e in a.examples] == \
            [(e.index, e.sigma, e.references) for e in b.examples]
        assert all(e.references == (1,) for e in a.examples)


def test_x0_weighting_scores_the_clean_prediction_and_velocity_leaves_the_velocities_alone():
    """`x0 (sigma squared)`: sigma x the velocity error is the clean prediction's error, per sample."""
    from iclora_pack.nodes.core.training import LOSS_X0, weigh_velocities

    generator = torch.Generator().manual_seed(4)
    clean, noise = torch.randn(2, 4, 6, 6, generator=generator), torch.randn(2, 4, 6, 6, generator=generator)
    sigma = torch.tensor([0.3, 0.8])
    noisy = noisy_canvas(clean, noise, sigma)
    denoised = clean + 0.1 * torch.randn(clean.shape, generator=generator)
    prediction = velocity_from_denoised(noisy, denoised, sigma)
    a, b = weigh_velocities(prediction, velocity_target(clean, noise), sigma, LOSS_X0)
    assert torch.allclose(masked_velocity_loss(a, b), ((denoised - clean) ** 2).mean(), atol=1e-6)
    same = weigh_velocities(prediction, velocity_target(clean, noise), sigma, "velocity")
    assert same[0] is prediction
    with pytest.raises(ValueError, match="unknown loss weighting"):
        weigh_velocities(prediction, prediction, sigma, "l1")
