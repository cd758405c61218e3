"""Run a workflow headlessly, or a whole batch of sets over several ComfyUI servers, and write panels and sheets.

One set, in this process, through ComfyUI's own executor:

    python tools/run_workflow.py workflows/film-storyboard-text-only.json --comfyui /path/to/ComfyUI \\
        --models /path/to/ComfyUI/models --summary "In a quiet harbour town" --panel 1="<Mia> ..." --seed 7

A batch (a JSONL or CSV jobs file), spread over running ComfyUI servers (or in this process without --server):

    python tools/run_workflow.py --jobs sets.jsonl --server http://gpu1:8188 --server http://gpu2:8188 --out sets/

Every argument (and every line of a jobs file) is checked before ComfyUI is started or contacted. With --tiny-demo
it builds tiny random FLUX-architecture models (seconds, no downloads) and uses them in place of the real ones, to
check that an install works end to end; the pictures are noise by design.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from pathlib import Path

from ..comfyui import inprocess as comfy_inprocess
from .sets import SHEET, GraphRefused, SetError, prepare_prompt, run_graph_in_process, stage_references, write_set
from .workflow_api import MAX_PANEL_TEXTS, WorkflowError, override_problems, read_workflow, workflow_facts


def parse_panels(items: list[str]) -> tuple[dict[int, str], list[str]]:
    panels, problems = {}, []
    for item in items:
        number, equals, text = item.partition("=")
        if not equals or not number.strip().isdigit():
            problems.append(f"--panel takes N=TEXT with N a panel number from 1 to {MAX_PANEL_TEXTS}, got {item!r}")
        elif int(number) in panels:
            problems.append(f"--panel {int(number)} is given twice")
        else:
            panels[int(number)] = text
    return panels, problems


def check_arguments(options) -> list[str]:
    """Everything wrong with the command line, in words, found before ComfyUI starts (all of it at once)."""
    problems = []
    in_process = not options.server
    if options.jobs and options.workflow:
        problems.append("give a workflow or --jobs, not both")
    if not options.jobs and not options.workflow:
        problems.append("give a workflow file (e.g. workflows/film-storyboard-text-only.json) or --jobs FILE")
    if options.server and not options.jobs:
        problems.append("--server runs a jobs file: add --jobs FILE (one line per set)")
    for url in options.server:
        if not url.startswith(("http://", "https://")):
            problems.append(f"--server {url}: give the address as http://HOST:PORT")
    if options.server:
        try:
            import aiohttp  # noqa: F401
        except ImportError:
            problems.append("--server needs aiohttp to talk to ComfyUI: pip install aiohttp (ComfyUI's own "
                            "requirements include it)")
    if len(set(options.server)) != len(options.server):
        problems.append("a --server is given twice")
    if in_process:
        if options.comfyui is None:
            problems.append("--comfyui is needed to run in this process (or give --server URLs)")
        elif not (options.comfyui / "nodes.py").is_file():
            problems.append(f"--comfyui: {options.comfyui} is not a ComfyUI folder (no nodes.py there)")
    if options.models is not None and not options.models.is_dir():
        problems.append(f"--models: {options.models} is not a folder")
    if options.out.exists() and not options.out.is_dir():
        problems.append(f"--out: {options.out} is a file, not a folder")
    if options.steps is not None and options.steps < 1:
        problems.append(f"--steps must be 1 or more, got {options.steps}")
    if options.seed is not None and options.seed < 0:
        problems.append(f"--seed must be 0 or more, got {options.seed}")
    if options.jobs:
        if options.summary is not None or options.panel or options.seed is not None or options.image:
            problems.append("--summary, --panel, --seed and --image are per set in a batch: put them in the jobs "
                            "file")
        if not options.jobs.is_file():
            problems.append(f"--jobs: {options.jobs} does not exist")
        else:  # every bad line now, with the rest, rather than after a missing package is installed
            from .batch import jobs as batch_jobs

            try:
                batch_jobs.load_jobs(options.jobs)
            except batch_jobs.JobsFileError as error:
                problems.append(str(error))
        return problems
    panels, panel_problems = parse_panels(options.panel)
    problems += panel_problems
    for image in options.image:
        if not Path(image).is_file():
            problems.append(f"--image: {image} does not exist")
    if options.workflow is not None:
        if not options.workflow.is_file():
            problems.append(f"{options.workflow} does not exist")
        else:
            try:
                facts = workflow_facts(read_workflow(options.workflow))
            except WorkflowError as error:
                problems.append(str(error))
            else:
                problems += [f"{options.workflow.name}: {p}" for p in override_problems(
                    facts, options.summary, panels, options.seed, options.steps, len(options.image))]
    return problems


def run_one(options) -> int:
    """One set in this process; writes the generated panels (under the names ComfyUI saved them with) and a
    contact sheet of the whole set, references marked."""
    panels, _ = parse_panels(options.panel)
    work = Path(tempfile.mkdtemp(prefix="iclora-run-"))
    nodes, execution, _ = start(options, work)
    try:
        prompt, shape = prepare_prompt(read_workflow(options.workflow), nodes.NODE_CLASS_MAPPINGS,
                                       summary=options.summary, panels=panels, seed=options.seed, steps=options.steps,
                                       references=stage_references(options.image, work / "input"),
                                       tiny_demo=options.tiny_demo)
        pictures = run_graph_in_process(execution, work, prompt, tiny_demo=options.tiny_demo, echo_errors=True)
        files, _ = write_set(options.out, pictures, shape)
    except GraphRefused as error:
        print(f"{options.workflow.name}: ComfyUI refused the graph:", *str(error).splitlines(), sep="\n  ",
              file=sys.stderr)
        return 2
    except WorkflowError as error:
        print(f"{options.workflow.name}: {error}", file=sys.stderr)
        return 2
    except SetError as error:  # ComfyUI's own message was printed as it happened
        print(f"{options.workflow.name}: the graph failed, nothing written: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(files) - 1} panels and {SHEET} to {options.out}")
    return 0


def start(options, work: Path):
    if options.tiny_demo:
        modules = comfy_inprocess.start_tiny_comfyui(options.comfyui.resolve(), work)
    else:
        modules = comfy_inprocess.start_comfyui(options.comfyui.resolve(), work, options.models, options.cpu)
    if "ICLoRA_PanelConcatenate" not in modules[0].NODE_CLASS_MAPPINGS:
        sys.exit("the pack failed to load into ComfyUI; see the log above")
    return modules


def run_batch(options) -> int:
    from .batch import jobs as batch_jobs
    from .batch import run as batch_run

    try:
        jobs = batch_jobs.load_jobs(options.jobs)
    except batch_jobs.JobsFileError as error:
        print(error, file=sys.stderr)
        return 2
    settings = batch_run.Options(out=options.out, tiny_demo=options.tiny_demo, steps=options.steps,
                                 timeout=options.timeout, capacity=options.in_flight)
    sets = sum(job.variations for job in jobs)
    print(f"{len(jobs)} job(s), {sets} set(s), on {len(options.server) or 'no'} server(s)"
          + ("" if options.server else " (in this process)"), flush=True)
    if options.server:
        scheduler, skipped = asyncio.run(batch_run.run_on_servers(jobs, options.server, settings))
    else:
        work = Path(tempfile.mkdtemp(prefix="iclora-batch-"))
        scheduler, skipped = batch_run.run_in_process(jobs, start(options, work), work, settings)
    print(batch_jobs.summary_line(scheduler, skipped), flush=True)
    for key, errors in scheduler.failed.items():
        spec = scheduler.specs[key]
        print(f"failed: line {spec.job.line} ({key}):", file=sys.stderr)
        for url, message in errors.items():
            print(f"  {url or 'every server'}: {message}", file=sys.stderr)
    return 1 if scheduler.failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workflow", type=Path, nargs="?", help="a UI-format workflow, e.g. one in workflows/")
    parser.add_argument("--comfyui", type=Path, help="the ComfyUI folder (to run in this process)")
    parser.add_argument("--models", type=Path, help="a models folder (with diffusion_models/, loras/, ...)")
    parser.add_argument("--out", type=Path, default=Path("iclora-output"), help="where panels and the sheet go")
    parser.add_argument("--summary", help="the Joint Prompt Builder's summary")
    parser.add_argument("--panel", action="append", default=[], metavar="N=TEXT", help="panel N's description")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--image", action="append", default=[],
                        help="your reference image (for the reference workflows); repeat for several Load Image nodes")
    parser.add_argument("--tiny-demo", action="store_true", help="tiny random models instead of the real ones")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU")
    batch = parser.add_argument_group("batches")
    batch.add_argument("--jobs", type=Path, help="a JSONL or CSV jobs file: one set (or several variations) a line")
    batch.add_argument("--server", action="append", default=[], metavar="URL",
                       help="a running ComfyUI (http://HOST:PORT); repeat for several")
    batch.add_argument("--in-flight", type=int, default=2, help="sets queued on each server at once (default 2)")
    batch.add_argument("--timeout", type=float, default=600,
                       help="seconds a set may take on a server, its wait in the server's queue included, before "
                            "that server is given up (default 600)")
    options = parser.parse_args(argv)
    problems = check_arguments(options)
    if options.in_flight < 1:
        problems.append(f"--in-flight must be 1 or more, got {options.in_flight}")
    if problems:
        print("run_workflow.py: nothing was run:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    return run_batch(options) if options.jobs else run_one(options)


if __name__ == "__main__":
    sys.exit(main())
