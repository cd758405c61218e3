// In-Context LoRA Panels: what the editor needs while wiring.
// - Panel Concatenate shows image inputs up to one past the last connected one, and draws its panel layout.
// - Joint Prompt Builder shows one text box per panel of the connected layout (or of the preset).
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

// Node ids and the 'custom' preset option are saved in workflows, so the schema guard (schema/snapshot.json)
// keeps them fixed. How many image inputs and panel boxes there are is read from the nodes, never written here.
const CONCAT = "ICLoRA_PanelConcatenate";
const BUILDER = "ICLoRA_JointPromptBuilder";
const IMAGE_INPUT = /^image_(\d+)$/;
const PANEL_TEXT = /^panel_(\d+)$/;
const CUSTOM_FIELD = /^custom_/;
const CUSTOM = "custom";
const DIAGRAM_HEIGHT = 120;
const COLORS = { I: "#4682dc", O: "#f09628", empty: "#3a3d45" };

let presets = {};
// How many image_N inputs Panel Concatenate declares: the backend's MAX_IMAGES (nodes/core/canvas.py), counted in
// the node definition the server sends. (The builder's panel boxes are counted on the node itself.)
const limits = { images: 0 };

function numberedInputs(nodeData, pattern) {
  const inputs = { ...nodeData.input?.required, ...nodeData.input?.optional };
  return Object.keys(inputs).filter((name) => pattern.test(name)).length;
}

// Stock nodes ComfyUI renamed without registering a replacement (Save LoRA Weights: SaveLoRANode up to 0.3.x,
// SaveLoRA in 0.33), same inputs under both ids. A workflow naming either loads as the one this ComfyUI has; the
// runner's converter does the same (tools/iclora_tools/runner/graph_to_prompt.py, RENAMED_STOCK_NODES).
const RENAMED_STOCK_NODES = [["SaveLoRANode", "SaveLoRA"]];

function useHostNodeIds(graphData) {
  const registered = (type) => type in LiteGraph.registered_node_types;
  for (const node of graphData?.nodes ?? []) {
    if (registered(node.type)) continue;
    const names = RENAMED_STOCK_NODES.find((pair) => pair.includes(node.type));
    const other = names?.find(registered);
    if (other) node.type = other;
  }
}

function widgetValue(node, name, fallback) {
  const widget = node.widgets?.find((w) => w.name === name);
  return widget ? widget.value : fallback;
}

// Mirrors nodes/core/layout.py (parse_order, grid_shape) for the preview; the backend stays the authority.
// The separators are JavaScript's \s plus , and ; and the backend uses exactly that set (nodes/core/layout.py
// WHITESPACE), so a tab or a newline previews as the backend parses it.
const ORDER_SEPARATORS = /[\s,;]/g;

export function planLayout({ images, outputSlots, order, arrangement, rows, cols }) {
  const letters = String(order || "").replace(ORDER_SEPARATORS, "").toUpperCase().split("");
  let roles;
  if (letters.length) {
    if (letters.some((l) => l !== "I" && l !== "O")) return { error: "order: use I and O only" };
    roles = letters;
    const inputs = roles.filter((r) => r === "I").length;
    if (inputs !== images || roles.length - inputs !== outputSlots) {
      return { error: `order has ${inputs} I / ${roles.length - inputs} O` };
    }
  } else {
    roles = [...Array(images).fill("I"), ...Array(outputSlots).fill("O")];
  }
  const n = roles.length;
  if (n < 1) return { error: "no panels" };
  if (arrangement === "row") [rows, cols] = [1, n];
  else if (arrangement === "column") [rows, cols] = [n, 1];
  else if (rows && cols) {
    if (rows * cols < n) return { error: `${rows}x${cols} grid is too small` };
  } else if (cols) rows = Math.ceil(n / cols);
  else if (rows) cols = Math.ceil(n / rows);
  else {
    cols = Math.ceil(Math.sqrt(n));
    rows = Math.ceil(n / cols);
  }
  return { roles, rows, cols };
}

function connectedImages(node) {
  return (node.inputs || []).filter((i) => IMAGE_INPUT.test(i.name) && i.link != null).length;
}

