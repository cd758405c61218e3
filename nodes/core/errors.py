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


def quoted(value: object, limit: int = 60) -> str:
    """A user's value as an error message quotes it: on one line, and cut to an excerpt when long, so that a
    300 KB string pasted by mistake gives a readable message instead of a wall of text."""
    text = str(value).replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    if len(text) <= limit:
        return f"'{text}'"
    return f"'{text[:limit]}…' ({len(str(value))} characters)"


def kind_of(value: object) -> str:
    """What a wrongly typed input holds, in words: an API client can send a literal where a link belongs."""
    if isinstance(value, str):
        return f"the text {quoted(value)}"
    if isinstance(value, dict):
        return "a dictionary"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} item(s)"
    if value is None:
        return "nothing"
    return f"a {type(value).__name__}"
