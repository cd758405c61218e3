"""The batch runner against three real ComfyUI servers on 127.0.0.1, each with the pack and tiny models: a dozen
sets, a server killed mid-run, a resume after an interrupted run, and jobs that cannot work."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from iclora_tools.comfyui.server import get_json
from iclora_tools.runner.batch import jobs as batch_jobs
from iclora_tools.runner.batch import run as batch_run
from pack_facts import skip_without_comfyui
from PIL import Image

skip_without_comfyui()

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = Path(os.environ.get("COMFYUI_PATH", ".")) / "input" / "example.png"


@pytest.fixture(scope="module")
def servers(comfy_servers):
    return comfy_servers(3)


def jobs_file(folder: Path, variations: int = 3, steps: int = 2, name: str = "jobs.jsonl") -> Path:
    """Four jobs of `variations` sets each: text-only and reference workflows, 2, 3 and 4 panels."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        {"workflow": "font-design-text-only", "summary": "showcases a brush font", "panels": {"1": "says Hi"},
         "seed": 10, "variations": variations, "steps": steps},
        {"workflow": "film-storyboard-reference", "references": [str(EXAMPLE)], "panels": {"2": "<Mia> runs"},
         "seed": 20, "variations": variations, "steps": steps, "name": "harbour"},
        {"workflow": "couple-profile-text-only", "summary": "two cats", "seed": 30, "variations": variations,
         "steps": steps},
        {"workflow": "sparklers-visual-effect-reference", "references": [str(EXAMPLE)], "seed": 40,
         "variations": variations, "steps": steps},
    ]
    path = folder / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def run_batch(jobs: Path, urls: list[str], out: Path, **options):
    settings = batch_run.Options(out=out, tiny_demo=True, **options)
    return asyncio.run(batch_run.run_on_servers(batch_jobs.load_jobs(jobs), urls, settings, use_tqdm=False))


def run_cli(*args: str, **popen) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "tools" / "run_workflow.py"), *args]
    return subprocess.Popen(command, text=True, **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen})


def assert_complete_sets(out: Path, specs: list) -> None:
    """Every set in its own folder with its panels, sheet and metadata; no staging folder left anywhere."""
    for spec in specs:
        folder = spec.folder(out)
        record = json.loads((folder / "metadata.json").read_text())
        assert record["seed"] == spec.seed and record["job"]["line"] == spec.job.line
        assert sorted(p.name for p in folder.iterdir()) == sorted([*record["files"], "metadata.json"])
        generated = [f for f in record["files"] if f.startswith("panel-")]
        assert len(generated) == record["roles"].count("output") >= 1
        with Image.open(folder / "contact-sheet.png") as sheet:
            assert sheet.width >= 64 and sheet.height >= 64
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_a_dozen_sets_complete_spread_over_three_servers(servers, tmp_path):
    urls = [s.url for s in servers]
    jobs = jobs_file(tmp_path)
    specs = [s for job in batch_jobs.load_jobs(jobs) for s in job.sets()]
    started = time.monotonic()
    scheduler, skipped = run_batch(jobs, urls, tmp_path / "out")
    seconds = time.monotonic() - started
    assert skipped == 0 and not scheduler.failed and len(scheduler.finished) == len(specs) == 12
    assert set(scheduler.finished.values()) == set(urls)  # every server took part
    assert_complete_sets(tmp_path / "out", specs)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert sorted(manifest["done"]) == sorted(s.key for s in specs)
    harbour = next(s for s in specs if s.job.name == "harbour")
    assert json.loads((harbour.folder(tmp_path / "out") / "metadata.json").read_text())["roles"] == \
        ["input", "output", "output"]
    print(f"\n12 sets on 3 servers in {seconds:.1f} s")