function concatPlan(node) {
  return planLayout({
    images: connectedImages(node),
    outputSlots: widgetValue(node, "output_slots", 1),
    order: widgetValue(node, "order", ""),
    arrangement: widgetValue(node, "arrangement", "row"),
    rows: widgetValue(node, "grid_rows", 0),
    cols: widgetValue(node, "grid_cols", 0),
  });
}

// Keep image_1 .. image_(last connected + 1); unconnected ones past that are removed, missing ones added.
function syncImageInputs(node) {
  if (!node.inputs || !limits.images) return;
  let last = 0;
  for (const input of node.inputs) {
    const match = input.name.match(IMAGE_INPUT);
    if (match && input.link != null) last = Math.max(last, Number(match[1]));
  }
  const wanted = Math.min(last + 1, limits.images);
  for (let slot = node.inputs.length - 1; slot >= 0; slot--) {
    const match = node.inputs[slot].name.match(IMAGE_INPUT);
    if (match && Number(match[1]) > wanted && node.inputs[slot].link == null) node.removeInput(slot);
  }
  for (let k = 1; k <= wanted; k++) {
    if (!node.inputs.some((i) => i.name === `image_${k}`)) node.addInput(`image_${k}`, "IMAGE");
  }
  node.setSize([node.size[0], node.computeSize()[1]]);
  node.setDirtyCanvas(true, true);
}

function drawDiagram(node, ctx, y, fullWidth) {
  if (node.flags?.collapsed) return;
  const plan = concatPlan(node);
  const top = y + 8;
  const width = fullWidth - 20;
  const height = DIAGRAM_HEIGHT - 16;
  ctx.save();
  ctx.font = "11px sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  if (plan.error) {
    ctx.fillStyle = "#e06c75";
    ctx.fillText(plan.error, 10 + width / 2, top + height / 2);
    ctx.restore();
    return;
  }
  const panelW = widgetValue(node, "panel_width", 0) || 1;
  const panelH = widgetValue(node, "panel_height", 0) || 1;
  const aspect = (plan.cols * panelW) / (plan.rows * panelH);
  const drawW = Math.min(width, height * aspect);
  const drawH = drawW / aspect;
  const x0 = 10 + (width - drawW) / 2;
  const y0 = top + (height - drawH) / 2;
  const cellW = drawW / plan.cols;
  const cellH = drawH / plan.rows;
  for (let i = 0; i < plan.rows * plan.cols; i++) {
    const role = plan.roles[i] || "empty";
    const x = x0 + (i % plan.cols) * cellW;
    const y = y0 + Math.floor(i / plan.cols) * cellH;
    ctx.fillStyle = COLORS[role];
    ctx.fillRect(x + 2, y + 2, cellW - 4, cellH - 4);
    if (role !== "empty") {
      ctx.fillStyle = "#101114";
      ctx.fillText(`${i + 1} ${role === "I" ? "ref" : "gen"}`, x + cellW / 2, y + cellH / 2);
    }
  }
  ctx.restore();
}

function linkedSource(node, inputName) {
  const input = node.inputs?.find((i) => i.name === inputName);
  if (input?.link == null) return null;
  const link = node.graph?.links?.get?.(input.link) ?? node.graph?.links?.[input.link];
  return link ? node.graph.getNodeById(link.origin_id) : null;
}

function builderPanelCount(node) {
  const source = linkedSource(node, "layout");
  if (source?.comfyClass === CONCAT || source?.type === CONCAT) {
    const plan = concatPlan(source);
    if (!plan.error) return plan.roles.length;
  }
  const preset = presets[widgetValue(node, "preset", "")];
  if (preset) return preset.panel_count;
  return (node.widgets || []).filter((w) => PANEL_TEXT.test(w.name)).length;  // all of them
}

const NO_SIZE = () => ({ minHeight: 0, maxHeight: 0, minWidth: 0 });

const NO_HEIGHT = () => [0, -4];  // the classic layout adds 4 px under each widget

