"""The in-context trainer's math: flow-matching targets, timesteps, which panels are references, and the masks.

Pure torch, no ComfyUI: the trainer node (`nodes/host/trainer.py`) and the sampler's matched reference mode both
import it, so what the sampler does with a reference is exactly what the trainer taught.

Conventions (ComfyUI's CONST model sampling, which FLUX uses): a canvas at noise level sigma is
x_t = (1 - sigma) * x0 + sigma * noise, the model predicts the velocity noise - x0, and sigma runs from 0 (clean)
to 1 (pure noise). Panel numbers count from 1 in reading order, as users type them and `PanelLayout` stores them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .dataset import SET_FOLDERS, DatasetPlan
from .layout import ROLE_INPUT, PanelLayout, build_layout
from .masks import slot_mask

TRAINER_NODE = "Train In-Context LoRA"

DISTRIBUTIONS = ("flux shift", "logit-normal", "uniform")
"""How training draws noise levels. `flux shift`: uniform, then shifted towards noise by FLUX's resolution-dependent
shift, the same curve FLUX sampling spaces its steps with (so training sees the levels sampling visits);
`logit-normal`: sigmoid of a standard normal (SD3, OminiControl); `uniform`: every level alike (stock Train LoRA)."""

OBJECTIVE_JOINT = "joint"
OBJECTIVE_REFERENCES = "with references"
OBJECTIVE_MIXED = "mixed"
OBJECTIVE_TOKENS = "reference tokens"
OBJECTIVES = (OBJECTIVE_MIXED, OBJECTIVE_JOINT, OBJECTIVE_REFERENCES, OBJECTIVE_TOKENS)
"""`joint`: every panel noised, loss everywhere (the paper); `with references`: some panels stay clean and the loss
is on the others; `mixed`: each example one of the two, half and half; `reference tokens`: for edit models, the
reference panels go in as clean context tokens (as Reference Tokens gives them) and a canvas of the other panels
alone is noised and scored."""
REFERENCE_OBJECTIVES = (OBJECTIVE_REFERENCES, OBJECTIVE_TOKENS)
"""The objectives whose examples have reference panels."""

LOSS_VELOCITY = "velocity"
LOSS_X0 = "x0 (sigma squared)"
LOSS_WEIGHTINGS = (LOSS_VELOCITY, LOSS_X0)
"""How the velocity error is weighted per noise level. `velocity`: plain flow matching (ai-toolkit, OminiControl);
`x0 (sigma squared)`: the error times sigma squared, which is the error of the clean prediction (stock Train
LoRA's MSE on ComfyUI's denoised output). On the learned benchmark's few-shot, `x0` with objective `joint`
teaches a new rule for text-only sets further in 300 steps (0.23 against 0.34)."""

REFERENCE_RULES = ("first", "any one", "all but one", "any k of n")
"""Which panels of a set may be references: panel 1; one panel drawn at random; every panel but one drawn at
random; a random number k (1 to n-1) of random panels."""

SIGMA_MIN = 1e-3
"""Lowest noise level drawn: the velocity is recovered from ComfyUI's clean prediction as (x_t - x0_hat) / sigma,
which loses float32 precision as sigma goes to 0."""

FLUX_BASE_SHIFT, FLUX_MAX_SHIFT = 0.5, 1.15
FLUX_BASE_TOKENS, FLUX_MAX_TOKENS = 256, 4096
"""FLUX's shift: mu grows linearly with the image token count from 0.5 at 256 tokens to 1.15 at 4096 (ComfyUI's
ModelSamplingFlux node and the reference sampler)."""


def flux_shift_mu(token_count: int, base_shift: float = FLUX_BASE_SHIFT, max_shift: float = FLUX_MAX_SHIFT) -> float:
    """FLUX's resolution-dependent shift mu for an image of `token_count` 2x2-latent-cell tokens."""
    slope = (max_shift - base_shift) / (FLUX_MAX_TOKENS - FLUX_BASE_TOKENS)
    return token_count * slope + base_shift - slope * FLUX_BASE_TOKENS


def latent_token_count(latent_h: int, latent_w: int, patch: int = 2) -> int:
    """Image tokens FLUX makes of a `latent_h` x `latent_w` latent (2 x 2 cells per token, edges padded)."""
    return math.ceil(latent_h / patch) * math.ceil(latent_w / patch)


def time_shift(mu: float, t: torch.Tensor) -> torch.Tensor:
    """FLUX's shift of a uniform time t to a noise level: e^mu / (e^mu + 1/t - 1); mu 0 is the identity."""
    if mu == 0.0:
        return t
    return math.exp(mu) / (math.exp(mu) + (1.0 / t - 1.0))


