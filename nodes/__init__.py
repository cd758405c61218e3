"""The pack's Python code: `core/` is plain logic with no ComfyUI import, `host/` adapts it to ComfyUI."""
