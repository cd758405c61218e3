"""In-Context Sampler: a thin V3 adapter over `sampler.run_in_context_sampler`."""

from __future__ import annotations

import logging

import comfy.samplers
from comfy_api.latest import io

from ..core.sampling_math import MODES
from .sampler import SAMPLER_NODE, SamplerSettings, run_in_context_sampler
from .sockets import CATEGORY, PanelLayoutSocket

log = logging.getLogger(__name__)


class InContextSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ICLoRA_InContextSampler",
            display_name=SAMPLER_NODE,
            category=CATEGORY,
            description="Encodes the canvas, generates its output slots while keeping the references (or the whole "
                        "canvas in joint mode), decodes, and pastes your reference pixels back.",
            inputs=[
                io.Model.Input("model", tooltip="FLUX.1-dev with the task LoRA (LoraLoaderModelOnly); any model "
                                                "ComfyUI can sample works."),
                io.Conditioning.Input("positive", tooltip="The joint prompt (Joint Prompt Builder's conditioning)."),
                io.Conditioning.Input("negative", tooltip="For FLUX: ConditioningZeroOut of the positive (cfg 1)."),
                io.Vae.Input("vae", tooltip="The VAE that matches the model (FLUX: ae.safetensors)."),
                io.Image.Input("image", tooltip="The canvas from Panel Concatenate."),
                io.Combo.Input("mode", options=list(MODES), default="masked",
                               tooltip="joint: generate every panel (text-only sets, the paper's strongest "
                                       "setting). masked: the paper's method, references re-noised each step "
                                       "with the starting noise (stock ComfyUI). consistent: references re-noised "
                                       "with the noise the model sees in them, so outputs follow them better at "
                                       "the same cost (and Fill models get them as conditioning too). harmonized: "
                                       "masked plus resampling (costs more evaluations). fill: for FLUX.1-Fill "
                                       "models, references given as clean conditioning. reference: references "
                                       "kept clean at every step, for a LoRA trained with references (Train "
                                       "In-Context LoRA)."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Noise seed; with batch_size > 1, canvas i uses seed + i."),
                io.Int.Input("steps", default=20, min=1, max=10000, tooltip="Sampling steps (the paper: 20)."),
                io.Float.Input("cfg", default=1.0, min=0.0, max=100.0, step=0.1, round=0.01,
                               tooltip="Classifier-free guidance; 1.0 for FLUX.1-dev (guidance lives in the "
                                       "conditioning)."),
                io.Combo.Input("sampler_name", options=list(comfy.samplers.KSampler.SAMPLERS), default="euler",
                               tooltip="ComfyUI's samplers."),
                io.Combo.Input("scheduler", options=list(comfy.samplers.KSampler.SCHEDULERS), default="simple",
                               tooltip="ComfyUI's schedulers ('simple' for FLUX)."),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="1.0 generates the slots from scratch; lower keeps some of their start "
                                       "picture (Panel Concatenate's slot_fill)."),
                io.Int.Input("resample_count", default=3, min=1, max=20,
                             tooltip="harmonized: how many times each resampled step is taken (1 = none). Cost: "
                                     "about (count - 1) x fraction x steps extra evaluations; 3 over the whole "
                                     "schedule costs 3x and cut the oracle benchmark's error 7x (see README)."),
                io.Float.Input("resample_fraction", default=1.0, min=0.0, max=1.0, step=0.05,
                               tooltip="harmonized: the share of the schedule, from the start, that is resampled. "
                                       "The late steps matter too: 1.0 is the most consistent."),
                io.Float.Input("reference_strength", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="1.0 keeps the references exactly. Lower lets them be lightly re-rendered "
                                       "in the last (1 - strength) of the schedule (style transfer); paste-back is "
                                       "then skipped."),
                io.Int.Input("seam_feather", default=0, min=0, max=256,
                             tooltip="Soften the mask over about 2x this many px at panel borders. It replaces "
                                     "any feather the connected mask has (never blurs twice); 0 uses the mask as "
                                     "connected."),
                io.Boolean.Input("paste_references", default=True,
                                 tooltip="After decoding, put your reference pixels back so they come out "
                                         "untouched instead of through a VAE round trip."),
                io.Int.Input("paste_blend", default=0, min=0, max=256,
                             tooltip="Fade the pasted references in over about 2x this many px inside the seam."),
                io.Int.Input("batch_size", default=1, min=1, max=64,
                             tooltip="Canvases to generate, each with its own seed (seed + i)."),
                io.Mask.Input("mask", optional=True,
                              tooltip="From Output Slot Mask: 1 = generate. Without it, the layout's output "
                                      "slots are generated."),
                PanelLayoutSocket.Input("layout", optional=True,
                                        tooltip="From Panel Concatenate: checks the canvas size and gives the "
                                                "output slots when no mask is connected."),
                io.Boolean.Input("references_at_timestep_zero", default=False, optional=True,
                                 tooltip="Reference mode on FLUX.2-style models (ComfyUI 0.33+): the references "
                                         "modulated at timestep 0, for a LoRA trained that way."),
            ],
            outputs=[
                io.Image.Output("decoded", display_name="image", tooltip="The decoded canvas (batch_size x canvas "
                                                                        "batch), references pasted back."),
                io.Latent.Output("latent", display_name="latent", tooltip="The sampled latent."),
                io.String.Output("report", display_name="report",
                                 tooltip="Mode, model evaluations used, batch and paste-back."),
            ],
        )

    @classmethod
    def execute(cls, model, positive, negative, vae, image, mode, seed, steps, cfg, sampler_name, scheduler,
                denoise, resample_count, resample_fraction, reference_strength, seam_feather, paste_references,
                paste_blend, batch_size, mask=None, layout=None, references_at_timestep_zero=False) -> io.NodeOutput:
        settings = SamplerSettings(
            mode=mode, seed=seed, steps=steps, cfg=cfg, sampler_name=sampler_name, scheduler=scheduler,
            denoise=denoise, resample_count=resample_count, resample_fraction=resample_fraction,
            reference_strength=reference_strength, seam_feather=seam_feather, paste_references=paste_references,
            paste_blend=paste_blend, batch_size=batch_size, reference_timestep_zero=references_at_timestep_zero)
        result = run_in_context_sampler(model=model, positive=positive, negative=negative, vae=vae, image=image,
                                        mask=mask, layout=layout, settings=settings)
        log.info("%s: %s", SAMPLER_NODE, result.report)
        return io.NodeOutput(result.images, result.latent, result.report)


SAMPLER_NODES: list[type[io.ComfyNode]] = [InContextSampler]
