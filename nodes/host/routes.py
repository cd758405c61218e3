"""HTTP routes for the editor extension (imports ComfyUI's server; registered only when a server is running)."""

from __future__ import annotations

import logging

from ..core.prompts import load_presets

PRESETS_ROUTE = "/iclora/presets"


def preset_summary() -> dict:
    """What the editor needs to lay out the Joint Prompt Builder: each preset's panel count and grid."""
    return {preset_id: {"panel_count": p.panel_count, "grid": list(p.grid), "arrangement": p.arrangement,
                        "panel_size": list(p.panel_size), "display_name": p.display_name}
            for preset_id, p in load_presets().items()}


def register_routes() -> bool:
    try:
        from aiohttp import web
        from server import PromptServer
    except ImportError:
        return False
    instance = getattr(PromptServer, "instance", None)
    if instance is None:  # ComfyUI used as a library (tests, the headless runner): no editor to serve
        return False

    @instance.routes.get(PRESETS_ROUTE)
    async def presets(request):
        return web.json_response(preset_summary())

    logging.getLogger(__name__).debug("registered %s", PRESETS_ROUTE)
    return True