def sample_sigmas(generator: torch.Generator, count: int, distribution: str, shift: float = 0.0) -> torch.Tensor:
    """`count` noise levels in [SIGMA_MIN, 1], float32, drawn from `generator` only. `shift` is FLUX's mu (see
    `flux_shift_mu`), used by `flux shift` alone; the other distributions ignore it."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"unknown timestep distribution {distribution!r}; one of {', '.join(DISTRIBUTIONS)}")
    if distribution == "logit-normal":
        t = torch.sigmoid(torch.randn(count, generator=generator, dtype=torch.float64))
    else:
        t = torch.rand(count, generator=generator, dtype=torch.float64)
    if distribution == "flux shift":
        t = time_shift(shift, t.clamp_min(1e-12))
    return t.clamp(SIGMA_MIN, 1.0).float()


def _per_sample(sigma: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    sigma = torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
    return sigma.reshape(-1, *([1] * (like.ndim - 1))) if sigma.ndim else sigma


def noisy_canvas(clean: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor | float,
                 keep_clean: torch.Tensor | None = None) -> torch.Tensor:
    """The canvas the model sees: (1 - sigma) * clean + sigma * noise, one sigma per sample (`[B]` or a scalar),
    except where `keep_clean` (latent-size mask broadcastable to `clean`, 1 = reference) holds the clean latent."""
    s = _per_sample(sigma, clean)
    noised = (1.0 - s) * clean + s * noise
    if keep_clean is None:
        return noised
    keep = keep_clean.to(device=clean.device, dtype=clean.dtype)
    return keep * clean + (1.0 - keep) * noised


def velocity_target(clean: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Flow matching's target: d x_t / d sigma = noise - clean."""
    return noise - clean


