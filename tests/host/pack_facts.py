"""Facts about the pack that host tests check against ComfyUI's view of it."""

PACK_FOLDER_NAME = "in-context-lora-panels"  # what a Comfy Registry install unpacks into ([project].name)
OUR_NODE_IDS = ("ICLoRA_PanelConcatenate", "ICLoRA_OutputSlotMask", "ICLoRA_PanelSplit", "ICLoRA_JointPromptBuilder",
                "ICLoRA_InContextSampler", "ICLoRA_PanelSetDataset", "ICLoRA_PanelSetExport",
                "ICLoRA_TrainInContextLoRA")
CATEGORY = "In-Context LoRA"

SKIP_REASON = "host tier skipped: set COMFYUI_PATH to a ComfyUI checkout to run it"


def skip_without_comfyui() -> None:
    """Called at the top of each host test module: one skip line for the module, not one per test."""
    import os

    import pytest

    if not os.environ.get("COMFYUI_PATH"):
        pytest.skip(SKIP_REASON, allow_module_level=True)
