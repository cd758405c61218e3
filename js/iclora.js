// In-Context LoRA Panels: what the editor needs while wiring.
// - Panel Concatenate shows image inputs up to one past the last connected one, and draws its panel layout.
// - Joint Prompt Builder shows one text box per panel of the connected layout (or of the preset).
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const CONCAT = "ICLoRA_PanelConcatenate";
const BUILDER = "ICLoRA_JointPromptBuilder";
const MAX_IMAGES = 8;
const MAX_PANEL_TEXTS = 8;
const IMAGE_INPUT = /^image_(\d+)$/;
const DIAGRAM_HEIGHT = 120;
const COLORS = { I: "#4682dc", O: "#f09628", empty: "#3a3d45" };

let presets = {};

function widgetValue(node, name, fallback) {
  const widget = node.widgets?.find((w) => w.name === name);
  return widget ? widget.value : fallback;
}

// Mirrors nodes/layout.py (parse_order, grid_shape) for the preview; the backend stays the authority.
export function planLayout({ images, outputSlots, order, arrangement, rows, cols }) {
  const letters = String(order || "").toUpperCase().replace(/[\s,;]/g, "").split("").filter(Boolean);
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
  if (!node.inputs) return;
  let last = 0;
  for (const input of node.inputs) {
    const match = input.name.match(IMAGE_INPUT);
    if (match && input.link != null) last = Math.max(last, Number(match[1]));
  }
  const wanted = Math.min(last + 1, MAX_IMAGES);
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

function drawDiagram(node, ctx) {
  if (node.flags?.collapsed) return;
  const plan = concatPlan(node);
  const top = node.size[1] - DIAGRAM_HEIGHT + 8;
  const width = node.size[0] - 20;
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

function builderPanelCount(node) {
  const input = node.inputs?.find((i) => i.name === "layout");
  const link = input?.link != null ? node.graph?.links?.[input.link] ?? node.graph?.links?.get?.(input.link) : null;
  const source = link ? node.graph.getNodeById(link.origin_id) : null;
  if (source?.comfyClass === CONCAT || source?.type === CONCAT) {
    const plan = concatPlan(source);
    if (!plan.error) return plan.roles.length;
  }
  const preset = presets[widgetValue(node, "preset", "")];
  return preset ? preset.panel_count : MAX_PANEL_TEXTS;
}

function syncPanelTexts(node) {
  const count = builderPanelCount(node);
  if (node.__iclPanelCount === count) return;
  node.__iclPanelCount = count;
  for (const widget of node.widgets || []) {
    const match = widget.name.match(/^panel_(\d+)$/);
    if (!match) continue;
    widget.hidden = Number(match[1]) > count;
    if (widget.element) widget.element.style.display = widget.hidden ? "none" : "";
    // The layout still reserves a hidden DOM widget's minimum height in this frontend: give it none while hidden.
    if (widget.computeLayoutSize && !widget.__iclLayoutSize) widget.__iclLayoutSize = widget.computeLayoutSize;
    if (widget.__iclLayoutSize) {
      widget.computeLayoutSize = widget.hidden ? () => ({ minHeight: 0, maxHeight: 0, minWidth: 0 })
                                               : widget.__iclLayoutSize;
    }
  }
  node.setSize([node.size[0], node.computeSize()[1]]);
  node.setDirtyCanvas(true, true);
}

app.registerExtension({
  name: "in-context-lora-panels.editor",
  async setup() {
    try {
      const response = await api.fetchApi("/iclora/presets");
      if (response.ok) presets = await response.json();
    } catch (error) {
      console.warn("In-Context LoRA Panels: presets unavailable, showing every panel box", error);
    }
    for (const node of app.graph?._nodes || []) if (node.comfyClass === BUILDER) syncPanelTexts(node);
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name === CONCAT) {
      const computeSize = nodeType.prototype.computeSize;
      nodeType.prototype.computeSize = function (out) {
        const size = computeSize.apply(this, arguments);
        size[1] += DIAGRAM_HEIGHT;
        return size;
      };
      const onDrawForeground = nodeType.prototype.onDrawForeground;
      nodeType.prototype.onDrawForeground = function (ctx) {
        onDrawForeground?.apply(this, arguments);
        drawDiagram(this, ctx);
      };
      const onConnectionsChange = nodeType.prototype.onConnectionsChange;
      nodeType.prototype.onConnectionsChange = function (side, slot, connected) {
        onConnectionsChange?.apply(this, arguments);
        if (side === LiteGraph.INPUT && !app.configuringGraph) syncImageInputs(this);
      };
      const onConfigure = nodeType.prototype.onConfigure;
      nodeType.prototype.onConfigure = function () {
        onConfigure?.apply(this, arguments);
        queueMicrotask(() => syncImageInputs(this));
      };
      const onNodeCreated = nodeType.prototype.onNodeCreated;
      nodeType.prototype.onNodeCreated = function () {
        onNodeCreated?.apply(this, arguments);
        syncImageInputs(this);
      };
    }
    if (nodeData.name === BUILDER) {
      const onDrawForeground = nodeType.prototype.onDrawForeground;
      nodeType.prototype.onDrawForeground = function () {
        onDrawForeground?.apply(this, arguments);
        syncPanelTexts(this);  // cheap: only acts when the panel count changed
      };
      const onNodeCreated = nodeType.prototype.onNodeCreated;
      nodeType.prototype.onNodeCreated = function () {
        onNodeCreated?.apply(this, arguments);
        syncPanelTexts(this);
      };
    }
  },
});

window.ICLoRA = { planLayout };
