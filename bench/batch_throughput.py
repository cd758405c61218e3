"""Batch throughput: sets per minute with the same jobs on 1, 2 and 3 ComfyUI servers, in one run.

Starts three real servers on 127.0.0.1 with the pack and the tiny FLUX-architecture models, warms each up with one
set, then runs the same batch (fresh output folder each time) on the first 1, 2 and 3 of them through the batch
runner. Each server is held to `--threads` CPU threads (default 1), standing in for one machine per server; on a
machine with fewer free cores than servers the extra servers only share the same cores, and the table shows it.

Run: COMFYUI_PATH=/path/to/ComfyUI python bench/batch_throughput.py [--sets 12] [--steps 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from iclora_tools.comfyui.server import start_servers  # noqa: E402
from iclora_tools.runner.batch import jobs as batch_jobs  # noqa: E402
from iclora_tools.runner.batch import run as batch_run  # noqa: E402


def write_jobs(folder: Path, sets: int, steps: int, seed: int) -> Path:
    workflows = ["font-design-text-only", "couple-profile-text-only", "film-storyboard-text-only"]
    path = folder / f"jobs-{seed}.jsonl"
    lines = [{"workflow": workflows[i % len(workflows)], "summary": f"set {i}", "seed": seed + i, "steps": steps}
             for i in range(sets)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def run(jobs: Path, urls: list[str], out: Path) -> tuple[float, list[int]]:
    options = batch_run.Options(out=out, tiny_demo=True)
    started = time.perf_counter()
    scheduler, _ = asyncio.run(batch_run.run_on_servers(batch_jobs.load_jobs(jobs), urls, options,
                                                        progress_stream=open(os.devnull, "w"), use_tqdm=False))
    if scheduler.failed:
        sys.exit(f"sets failed: {scheduler.failed}")
    made = list(scheduler.finished.values())
    return time.perf_counter() - started, [made.count(url) for url in urls]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", type=int, default=12)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per server")
    options = parser.parse_args()
    root = os.environ.get("COMFYUI_PATH")
    if not root:
        sys.exit("set COMFYUI_PATH to a ComfyUI checkout")
    work = Path(tempfile.mkdtemp(prefix="iclora-batch-bench-"))
    threads = str(options.threads)
    servers = start_servers(Path(root), work, 3, env={"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads})
    try:
        urls = [s.url for s in servers]
        for i, url in enumerate(urls):  # load the models once on each server
            run(write_jobs(work, 1, options.steps, 10_000 + i), [url], work / f"warm-{i}")
        print(f"{options.sets} sets (tiny FLUX, 64 x 64 px panels, {options.steps} steps), {options.threads} CPU "
              f"thread(s) per server, {os.cpu_count()} cores on this machine")
        print(f"{'servers':<9}{'seconds':>9}{'sets/min':>10}{'speed-up':>10}  sets per server")
        base = None
        for count in (1, 2, 3):
            seconds, spread = run(write_jobs(work, options.sets, options.steps, 1000 * count), urls[:count],
                                  work / f"out-{count}")
            rate = 60 * sum(spread) / seconds
            base = base or rate
            print(f"{count:<9}{seconds:>9.1f}{rate:>10.1f}{rate / base:>10.2f}  {' / '.join(map(str, spread))}",
                  flush=True)
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