def test_jobs_that_fail_on_every_server_are_reported_with_the_servers_error_and_the_rest_complete(servers,
                                                                                                  tmp_path):
    workflow = json.loads((ROOT / "workflows" / "font-design-text-only.json").read_text())
    for node in workflow["nodes"]:
        if node["type"] == "LoraLoaderModelOnly":
            node["widgets_values"][0] = "not-on-any-server.safetensors"
    (tmp_path / "mine.json").write_text(json.dumps(workflow))
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"workflow": "mine.json", "seed": 1, "steps": 1}) + "\n"
                    + json.dumps({"workflow": "couple-profile-text-only", "seed": 2, "steps": 1}) + "\n")
    urls = [s.url for s in servers[:2]]
    result = run_cli("--jobs", str(jobs), *[a for u in urls for a in ("--server", u)], "--tiny-demo",
                     "--out", str(tmp_path / "out"))
    stdout, stderr = result.communicate(timeout=240)
    assert result.returncode == 1, stderr[-3000:]
    assert "1 set(s) made, 0 already there, 1 failed" in stdout
    assert "failed: line 1" in stderr
    for url in urls:  # tried once on each server, each server's own words
        assert f"  {url}: the server refused the graph" in stderr and "not-on-any-server.safetensors" in stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(manifest["done"]) == 1 and len(manifest["failed"]) == 1


def test_a_set_the_runner_cannot_convert_fails_with_its_reason_and_a_bypassed_lora_set_is_made(servers, tmp_path):
    for mode in (2, 4):  # the task LoRA muted (the sampler needs it) or bypassed (the sampler takes the base model)
        workflow = json.loads((ROOT / "workflows" / "couple-profile-text-only.json").read_text())
        next(n for n in workflow["nodes"] if n["type"] == "LoraLoaderModelOnly")["mode"] = mode
        (tmp_path / f"lora-mode-{mode}.json").write_text(json.dumps(workflow))
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"workflow": "lora-mode-2.json", "seed": 1, "steps": 1}) + "\n"
                    + json.dumps({"workflow": "lora-mode-4.json", "seed": 2, "steps": 1}) + "\n")
    urls = [s.url for s in servers[:2]]
    scheduler, _ = run_batch(jobs, urls, tmp_path / "out")
    assert len(scheduler.finished) == 1 and len(scheduler.failed) == 1
    (errors,) = scheduler.failed.values()
    assert sorted(errors) == sorted(urls)
    assert all(m.startswith("node 8 (ICLoRA_InContextSampler): input 'model' comes from node 2 (LoraLoaderModelOnly "
                            "'Couple Profile Design LoRA'), which is muted") for m in errors.values())
    (made,) = [s for job in batch_jobs.load_jobs(jobs) for s in job.sets() if s.key in scheduler.finished]
    record = json.loads((made.folder(tmp_path / "out") / "metadata.json").read_text())
    assert record["workflow"] == "lora-mode-4.json" and record["files"] == ["panel-1.png", "panel-2.png",
                                                                                   "contact-sheet.png"]


def test_bad_job_lines_are_reported_and_nothing_is_queued(servers, tmp_path):
    jobs = tmp_path / "jobs.csv"
    jobs.write_text("workflow,summary,panel_5,references,seed,variations\n"
                    "couple-profile-text-only,two cats,a dog,,1,1\n"
                    "film-storyboard-reference,,,missing.png,1,1\n"
                    "no-such-workflow,,,,one,2\n")
    before = len(get_json(f"{servers[0].url}/history"))
    result = run_cli("--jobs", str(jobs), "--server", servers[0].url, "--out", str(tmp_path / "out"))
    _, stderr = result.communicate(timeout=120)
    assert result.returncode == 2
    assert "line 2: panel 5 does not exist: the workflow's canvas has 2 panels" in stderr
    assert "line 3: reference image 'missing.png' does not exist" in stderr
    assert "line 4: workflow 'no-such-workflow' is neither" in stderr and "line 4: 'seed' must be a whole" in stderr
    assert len(get_json(f"{servers[0].url}/history")) == before and not (tmp_path / "out").exists()


