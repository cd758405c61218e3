"""One error type for every bad input, so each message names the node, the input and the fix."""

from __future__ import annotations


class PanelInputError(ValueError):
    """A user-fixable problem with one node input.

    ComfyUI shows the message in the error dialog as-is, so it is written for the person at the graph:
    which node, which input, what is wrong, and what to do about it.
    """

    def __init__(self, node: str, input_name: str, problem: str, fix: str):
        self.node = node
        self.input_name = input_name
        self.problem = problem
        self.fix = fix
        super().__init__(f"{node}: {problem} (input '{input_name}'). {fix}")
