"""Read every node's schema from the pack's source without ComfyUI: a recording stand-in for `comfy_api.latest`.

The unit tier may not import ComfyUI, yet the compatibility guard and the generated English locale need what each
node's `define_schema` declares. `read_schemas(pack_root)` installs, only for the duration of the call, stand-in
modules for ComfyUI's packages in `sys.modules`: `comfy_api.latest.io` records each `Input`/`Output`/`Schema`
with the keyword arguments it was given; anything else a node module imports from ComfyUI (`comfy.samplers`,
`node_helpers`, ...) is a placeholder that remembers its dotted path, so an option list taken from ComfyUI
(`list(comfy.samplers.KSampler.SAMPLERS)`) reads as `{"from_comfyui": "comfy.samplers.KSampler.SAMPLERS"}`.
Then the pack is imported under a private name, its extension's node list is asked for, and every module the call
added is removed again.

`describe_node(cls_schema)` turns a schema (the stand-in's or ComfyUI's real `io.Schema`, both expose the same
attributes) into plain JSON; the host tier checks that both readings agree, so the stand-in cannot drift.
"""

from __future__ import annotations

import asyncio
import enum
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import re
import subprocess
import sys
import types
from contextlib import contextmanager
from pathlib import Path

from .. import tools_importable_env
from ..runner.graph_to_prompt import WIDGET_TYPES

HOST_ROOTS = ("comfy", "comfy_api", "comfy_execution", "comfy_extras", "comfy_config", "folder_paths",
              "node_helpers", "latent_preview")  # not `server`: without it the pack registers no routes, as in tests
MARKER = "<from ComfyUI: "
PROBE = "_iclora_schema_probe_"


class HostValue:
    """Anything taken from ComfyUI outside `comfy_api.latest`: remembers where it came from, never fails."""

    def __init__(self, path: str):
        self._path = path

    def __getattr__(self, name: str) -> HostValue:
        if name.startswith("__"):
            raise AttributeError(name)
        return HostValue(f"{self._path}.{name}")

    def __call__(self, *args, **kwargs) -> HostValue:
        return HostValue(f"{self._path}()")

    def __iter__(self):
        return iter([f"{MARKER}{self._path}>"])  # list(...) of a ComfyUI option list: one marker naming it

    def __mro_entries__(self, bases):
        return (object,)

    def __repr__(self) -> str:
        return f"HostValue({self._path})"


