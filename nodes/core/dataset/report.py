"""The dataset's report: what was used, what was skipped and why, and each set's caption, so a user can check the
caption format before spending hours on training."""

from __future__ import annotations

from ..prompts import T5_TOKEN_BUDGET
from .plan import DatasetPlan

CAPTION_EXCERPT = 160
"""Characters of each caption the report shows: the prefix, the opening and the first markers, where a format
mistake shows first."""


def caption_excerpt(caption: str, limit: int = CAPTION_EXCERPT) -> str:
    """A caption on one line, quoted; a long one cut at a word boundary near `limit`, with an ellipsis and its
    full length."""
    text = caption.replace("\r", "\\r").replace("\n", "\\n")
    if len(text) <= limit:
        return f'"{text}"'
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit * 2 // 3:
        cut = cut[:space]
    return f'"{cut.rstrip()}…" ({len(caption)} characters)'


def _token_summary(plan: DatasetPlan, token_counts: list[int], budget: int) -> str:
    over = [s.source.name for s, n in zip(plan.sets, token_counts) if n > budget]
    return (f"caption T5 tokens: min {min(token_counts)}, mean {sum(token_counts) / len(token_counts):.0f}, "
            f"max {max(token_counts)}" + (f"; over {budget} (FLUX's training length): {', '.join(over)}"
                                          if over else ""))


def describe_plan(plan: DatasetPlan, token_counts: list[int] | None = None, budget: int = T5_TOKEN_BUDGET) -> str:
    """The report: what was used, what was skipped and why, and each set's caption with its source and length."""
    width, height = plan.canvas_size
    lines = [f"{len(plan.sets)} set(s) used from '{plan.label}' ({plan.folder_format}); {plan.panel_count} "
             f"panel(s) per canvas as {plan.rows}x{plan.cols}, each {plan.panel_w}x{plan.panel_h} px; every canvas "
             f"{width}x{height} px"]
    lines += [f"note: {n}" for n in plan.notes]
    if plan.skipped:
        lines.append(f"{len(plan.skipped)} skipped:")
        lines += [f"  - {s.name}: {s.reason}" for s in plan.skipped]
    if token_counts:
        lines.append(_token_summary(plan, token_counts, budget))
    for s, n in zip(plan.sets, token_counts or [None] * len(plan.sets)):
        tokens = f", {n} tokens" if n is not None else ""
        lines.append(f"  {s.source.name}: caption from {s.source.caption_source}{tokens}")
        lines.append(f"    {caption_excerpt(s.caption)}")
        lines += [f"    warning: {w}" for w in s.warnings]
    return "\n".join(lines)
