"""The batch runner's logic without ComfyUI: jobs files, set paths, the manifest and the scheduler."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from iclora_tools.runner.batch import jobs as batch_jobs
from iclora_tools.runner.batch.jobs import JobsFileError, Manifest, Scheduler, load_jobs

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, *lines) -> Path:
    path.write_text("\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines) + "\n")
    return path


@pytest.fixture
def reference(tmp_path) -> Path:
    from PIL import Image

    path = tmp_path / "ref.png"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(path)
    return path


def test_a_jsonl_job_names_a_shipped_workflow_its_texts_references_seed_and_variations(tmp_path, reference):
    jobs = load_jobs(write(tmp_path / "jobs.jsonl", "# a comment", "", {
        "workflow": "film-storyboard-reference", "summary": "In a harbour", "panels": {"2": "runs", "3": "waves"},
        "references": ["ref.png"], "seed": 7, "variations": 3, "steps": 4, "name": "harbour"}))
    (job,) = jobs
    assert job.line == 3 and job.workflow_path == ROOT / "workflows" / "film-storyboard-reference.json"
    assert job.panels == {2: "runs", 3: "waves"} and job.references == (reference.resolve(),)
    assert [s.seed for s in job.sets()] == [7, 8, 9]
    assert job.sets()[1].folder(tmp_path) == tmp_path / job.id / "seed-8"
    assert job.id.startswith("harbour-")


def test_a_csv_job_takes_panel_columns_and_semicolon_separated_references(tmp_path, reference):
    other = tmp_path / "other.png"
    other.write_bytes(reference.read_bytes())
    path = tmp_path / "jobs.csv"
    path.write_text("workflow,summary,panel_1,panel_3,references,seed,variations\n"
                    'font-design-reference,a font,"says ""hi""",,ref.png,5,2\n'
                    ",,,,,,\n"
                    "couple-profile-text-only,two cats,,,,,\n")
    first, second = load_jobs(path)
    assert first.line == 2 and first.panels == {1: 'says "hi"'} and first.seed == 5 and first.variations == 2
    assert first.references == (reference.resolve(),)
    assert second.line == 4 and second.seed == 0 and second.variations == 1 and second.references == ()


def test_every_bad_line_is_reported_with_its_number_and_every_problem(tmp_path):
    path = write(tmp_path / "jobs.jsonl",
                 {"workflow": "font-design-text-only", "panels": {"7": "x"}, "seed": -1},
                 "not json",
                 {"workflow": "nope", "references": ["missing.png"], "variations": 0, "colour": "red"},
                 {"workflow": "font-design-text-only", "summary": "fine"},
                 {"workflow": "font-design-text-only", "references": ["missing.png"]},
                 "[1, 2]",
                 {"summary": "no workflow", "seed": "x", "name": "a/b"})
    with pytest.raises(JobsFileError) as caught:
        load_jobs(path)
    by_line: dict[int, list[str]] = {}
    for line, problem in caught.value.problems:
        by_line.setdefault(line, []).append(problem)
    assert sorted(by_line) == [1, 2, 3, 5, 6, 7]  # line 4 is fine
    assert any("panel 7 does not exist: the workflow's canvas has 4 panels" in p for p in by_line[1])
    assert any("'seed' must be from 0" in p for p in by_line[1])
    assert by_line[2] == ["not valid JSON (Expecting value at column 1)"]
    assert len(by_line[3]) == 4  # unknown field, unknown workflow, missing reference, variations 0
    assert any("'colour'" in p for p in by_line[3]) and any("'nope' is neither" in p for p in by_line[3])
    assert any("no Load Image node" in p for p in by_line[5])
    assert by_line[6] == ["a line must be a JSON object {...}"]
    assert any("'workflow' is missing" in p for p in by_line[7]) and any("whole number" in p for p in by_line[7])
    assert any("'name'" in p for p in by_line[7])
    assert "line 3:" in str(caught.value) and "nothing was run" in str(caught.value)


def test_two_lines_that_would_make_the_same_set_are_an_error(tmp_path):
    job = {"workflow": "font-design-text-only", "summary": "same"}
    with pytest.raises(JobsFileError) as caught:
        load_jobs(write(tmp_path / "jobs.jsonl", {**job, "seed": 3, "variations": 2}, {**job, "seed": 4}))
    assert caught.value.problems == [(2, "makes the same set as line 1 (seed 4); change the seed or remove one "
                                         "of them")]


def test_an_empty_file_is_an_error(tmp_path):
    with pytest.raises(JobsFileError, match="has no jobs"):
        load_jobs(write(tmp_path / "jobs.jsonl", "# nothing"))


def test_the_set_folder_depends_on_content_not_on_the_line(tmp_path):
    job = {"workflow": "font-design-text-only", "summary": "a font", "seed": 2}
    (a,) = load_jobs(write(tmp_path / "a.jsonl", job))
    _, b = load_jobs(write(tmp_path / "b.jsonl", {**job, "seed": 9}, job))
    (c,) = load_jobs(write(tmp_path / "c.jsonl", {**job, "summary": "another font"}))
    assert a.sets()[0].key == b.sets()[0].key and a.line != b.line
    assert c.id != a.id


