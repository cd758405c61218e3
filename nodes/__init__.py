"""The pack's modules: plain tensor logic (no ComfyUI import) beside thin V3 node classes."""
