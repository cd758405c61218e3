"""Train In-Context LoRA: a thin V3 adapter over `trainer.train_in_context_lora`."""

from __future__ import annotations

import logging

import comfy.utils
import folder_paths
from comfy.weight_adapter import adapter_maps
from comfy_api.latest import io

from ..core.training import DISTRIBUTIONS, LOSS_WEIGHTINGS, OBJECTIVES, REFERENCE_RULES, TRAINER_NODE
from .sockets import CATEGORY, PanelLayoutSocket
from .trainer import DTYPES, NO_LORA, OPTIMIZERS, TrainerSettings, train_in_context_lora

log = logging.getLogger(__name__)

LoraModel = io.Custom("LORA_MODEL")
LossMap = io.Custom("LOSS_MAP")


def _send_progress_text(text: str) -> None:
    """The loss under the node's progress bar, where the server can show it (not in a headless run)."""
    try:
        from comfy_execution.utils import get_executing_context
        from server import PromptServer

        context = get_executing_context()
        node_id = getattr(context, "node_id", None)
        server = getattr(PromptServer, "instance", None)
        if server is not None and node_id is not None and hasattr(server, "send_progress_text"):
            server.send_progress_text(text, node_id)
    except Exception:  # noqa: BLE001 (the text is a courtesy: training goes on without it)
        pass


