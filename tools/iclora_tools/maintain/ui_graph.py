"""Just enough of the editor's UI workflow format to write the shipped workflows: nodes, typed links, groups."""

from __future__ import annotations

import uuid

from .. import ROOT

PRESETS_JSON = ROOT / "nodes" / "core" / "presets.json"
# How a workflow opens: the whole graph (2060 x 1110 canvas units, the note top left) in a 1600 x 1000 window
# beside the editor's side bar and top bar, above the zoom below which the editor stops drawing node contents (0.6).
FLUX_SNAP = "FLUX / SD3 / Qwen-Image / most DiTs (16 px)"  # Panel Concatenate's snap_for (nodes/core/families.py)
VIEW_SCALE = 0.7
VIEW_OFFSET = (90, 85)


class Graph:
    """Just enough of the editor's UI format: nodes with widget values, typed links, groups."""

    def __init__(self, cnr_id: str, version: str):
        self.nodes: list[dict] = []
        self.links: list[list] = []
        self.groups: list[dict] = []
        self.properties = {"cnr_id": cnr_id, "ver": version}

    def node(self, type_: str, pos, size, widgets=None, outputs=(), title=None, ours=False) -> dict:
        node = {"id": len(self.nodes) + 1, "type": type_, "pos": list(pos), "size": list(size), "flags": {},
                "order": len(self.nodes), "mode": 0, "inputs": [],
                "outputs": [{"name": name, "type": kind, "links": [], "slot_index": i}
                            for i, (name, kind) in enumerate(outputs)],
                "properties": {"Node name for S&R": type_, **(self.properties if ours else {})},
                "widgets_values": list(widgets or [])}
        if title:
            node["title"] = title
        self.nodes.append(node)
        return node

    def link(self, source: dict, slot: int, target: dict, input_name: str, kind: str) -> None:
        link_id = len(self.links) + 1
        self.links.append([link_id, source["id"], slot, target["id"], len(target["inputs"]), kind])
        target["inputs"].append({"name": input_name, "type": kind, "link": link_id})
        source["outputs"][slot]["links"].append(link_id)

    def group(self, title: str, box, color: str) -> None:
        self.groups.append({"id": len(self.groups) + 1, "title": title, "bounding": list(box), "color": color,
                            "font_size": 24, "flags": {}})

    def to_dict(self, name: str, models: list[dict], view: tuple = (VIEW_SCALE, VIEW_OFFSET)) -> dict:
        workflow_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"in-context-lora-panels/{name}"))  # stable per file
        return {"id": workflow_id, "revision": 0, "last_node_id": len(self.nodes), "last_link_id": len(self.links),
                "nodes": self.nodes, "links": self.links, "groups": self.groups, "config": {},
                "extra": {"ds": {"scale": view[0], "offset": list(view[1])}}, "version": 0.4,
                "models": models}