def test_publishing_a_set_is_one_rename_and_never_overwrites_a_finished_set(tmp_path):
    (job,) = load_jobs(write(tmp_path / "jobs.jsonl", {"workflow": "font-design-text-only"}))
    spec = job.sets()[0]
    out = tmp_path / "out"
    first = batch_jobs.staging_folder(out, spec)
    (first / "metadata.json").write_text("{}")
    (first / "panel-1.png").write_bytes(b"first")
    assert batch_jobs.publish_set(first, out, spec)
    second = batch_jobs.staging_folder(out, spec)
    (second / "panel-1.png").write_bytes(b"second")
    assert not batch_jobs.publish_set(second, out, spec)
    assert (spec.folder(out) / "panel-1.png").read_bytes() == b"first"
    assert sorted(p.name for p in spec.folder(out).parent.iterdir()) == ["seed-0"]  # no staging folder left


def test_atomic_writes_leave_the_old_file_or_the_new_one_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "manifest.json"
    batch_jobs.write_atomic(target, b"old")

    def broken_replace(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        batch_jobs.write_atomic(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_the_manifest_survives_a_reload_and_counts_a_set_done_only_with_its_folder(tmp_path):
    (job,) = load_jobs(write(tmp_path / "jobs.jsonl", {"workflow": "font-design-text-only", "variations": 3}))
    out = tmp_path / "out"
    specs = job.sets()
    manifest = Manifest.load(out)
    for spec in specs[:2]:
        folder = batch_jobs.staging_folder(out, spec)
        (folder / "metadata.json").write_text(json.dumps({"server": "s1", "files": ["panel-1.png"]}))
        batch_jobs.publish_set(folder, out, spec)
    manifest.mark_done(specs[0], "s1", ["panel-1.png"])
    manifest.mark_failed(specs[2], {"s1": "boom"})
    again = Manifest.load(out)
    assert again.is_done(specs[0], out) and not again.is_done(specs[1], out) and not again.is_done(specs[2], out)
    assert again.failed[specs[2].key]["errors"] == {"s1": "boom"}
    # set 2 was published but the run stopped before recording it: adopted, not made again
    assert again.adopt_published(specs, out) == 1 and Manifest.load(out).is_done(specs[1], out)


def specs(count: int, tmp_path: Path):
    (job,) = load_jobs(write(tmp_path / "jobs.jsonl", {"workflow": "font-design-text-only", "variations": count}))
    return job.sets()


def test_the_scheduler_keeps_every_server_busy_up_to_its_capacity(tmp_path):
    scheduler = Scheduler(specs(7, tmp_path), ["a", "b", "c"], capacity=2)
    started = scheduler.assign()
    assert len(started) == 6 and {url for _, url in started} == {"a", "b", "c"}
    assert [url for _, url in started[:3]] == ["a", "b", "c"]  # least busy first: spread before stacking
    assert scheduler.assign() == []  # all slots taken
    scheduler.succeeded(started[1][0], started[1][1])
    (more,) = scheduler.assign()
    assert more[1] == started[1][1] and scheduler.pending == []


def test_a_set_that_fails_moves_to_another_server_and_fails_for_good_after_every_server(tmp_path):
    (spec,) = specs(1, tmp_path)
    scheduler = Scheduler([spec], ["a", "b"], capacity=1)
    ((_, first),) = scheduler.assign()
    scheduler.set_failed(spec, first, "out of memory")
    ((_, second),) = scheduler.assign()
    assert second != first
    scheduler.set_failed(spec, second, "missing model")
    assert scheduler.assign() == [] and scheduler.complete()
    assert scheduler.failed[spec.key] == {first: "out of memory", second: "missing model"}


def test_a_lost_server_hands_its_running_sets_to_the_others_and_gets_no_more(tmp_path):
    scheduler = Scheduler(specs(5, tmp_path), ["a", "b"], capacity=2)
    started = scheduler.assign()
    on_a = [s for s, url in started if url == "a"]
    moved = scheduler.server_lost("a", "connection refused")
    assert moved == sorted(on_a, key=lambda s: s.key) and scheduler.servers["a"].down == "connection refused"
    for spec, url in started:
        if url == "b":
            scheduler.succeeded(spec, url)
    again = scheduler.assign()
    assert {url for _, url in again} == {"b"} and {s.key for s, _ in again} == {s.key for s in on_a}
    while not scheduler.complete():
        for spec, url in scheduler.assign() or []:
            scheduler.succeeded(spec, url)
        for spec_key in list(scheduler.servers["b"].running):
            scheduler.succeeded(scheduler.specs[spec_key], "b")
    assert len(scheduler.finished) == 5 and not scheduler.failed
    assert set(scheduler.finished.values()) == {"b"}


def test_when_every_server_is_lost_the_remaining_sets_fail_with_the_reason(tmp_path):
    scheduler = Scheduler(specs(3, tmp_path), ["a"], capacity=1)
    scheduler.assign()
    scheduler.server_lost("a", "timed out")
    assert scheduler.complete() and len(scheduler.failed) == 3
    assert all(errors == {"a": "server lost: timed out"} for errors in scheduler.failed.values())
    assert "0 set(s) made, 1 already there, 3 failed; a dropped (timed out)" == batch_jobs.summary_line(scheduler, 1)
