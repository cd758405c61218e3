"""The pack as a ComfyUI V3 extension: the list of nodes it registers."""

from comfy_api.latest import ComfyExtension, io

from .dataset_nodes import DATASET_NODES
from .panel_nodes import PANEL_NODES
from .prompt_nodes import PROMPT_NODES
from .sampler_node import SAMPLER_NODES
from .trainer_node import TRAINER_NODES


class InContextLoRAExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [*PANEL_NODES, *PROMPT_NODES, *SAMPLER_NODES, *DATASET_NODES, *TRAINER_NODES]