def velocity_from_denoised(noisy: torch.Tensor, denoised: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """The velocity a CONST model predicted, from the clean estimate ComfyUI returns (x0_hat = x_t - sigma * v)."""
    return (noisy - denoised) / _per_sample(sigma, noisy)


def weigh_velocities(prediction: torch.Tensor, target: torch.Tensor, sigma: torch.Tensor | float,
                     weighting: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Both velocities scaled for `weighting`: unchanged for `velocity`; times sigma for `x0 (sigma squared)`, so
    their squared difference is sigma^2 times the velocity error, the clean prediction's error."""
    if weighting == LOSS_VELOCITY:
        return prediction, target
    if weighting != LOSS_X0:
        raise ValueError(f"unknown loss weighting {weighting!r}; one of {', '.join(LOSS_WEIGHTINGS)}")
    scale = _per_sample(sigma, prediction)
    return prediction * scale, target * scale


def masked_velocity_loss(prediction: torch.Tensor, target: torch.Tensor,
                         loss_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error over the latent elements where `loss_mask` is 1 (broadcastable to `prediction`, e.g.
    `[B, 1, h, w]`; None = everywhere). What the model predicts where the mask is 0 does not change the loss."""
    squared = (prediction.float() - target.float()) ** 2
    if loss_mask is None:
        return squared.mean()
    weight = loss_mask.to(device=squared.device, dtype=squared.dtype).expand_as(squared)
    total = weight.sum()
    if float(total) <= 0.0:
        raise ValueError("the loss mask is empty: no output panel to learn from")
    return (squared * weight).sum() / total


def reference_panels(panel_count: int, rule: str, generator: torch.Generator) -> list[int]:
    """The panel numbers (from 1, sorted) that are references in one example, by `rule` (see REFERENCE_RULES);
    at least one panel is always left to generate. Draws from `generator` only (nothing for `first`)."""
    if rule not in REFERENCE_RULES:
        raise ValueError(f"unknown reference rule {rule!r}; one of {', '.join(REFERENCE_RULES)}")
    if panel_count < 2:
        raise ValueError(f"a set of {panel_count} panel(s) has no panel left to generate next to a reference")
    if rule == "first":
        return [1]
    if rule == "any one":
        k = 1
    elif rule == "all but one":
        k = panel_count - 1
    else:
        k = int(torch.randint(1, panel_count, (1,), generator=generator))
    chosen = torch.randperm(panel_count, generator=generator)[:k]
    return sorted(int(i) + 1 for i in chosen)


def check_layout_fits(layout: PanelLayout, latent_h: int, latent_w: int, scale: int = 8) -> None:
    """Raise ValueError unless `layout` describes a canvas whose latent is `latent_h` x `latent_w` (VAE `scale`)."""
    if (layout.canvas_w, layout.canvas_h) != (latent_w * scale, latent_h * scale):
        raise ValueError(f"the layout is for a {layout.canvas_w}x{layout.canvas_h} px canvas but the latents are "
                         f"{latent_w}x{latent_h} cells ({latent_w * scale}x{latent_h * scale} px)")


def panel_latent_mask(layout: PanelLayout, numbers: Sequence[int], latent_h: int, latent_w: int,
                      scale: int = 8) -> torch.Tensor:
    """`[1, 1, latent_h, latent_w]` float mask, 1 on the latent cells of the panels `numbers` (from 1); a cell
    counts by the share of its `scale` x `scale` pixels inside those panels (0 or 1 for 16 px aligned panels)."""
    check_layout_fits(layout, latent_h, latent_w, scale)
    known = {p.number for p in layout.panels}
    unknown = sorted(set(numbers) - known)
    if unknown:
        raise ValueError(f"panel(s) {unknown} are not in the layout (panels 1 to {len(layout.panels)})")
    if not numbers:
        return torch.zeros(1, 1, latent_h, latent_w)
    pixels = slot_mask(layout, numbers=list(numbers))
    return pixels.reshape(1, latent_h, scale, latent_w, scale).mean(dim=(2, 4)).unsqueeze(0)


@dataclass(frozen=True)
class ExampleDraw:
    """One example of a step: which set, its noise level, and the panels kept clean (empty for joint)."""

    index: int
    sigma: float
    references: tuple[int, ...]


@dataclass(frozen=True)
class StepDraw:
    objective: str
    examples: tuple[ExampleDraw, ...]


class TrainingDraws:
    """Every random choice of a training run, from one seeded generator in a fixed order (set order, objective,
    noise level, references; `noise` for the noise), so the same seed and settings give the same LoRA. Sets are
    visited in shuffled epochs: each set once before any set twice."""

    def __init__(self, seed: int, set_count: int, panel_count: int, objective: str, rule: str,
                 distribution: str, shift: float = 0.0, reference_share: float = 0.5):
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; one of {', '.join(OBJECTIVES)}")
        if set_count < 1:
            raise ValueError("no set to train on")
        self.generator = torch.Generator().manual_seed(int(seed) % (2 ** 63))
        self.set_count, self.panel_count = set_count, panel_count
        self.objective, self.rule = objective, rule
        self.distribution, self.shift = distribution, shift
        self.reference_share = reference_share
        self._order: list[int] = []

    def _next_set(self) -> int:
        if not self._order:
            self._order = torch.randperm(self.set_count, generator=self.generator).tolist()
        return self._order.pop(0)

    def step(self, batch_size: int) -> StepDraw:
        """The examples of one optimizer step. For `mixed` each example is drawn joint or with references on its
        own, so every step of a batch learns both (on the learned benchmark's few-shot this beats one objective
        per step: joint 0.34 against 0.53, references 0.14 against 0.17)."""
        examples = []
        for _ in range(batch_size):
            index = self._next_set()
            sigma = float(sample_sigmas(self.generator, 1, self.distribution, self.shift)[0])
            objective = self.objective
            if objective == OBJECTIVE_MIXED:
                draw = float(torch.rand(1, generator=self.generator, dtype=torch.float64))
                objective = OBJECTIVE_REFERENCES if draw < self.reference_share else OBJECTIVE_JOINT
            references = (tuple(reference_panels(self.panel_count, self.rule, self.generator))
                          if objective in REFERENCE_OBJECTIVES else ())
            examples.append(ExampleDraw(index, sigma, references))
        return StepDraw(self.objective, tuple(examples))

    def noise(self, shape: Sequence[int]) -> torch.Tensor:
        return torch.randn(tuple(shape), generator=self.generator)


def reference_masks(layout: PanelLayout, references: Sequence[int], latent_h: int, latent_w: int,
                    scale: int = 8) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(keep_clean, loss_mask) for one example, `[1, 1, h, w]` each: the loss on the panels that are not
    references, everything else (references, and grid cells no panel fills) kept clean. No references (joint):
    (None, None), noise and loss everywhere."""
    if not references:
        return None, None
    outputs = [p.number for p in layout.panels if p.number not in set(references)]
    if not outputs:
        raise ValueError("every panel is a reference: nothing is left to generate")
    loss_mask = panel_latent_mask(layout, outputs, latent_h, latent_w, scale)
    return 1.0 - loss_mask, loss_mask


def split_for_reference_tokens(latent: torch.Tensor, layout: PanelLayout, references: Sequence[int],
                               scale: int = 8) -> tuple[list[torch.Tensor], torch.Tensor]:
    """For objective `reference tokens`: the reference panels' latents (reading order), and the other panels
    side by side on a canvas of their own (a row; a column for a column set), as Reference Tokens and Panel
    Reassemble lay out the outputs-only canvas. `latent` is `[B, C, h, w]` of the whole set."""
    check_layout_fits(layout, latent.shape[-2], latent.shape[-1], scale)
    chosen = set(references)

    def crop(panel) -> torch.Tensor:
        box = panel.box
        if box.x % scale or box.y % scale or box.w % scale or box.h % scale:
            raise ValueError(f"panel {panel.number} does not sit on whole latent cells ({scale} px)")
        return latent[..., box.y // scale:(box.y + box.h) // scale, box.x // scale:(box.x + box.w) // scale]

    refs = [crop(p) for p in layout.panels if p.number in chosen]
    outputs = [crop(p) for p in layout.panels if p.number not in chosen]
    if not refs or not outputs:
        raise ValueError("reference tokens need at least one reference and one panel to generate")
    return refs, torch.cat(outputs, dim=-2 if layout.arrangement == "column" else -1)


def dataset_layout(plan: DatasetPlan) -> PanelLayout:
    """The layout every canvas of a Panel Set Dataset shares (panels in the set's file order; a flat folder of
    whole canvases is one panel), as `build_canvas` places them."""
    arrangement = plan.settings.arrangement if plan.folder_format == SET_FOLDERS else "row"
    return build_layout([ROLE_INPUT] * plan.panel_count, plan.panel_w, plan.panel_h, arrangement, plan.rows,
                        plan.cols)
