"""The ComfyUI side of the pack: socket types, the V3 node classes, sampling on ComfyUI, the editor's routes.

Every module here may import ComfyUI; each node class is thin and crosses into `..core` with keyword arguments.
"""