function setWidgetHidden(widget, hidden) {
  widget.hidden = hidden;
  // Nodes 2.0 in frontend 1.49 draws a widget unless its options say hidden (1.58's `hidden` setter writes both).
  if (widget.options && widget.options.hidden !== hidden) widget.options.hidden = hidden;
  if (widget.element) widget.element.style.display = hidden ? "none" : "";
  // Frontend 1.27 still lays out hidden widgets (a DOM widget at its minimum height, any other at a row's
  // height): give them none while hidden. Newer frontends skip hidden widgets and never ask.
  if (widget.computeLayoutSize && !widget.__iclLayoutSize) widget.__iclLayoutSize = widget.computeLayoutSize;
  if (widget.__iclLayoutSize) {
    widget.computeLayoutSize = hidden ? NO_SIZE : widget.__iclLayoutSize;
  } else if (hidden) {
    if (!("__iclComputeSize" in widget)) {
      widget.__iclComputeSize = Object.hasOwn(widget, "computeSize") ? widget.computeSize : undefined;
    }
    widget.computeSize = NO_HEIGHT;
  } else if ("__iclComputeSize" in widget) {
    if (widget.__iclComputeSize) widget.computeSize = widget.__iclComputeSize;
    else delete widget.computeSize;
  }
}

// A caption on each text box, so the summary reads apart from the panel texts: the Vue node renderer shows
// `label`; on the classic canvas, where a text box has no caption, it is drawn into the box's top-left corner.
function captionTextBox(widget, caption, color) {
  widget.label = caption;
  const box = widget.element ?? widget.inputEl;
  if (!box || box.tagName !== "TEXTAREA") return;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="14"><text x="0" y="10" ` +
    `font-family="sans-serif" font-size="10" fill="${color}">${caption}</text></svg>`;
  box.style.backgroundImage = `url("data:image/svg+xml,${encodeURIComponent(svg)}")`;
  box.style.backgroundRepeat = "no-repeat";
  box.style.backgroundPosition = "6px 3px";
  box.style.paddingTop = "16px";
  if (widget.name === "summary") box.style.borderLeft = `3px solid ${color}`;
}

function captionBuilder(node) {
  for (const widget of node.widgets || []) {
    const match = widget.name.match(PANEL_TEXT);
    if (widget.name === "summary") captionTextBox(widget, "summary: the whole set", "#8fd19e");
    else if (match) captionTextBox(widget, `panel ${match[1]}`, "#9aa4b2");
  }
}

// Show one text box per panel and the custom_* fields only for the custom preset. `keepHeight` (a loaded
// workflow) keeps the saved height when it is tall enough; otherwise the height changes by what the shown or
// hidden boxes need, so a node the user made taller stays that much taller.
function syncBuilder(node, { keepHeight = node.__iclLoading } = {}) {
  const count = builderPanelCount(node);
  const custom = widgetValue(node, "preset", "") === CUSTOM;
  const key = `${count}/${custom}`;
  if (node.__iclKey === key) return;
  const first = node.__iclKey === undefined;
  const before = node.computeSize()[1];
  node.__iclKey = key;
  for (const widget of node.widgets || []) {
    const match = widget.name.match(PANEL_TEXT);
    if (match) setWidgetHidden(widget, Number(match[1]) > count);
    else if (CUSTOM_FIELD.test(widget.name)) setWidgetHidden(widget, !custom);
  }
  // Nodes 2.0 in frontend 1.49 rereads a node's widgets (and their options.hidden) only when its list of widgets
  // changes length: empty it and put the same widgets back.
  if (node.widgets) {
    const widgets = [...node.widgets];
    node.widgets = [];
    node.widgets = widgets;
  }
  const needed = node.computeSize()[1];
  const height = keepHeight || first ? Math.max(keepHeight ? node.size[1] : 0, needed)
                                     : Math.max(needed, node.size[1] + needed - before);
  node.setSize([node.size[0], height]);
  node.setDirtyCanvas(true, true);
}

function connectedBuilders(concat) {
  const builders = [];
  for (const output of concat.outputs || []) {
    for (const id of output.links || []) {
      const link = concat.graph?.links?.get?.(id) ?? concat.graph?.links?.[id];
      const target = link ? concat.graph.getNodeById(link.target_id) : null;
      if (target?.comfyClass === BUILDER || target?.type === BUILDER) builders.push(target);
    }
  }
  return builders;
}

function refreshBuilders(concat) {
  for (const builder of connectedBuilders(concat)) syncBuilder(builder);
}

// Run `after` whenever the user changes a widget (both renderers call the widget's callback).
function onWidgetChange(node, after) {
  for (const widget of node.widgets || []) {
    const callback = widget.callback;
    widget.callback = function () {
      const result = callback?.apply(this, arguments);
      after(widget);
      return result;
    };
  }
}

function chain(prototype, method, after) {
  const original = prototype[method];
  prototype[method] = function () {
    const result = original?.apply(this, arguments);
    after.apply(this, arguments);
    return result;
  };
}

// The layout drawing is a custom widget (draw + computeSize, not saved, not sent): the classic canvas draws it
// among the widgets, and the Vue node renderer draws such a widget into a canvas of its own.
function addLayoutPreview(node) {
  const preview = node.addCustomWidget({
    name: "layout_preview",
    type: "iclora_layout_preview",
    value: "",
    serialize: false,
    options: { serialize: false },
    computeSize: (width) => [width, DIAGRAM_HEIGHT],
    draw: (ctx, owner, width, y) => drawDiagram(owner, ctx, y, width),
  });
  node.__iclPreview = preview;
}

function redrawPreview(node) {
  node.__iclPreview?.triggerDraw?.();  // the Vue renderer's redraw hook; the classic canvas redraws when dirty
  node.setDirtyCanvas(true, true);
}

function extendConcat(nodeType) {
  chain(nodeType.prototype, "onConnectionsChange", function (side) {
    if (side === LiteGraph.INPUT && !app.configuringGraph) {
      syncImageInputs(this);
      refreshBuilders(this);
      redrawPreview(this);
    }
  });
  chain(nodeType.prototype, "onConfigure", function () {
    queueMicrotask(() => syncImageInputs(this));
  });
  chain(nodeType.prototype, "onNodeCreated", function () {
    onWidgetChange(this, () => {
      refreshBuilders(this);
      redrawPreview(this);
    });
    addLayoutPreview(this);
    syncImageInputs(this);
  });
}

function extendBuilder(nodeType) {
  chain(nodeType.prototype, "onDrawForeground", function () {
    syncBuilder(this);  // cheap: only acts when the panel count or the preset changed
  });
  chain(nodeType.prototype, "onConnectionsChange", function (side) {
    if (side === LiteGraph.INPUT && !app.configuringGraph) syncBuilder(this);
  });
  chain(nodeType.prototype, "onConfigure", function () {
    // A loaded workflow keeps its saved height. Its panel count is known once the whole graph (the linked
    // layout) is configured; the editor may draw before that, so every sync until then keeps the height too.
    this.__iclKey = undefined;
    this.__iclLoading = true;
    queueMicrotask(() => {
      this.__iclKey = undefined;
      syncBuilder(this);
      this.__iclLoading = false;
    });
  });
  chain(nodeType.prototype, "onNodeCreated", function () {
    captionBuilder(this);
    syncBuilder(this);
    onWidgetChange(this, (widget) => {
      if (widget.name === "preset") syncBuilder(this);
    });
  });
}

app.registerExtension({
  name: "in-context-lora-panels.editor",
  async setup() {
    try {
      const response = await api.fetchApi("/iclora/presets");  // PRESETS_ROUTE in nodes/host/routes.py
      if (response.ok) presets = await response.json();
    } catch (error) {
      console.warn("In-Context LoRA Panels: presets unavailable, showing every panel box", error);
    }
    for (const node of app.graph?._nodes || []) {
      if (node.comfyClass !== BUILDER) continue;
      node.__iclKey = undefined;
      syncBuilder(node, { keepHeight: true });
    }
  },
  // Runs before the editor lists a workflow's missing node types (frontends 1.27 to 1.58 alike).
  async beforeConfigureGraph(graphData) {
    useHostNodeIds(graphData);
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name === CONCAT) {
      limits.images = numberedInputs(nodeData, IMAGE_INPUT);
      extendConcat(nodeType);
    }
    if (nodeData.name === BUILDER) extendBuilder(nodeType);
  },
});

window.ICLoRA = { planLayout };