class TrainInContextLoRA(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        defaults = TrainerSettings()
        return io.Schema(
            node_id="ICLoRA_TrainInContextLoRA",
            display_name=TRAINER_NODE,
            category=CATEGORY,
            description="Trains a LoRA on Panel Set Dataset's sets with flow matching: every panel generated "
                        "(joint), some panels kept clean as references with the loss on the others, or both. "
                        "Seeded, with right gradient checkpointing; outputs as stock Train LoRA.",
            inputs=[
                io.Model.Input("model", tooltip="The FLUX model to train on (UNETLoader: flux1-dev, or "
                                                "flux1-fill-dev)."),
                io.Latent.Input("latents", tooltip="Panel Set Dataset's latents: one canvas per set."),
                io.Conditioning.Input("positive", tooltip="Panel Set Dataset's positive: one caption per set."),
                io.Combo.Input("objective", options=list(OBJECTIVES), default=defaults.objective,
                               tooltip="mixed: each example joint or with references, half and half (use "
                                       "reference mode and joint mode later). joint: every panel noised (the "
                                       "paper). with references: some panels stay clean, loss on the others. "
                                       "reference tokens: for edit models, references as clean context tokens (use "
                                       "Reference Tokens later)."),
                io.Combo.Input("references", options=list(REFERENCE_RULES), default=defaults.references,
                               tooltip="Which panels may be the clean references: panel 1, one random panel, all "
                                       "but one random panel, or a random number of random panels."),
                io.Combo.Input("timesteps", options=list(DISTRIBUTIONS), default=defaults.timesteps,
                               tooltip="Noise levels: FLUX's resolution shift as its sampling uses, logit-normal "
                                       "(SD3), or uniform (stock Train LoRA)."),
                io.Int.Input("batch_size", default=defaults.batch_size, min=1, max=64,
                             tooltip="Sets per step, each with its own caption and noise level."),
                io.Int.Input("grad_accumulation_steps", default=defaults.grad_accumulation_steps, min=1, max=1024,
                             tooltip="Batches added up before each optimizer step."),
                io.Int.Input("steps", default=defaults.steps, min=1, max=100000,
                             tooltip="Optimizer steps to train."),
                io.Float.Input("learning_rate", default=defaults.learning_rate, min=1e-7, max=1.0, step=1e-6,
                               tooltip="Learning rate; the paper's authors use 1e-4."),
                io.Int.Input("rank", default=defaults.rank, min=1, max=128,
                             tooltip="LoRA rank; the paper's authors use 16."),
                io.Combo.Input("optimizer", options=list(OPTIMIZERS), default=defaults.optimizer,
                               tooltip="The optimizer."),
                io.Int.Input("seed", default=defaults.seed, min=0, max=0xFFFFFFFFFFFFFFFF,
                             control_after_generate=True,
                             tooltip="Seeds the LoRA's start, set order, noise levels, noise and references: the "
                                     "same seed gives the same LoRA."),
                io.Combo.Input("training_dtype", options=list(DTYPES), default=defaults.training_dtype,
                               tooltip="Compute dtype of the model while training."),
                io.Combo.Input("lora_dtype", options=list(DTYPES), default=defaults.lora_dtype,
                               tooltip="Dtype of the LoRA weights."),
                io.Combo.Input("algorithm", options=list(adapter_maps), default=defaults.algorithm,
                               tooltip="The adapter ComfyUI builds (LoRA as stock Train LoRA)."),
                io.Boolean.Input("gradient_checkpointing", default=defaults.gradient_checkpointing,
                                 tooltip="Recompute each block in the backward pass to save memory; the "
                                         "gradients stay exactly right."),
                io.Combo.Input("existing_lora", options=[*folder_paths.get_filename_list("loras"), NO_LORA],
                               default=NO_LORA,
                               tooltip="A LoRA from the loras folder to continue training, or [None] for a new "
                                       "one."),
                PanelLayoutSocket.Input("layout", optional=True,
                                        tooltip="Panel Set Dataset's panel_layout: where the panels are (needed unless "
                                                "the objective is joint)."),
                io.Vae.Input("vae", optional=True,
                             tooltip="Only for a FLUX Fill model: encodes the Fill conditioning of the "
                                     "references."),
                io.Boolean.Input("references_at_timestep_zero", default=False, optional=True,
                                 tooltip="FLUX.2-style models on ComfyUI 0.33+: the clean references modulated at "
                                         "timestep 0 (OminiControl); sample reference mode with the same setting."),
                io.Combo.Input("loss_weighting", options=list(LOSS_WEIGHTINGS), default=LOSS_WEIGHTINGS[0],
                               optional=True,
                               tooltip="velocity: plain flow matching. x0: the error weighted by sigma squared, as "
                                       "stock Train LoRA; teaches a new rule for text-only sets faster (joint)."),
            ],
            outputs=[
                io.Model.Output("model_with_lora", display_name="model_with_lora",
                                tooltip="The model with the trained LoRA loaded, as LoraLoaderModelOnly loads it."),
                LoraModel.Output("lora", display_name="lora", tooltip="The LoRA, for Save LoRA Weights."),
                LossMap.Output("loss", display_name="loss", tooltip="The loss of each step, for Plot Loss Graph."),
                io.Int.Output("trained_steps", display_name="steps",
                              tooltip="Steps trained, with an existing LoRA's, for Save LoRA Weights."),
            ],
        )

    @classmethod
    def execute(cls, model, latents, positive, objective, references, timesteps, batch_size,
                grad_accumulation_steps, steps, learning_rate, rank, optimizer, seed, training_dtype, lora_dtype,
                algorithm, gradient_checkpointing, existing_lora, layout=None, vae=None,
                references_at_timestep_zero=False, loss_weighting=LOSS_WEIGHTINGS[0]) -> io.NodeOutput:
        settings = TrainerSettings(
            objective=objective, references=references, timesteps=timesteps, batch_size=batch_size,
            grad_accumulation_steps=grad_accumulation_steps, steps=steps, learning_rate=learning_rate, rank=rank,
            optimizer=optimizer, seed=seed, training_dtype=training_dtype, lora_dtype=lora_dtype,
            algorithm=algorithm, gradient_checkpointing=gradient_checkpointing, existing_lora=existing_lora,
            references_at_timestep_zero=references_at_timestep_zero, loss_weighting=loss_weighting)
        progress = comfy.utils.ProgressBar(steps)

        def on_step(step: int, loss: float) -> None:
            progress.update_absolute(step, steps)
            _send_progress_text(f"step {step}/{steps}  loss {loss:.4f}")

        result = train_in_context_lora(model=model, latents=latents, positive=positive, layout=layout, vae=vae,
                                       settings=settings, on_step=on_step)
        return io.NodeOutput(result.model, result.lora, result.loss_map, result.steps)


TRAINER_NODES: list[type[io.ComfyNode]] = [TrainInContextLoRA]