class _HostModule(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return HostValue(f"{self.__name__}.{name}")


def _io_type_name(class_name: str) -> str:
    known = {"Vae": "VAE", "Clip": "CLIP", "ClipVision": "CLIP_VISION", "ClipVisionOutput": "CLIP_VISION_OUTPUT"}
    return known.get(class_name) or re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", class_name).upper()


class _Recorded:
    """An Input or Output of the stand-in: every keyword argument becomes an attribute, like ComfyUI's own."""

    io_type = "*"
    is_input = True

    def __init__(self, id=None, *args, **kwargs):  # noqa: A002  (ComfyUI's own parameter name)
        self.id = id
        for name, value in zip(self.positional, args):
            kwargs.setdefault(name, value)
        if self.io_type == "COMBO" and self.is_input:
            options = kwargs.get("options")
            if isinstance(options, type) and hasattr(options, "__members__"):  # an Enum, as ComfyUI allows
                kwargs["options"] = [member.value for member in options]
        for name, value in kwargs.items():
            setattr(self, name, value)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return None

    def get_io_type(self):
        return getattr(self, "widget_type", None) or self.io_type


def _comfy_type(name: str, io_type: str | None = None) -> type:
    io_type = io_type or _io_type_name(name)
    combo = io_type == "COMBO"
    inp = type("Input", (_Recorded,), {"io_type": io_type, "is_input": True,
                                       "positional": ("options", "display_name") if combo else ("display_name",)})
    out = type("Output", (_Recorded,), {"io_type": io_type, "is_input": False,
                                        "positional": ("display_name",)})
    return type(name, (), {"io_type": io_type, "Input": inp, "Output": out})


class _Schema:
    def __init__(self, **kwargs):
        self.inputs, self.outputs, self.hidden = [], [], []
        self.display_name = self.description = None
        self.category = "sd"
        for name, value in kwargs.items():
            setattr(self, name, value if value is not None else getattr(self, name, None))

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return None


class _ComfyNode:
    @classmethod
    def GET_SCHEMA(cls):  # noqa: N802  (ComfyUI's name)
        return cls.define_schema()


class _Anything:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def _io_module() -> types.ModuleType:
    io = _HostModule("comfy_api.latest.io")
    types_ = {name: _comfy_type(name) for name in (
        "Boolean", "Int", "Float", "String", "Combo", "Image", "Mask", "Latent", "Model", "Clip", "Vae",
        "Conditioning", "Noise", "Sampler", "Sigmas", "Guider", "ClipVision", "Audio", "Video", "Webcam",
        "Point", "FaceAnalysis", "BBOX", "SEGS", "AnyType", "MultiCombo")}
    types_["MultiCombo"] = _comfy_type("MultiCombo", "COMBO")
    types_["AnyType"] = _comfy_type("AnyType", "*")
    for name, cls in types_.items():
        setattr(io, name, cls)
    io.Custom = lambda io_type: _comfy_type("Custom", io_type)
    io.Schema = _Schema
    io.ComfyNode = _ComfyNode
    io.NodeOutput = _Anything
    io.__getattr__ = lambda name: _comfy_type(name) if name[:1].isupper() else HostValue(f"comfy_api.latest.io.{name}")
    return io


def _latest_module(io: types.ModuleType) -> types.ModuleType:
    latest = _HostModule("comfy_api.latest")
    ui = _HostModule("comfy_api.latest.ui")
    for name in ("PreviewImage", "PreviewMask", "PreviewText", "SavedImages", "SavedResult", "ImageSaveHelper"):
        setattr(ui, name, _Anything)

    class ComfyExtension:
        async def on_load(self):
            pass

    latest.io, latest.ui, latest.ComfyExtension = io, ui, ComfyExtension
    return latest


class _HostFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers every import of a ComfyUI package with a stand-in module."""

    def __init__(self, fixed: dict[str, types.ModuleType]):
        self.fixed = fixed

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in HOST_ROOTS:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return self.fixed.get(spec.name) or _HostModule(spec.name)

    def exec_module(self, module):
        module.__path__ = []


@contextmanager
def standin_comfyui():
    """Stand-in ComfyUI modules in sys.modules for the `with` block; the pack's modules are dropped again."""
    io = _io_module()
    latest = _latest_module(io)
    fixed = {"comfy_api.latest": latest, "comfy_api.latest.io": io, "comfy_api.latest.ui": latest.ui}
    before = set(sys.modules)
    clash = [m for m in before if m.split(".")[0] in HOST_ROOTS]
    if clash:
        raise RuntimeError(f"ComfyUI is already imported ({clash[0]}): read the real schemas instead")
    finder = _HostFinder(fixed)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for name in set(sys.modules) - before:  # the stand-ins and the probed pack; torch & co. stay imported
            if name.split(".")[0] in HOST_ROOTS or name.startswith(PROBE):
                del sys.modules[name]


def node_classes_from_source(pack_root: Path) -> list[type]:
    """The pack's node classes, as its extension lists them. Call inside `standin_comfyui()` (or a real ComfyUI)."""
    name = f"{PROBE}{abs(hash(str(pack_root)))}"
    spec = importlib.util.spec_from_file_location(name, pack_root / "__init__.py",
                                                  submodule_search_locations=[str(pack_root)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    extension = asyncio.run(module.comfy_entrypoint())
    return list(asyncio.run(extension.get_node_list()))


def _plain(value):
    if isinstance(value, list | tuple):
        values = [_plain(v) for v in value]
        if values and isinstance(values[0], str) and values[0].startswith(MARKER):
            source = {"from_comfyui": values[0][len(MARKER):-1]}
            # ComfyUI's list and then the node's own entries, e.g. the loras folder's files + ["[None]"]
            return {**source, "then": values[1:]} if len(values) > 1 else source
        return values
    if isinstance(value, HostValue):
        return {"from_comfyui": value._path}
    if isinstance(value, enum.Enum):
        return value.value
    return value


def describe_input(item) -> dict:
    io_type = str(item.get_io_type())
    record = {"name": item.id, "type": io_type, "required": not bool(item.optional)}
    widget = io_type in WIDGET_TYPES and not getattr(item, "force_input", None)
    record["widget"] = widget
    for key in ("default", "min", "max", "step", "round", "options", "multiline", "control_after_generate"):
        value = getattr(item, key, None)
        if value is not None and not (key == "multiline" and value is False):
            record[key] = _plain(value)
    return record


def describe_node(schema) -> dict:
    """One node's public schema as plain JSON: what saved workflows and API prompts depend on, plus the texts."""
    inputs = [describe_input(i) for i in (schema.inputs or [])]
    outputs = [{"name": o.id, "type": str(o.io_type), "is_list": bool(o.is_output_list),
                "display_name": o.display_name} for o in (schema.outputs or [])]
    return {
        "node_id": schema.node_id,
        "display_name": schema.display_name,
        "category": schema.category,
        "description": schema.description or "",
        "output_node": bool(getattr(schema, "is_output_node", False)),
        "inputs": inputs,
        "outputs": outputs,
        "tooltips": {
            "inputs": {i.id: i.tooltip for i in (schema.inputs or []) if i.tooltip},
            "outputs": {o.id: o.tooltip for o in (schema.outputs or []) if o.tooltip},
        },
        "input_display_names": {i.id: i.display_name for i in (schema.inputs or []) if i.display_name},
    }


def read_schemas(pack_root: Path) -> dict[str, dict]:
    """Every node of the pack at `pack_root`, described from its source with the stand-in (no ComfyUI).

    Where real ComfyUI is already imported in this process (both test tiers in one pytest run), the stand-in
    cannot take its place, so the reading runs in a fresh interpreter instead."""
    if any(m.split(".")[0] in HOST_ROOTS for m in sys.modules):
        return _read_schemas_in_fresh_interpreter(Path(pack_root).resolve())
    with standin_comfyui():
        classes = node_classes_from_source(Path(pack_root).resolve())
        described = [describe_node(cls.define_schema()) for cls in classes]
    return {node["node_id"]: node for node in described}


def _read_schemas_in_fresh_interpreter(pack_root: Path) -> dict[str, dict]:
    code = ("import json, sys; from pathlib import Path; "
            "from iclora_tools.maintain.schema_standin import read_schemas; "
            "print(json.dumps(read_schemas(Path(sys.argv[1]))))")
    done = subprocess.run([sys.executable, "-c", code, str(pack_root)], capture_output=True, text=True, check=False,
                          env=tools_importable_env())
    if done.returncode != 0:
        raise RuntimeError(f"reading the schemas in a fresh interpreter failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)
