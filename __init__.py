"""In-Context LoRA for ComfyUI: panel canvases, joint prompts, in-context sampling and splitting for FLUX sets.

ComfyUI imports this file under a name derived from the folder, which differs between a git clone and a registry
install, so everything below uses relative imports. ComfyUI is imported only inside `comfy_entrypoint`, which
keeps the pure logic in `nodes/core/` importable (and testable) without ComfyUI.
"""

WEB_DIRECTORY = "./js"


async def comfy_entrypoint():
    from .nodes.host.extension import InContextLoRAExtension
    from .nodes.host.routes import register_routes

    register_routes()
    return InContextLoRAExtension()


__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