def test_a_resumed_run_makes_only_the_missing_sets(servers, tmp_path):
    urls = [s.url for s in servers[:2]]
    jobs = jobs_file(tmp_path, steps=3)
    specs = [s for job in batch_jobs.load_jobs(jobs) for s in job.sets()]
    out = tmp_path / "out"
    args = ["--jobs", str(jobs), *[a for u in urls for a in ("--server", u)], "--tiny-demo", "--out", str(out)]
    first = run_cli(*args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while len(_done(out)) < 3:
        assert first.poll() is None and time.monotonic() < deadline, "the first run ended early"
        time.sleep(0.05)
    first.kill()  # interrupted mid-run, no chance to tidy up
    first.communicate()
    finished = {s.key: (s.folder(out) / "metadata.json").stat().st_mtime_ns for s in specs
                if (s.folder(out) / "metadata.json").is_file()}
    assert 3 <= len(finished) < len(specs)
    second = run_cli(*args)
    stdout, stderr = second.communicate(timeout=240)
    assert second.returncode == 0, stderr[-3000:]
    assert f"{len(specs) - len(finished)} set(s) made, {len(finished)} already there, 0 failed" in stdout
    for key, mtime in finished.items():  # the earlier sets were not written again
        assert (out / key / "metadata.json").stat().st_mtime_ns == mtime
    assert_complete_sets(out, specs)


def _done(out: Path) -> dict:
    try:
        return json.loads((out / "manifest.json").read_text())["done"]
    except (OSError, ValueError):
        return {}


def test_servers_that_time_out_are_dropped_and_their_sets_reported_not_retried_forever(servers, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"workflow": "couple-profile-text-only", "seed": 5, "variations": 2, "steps": 3}))
    urls = [s.url for s in servers[:2]]
    scheduler, _ = run_batch(jobs, urls, tmp_path / "out", timeout=0.05)
    assert not scheduler.finished and len(scheduler.failed) == 2
    for errors in scheduler.failed.values():
        assert sorted(errors) == sorted(urls)
        assert all(m == "server lost: the set took longer than 0.05 s" for m in errors.values())
    assert all(scheduler.servers[url].down for url in urls)
    for url in urls:  # the abandoned sets were taken off the servers, which still answer
        deadline = time.monotonic() + 60
        while get_json(f"{url}/queue")["queue_running"] or get_json(f"{url}/queue")["queue_pending"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_killing_a_server_mid_run_moves_its_sets_to_the_others(servers, tmp_path):
    """Last in this module: it kills the third server."""
    victim = servers[2]
    urls = [s.url for s in servers]
    jobs = jobs_file(tmp_path, steps=3)
    specs = [s for job in batch_jobs.load_jobs(jobs) for s in job.sets()]
    out = tmp_path / "out"
    result = {}
    runner = threading.Thread(target=lambda: result.update(zip(("scheduler", "skipped"),
                                                               run_batch(jobs, urls, out))))
    runner.start()
    deadline = time.monotonic() + 180
    while not get_json(f"{victim.url}/queue")["queue_running"]:  # the victim is working on a set
        assert runner.is_alive() and time.monotonic() < deadline, "the victim never got a set"
        time.sleep(0.02)
    victim.kill()
    runner.join(timeout=240)
    scheduler = result["scheduler"]
    assert not scheduler.failed and len(scheduler.finished) == len(specs)
    assert scheduler.servers[victim.url].down
    moved = [key for key, errors in scheduler.errors.items() if victim.url in errors]
    assert moved and all(scheduler.finished[key] != victim.url for key in moved)
    assert_complete_sets(out, specs)
    records = [json.loads((s.folder(out) / "metadata.json").read_text()) for s in specs]
    assert {r["server"] for r in records} - {victim.url} == set(urls[:2])
