"""The batch runner's logic, with no ComfyUI, no HTTP and no torch: jobs files, the sets they expand into, where
each set is written, the manifest that makes a run resumable, and the scheduler that spreads sets over servers.

A job is one line of a JSONL or CSV file: a workflow (a shipped one by name, or a path), the summary and per-panel
texts, reference images, a seed and a number of variations. Variation k of a job is the set made with seed + k;
it is written to `<out>/<job id>/seed-<seed + k>/`, where the job id is the job's `name` (or its workflow's) and a
hash of everything else that shapes its pictures, so the same line always lands in the same place and a re-run skips
what is already there.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ... import ROOT
from ..workflow_api import MAX_PANEL_TEXTS, WorkflowError, override_problems, read_workflow, workflow_facts

SHIPPED = ROOT / "workflows"
FIELDS = ("name", "workflow", "summary", "panels", "references", "seed", "variations", "steps")
MAX_VARIATIONS = 1000
MAX_SEED = 0xFFFFFFFFFFFFFFFF
MANIFEST = "manifest.json"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Job:
    line: int
    workflow: str  # as written in the file
    workflow_path: Path
    summary: str | None
    panels: dict[int, str]
    references: tuple[Path, ...]
    seed: int
    variations: int
    steps: int | None
    name: str

    @property
    def id(self) -> str:
        """Stable for the same content, whatever line it is on: name + a hash of what shapes the pictures but the
        seed (each seed is a folder inside: more variations later add folders, the same seed twice is caught)."""
        shaping = {"workflow": self.workflow_path.stem, "summary": self.summary,
                   "panels": {str(k): v for k, v in sorted(self.panels.items())},
                   "references": [_file_digest(p) for p in self.references], "steps": self.steps,
                   "workflow_digest": _file_digest(self.workflow_path)}
        digest = hashlib.sha1(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.name}-{digest}"

    def sets(self) -> list[SetSpec]:
        return [SetSpec(self, self.seed + k) for k in range(self.variations)]

    def record(self) -> dict:
        """The job as the metadata file keeps it."""
        return {"line": self.line, "name": self.name, "workflow": self.workflow,
                "workflow_path": str(self.workflow_path), "summary": self.summary,
                "panels": {str(k): v for k, v in sorted(self.panels.items())},
                "references": [str(p) for p in self.references], "seed": self.seed,
                "variations": self.variations, "steps": self.steps}


@dataclass(frozen=True)
class SetSpec:
    """One set to make: a job at one seed."""

    job: Job
    seed: int

    @property
    def key(self) -> str:
        return f"{self.job.id}/seed-{self.seed}"

    def folder(self, out: Path) -> Path:
        return Path(out) / self.job.id / f"seed-{self.seed}"


class JobsFileError(ValueError):
    """Every bad line of a jobs file, each with its line number."""

    def __init__(self, path: Path, problems: list[tuple[int, str]]):
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  line {n}: {p}" if n else f"  {p}" for n, p in problems)
        super().__init__(f"{path}: {len(problems)} problem(s), nothing was run:\n{lines}")


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return "missing"


def resolve_workflow(text: str, base: Path) -> Path | None:
    """A shipped workflow by name (`film-storyboard-reference`, with or without .json) or a path, relative to the
    jobs file's folder. None when neither exists."""
    for candidate in (SHIPPED / f"{text.removesuffix('.json')}.json", base / Path(text).expanduser(),
                      Path(text).expanduser()):
        if candidate.is_file():
            return candidate.resolve()
    return None


def read_rows(path: Path) -> list[tuple[int, dict | str]]:
    """(line number, raw row) for every non-blank, non-comment line; a row that cannot be read is a string
    saying why. CSV when the file ends in .csv, JSONL otherwise."""
    text = Path(path).read_text(encoding="utf-8-sig")
    rows: list[tuple[int, dict | str]] = []
    if Path(path).suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        for row in reader:
            line = reader.line_num
            if None in row:
                rows.append((line, f"{len(row[None])} more value(s) than the header has columns"))
                continue
            values = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            if not any(values.values()):
                continue
            rows.append((line, _from_csv(values)))
        return rows
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as error:
            rows.append((number, f"not valid JSON ({error.msg} at column {error.colno})"))
            continue
        rows.append((number, value if isinstance(value, dict) else "a line must be a JSON object {...}"))
    return rows


def _from_csv(values: dict[str, str]) -> dict:
    """CSV columns -> the JSONL shape: panel_1..panel_8 columns, `references` separated by `;`, empty = unset."""
    row: dict = {}
    panels = {}
    for key, value in values.items():
        if value == "":
            continue
        match = re.fullmatch(r"panel_?(\d+)", key)
        if match:
            panels[match.group(1)] = value
        elif key == "references":
            row[key] = [part.strip() for part in value.split(";") if part.strip()]
        else:
            row[key] = value
    if panels:
        row["panels"] = panels
    return row


def _integer(row: dict, key: str, default: int | None, low: int, high: int, problems: list[str]) -> int | None:
    value = row.get(key, default)
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"'{key}' must be a whole number, got {value!r}")
        return None
    if not low <= value <= high:
        problems.append(f"'{key}' must be from {low} to {high}, got {value}")
        return None
    return value


def _panels(value, problems: list[str]) -> dict[int, str]:
    if value is None:
        return {}
    if isinstance(value, list):
        value = {str(i + 1): text for i, text in enumerate(value) if text not in (None, "")}
    if not isinstance(value, dict):
        problems.append("'panels' must be a list of texts or an object like {\"2\": \"text\"}")
        return {}
    panels = {}
    for key, text in value.items():
        if not str(key).strip().isdigit():
            problems.append(f"'panels' key {key!r} is not a panel number")
        elif not isinstance(text, str):
            problems.append(f"panel {key}'s text must be a string, got {type(text).__name__}")
        else:
            panels[int(str(key).strip())] = text
    return panels


def parse_job(line: int, row: dict, base: Path) -> tuple[Job | None, list[str]]:
    """One row -> a Job, or the list of everything wrong with it (all of it, not the first problem only)."""
    problems: list[str] = []
    unknown = sorted(set(row) - set(FIELDS) - {f"panel_{i}" for i in range(1, MAX_PANEL_TEXTS + 1)})
    if unknown:
        problems.append(f"unknown field(s) {', '.join(map(repr, unknown))}; the fields are {', '.join(FIELDS)}")
    row = dict(row)
    loose = {k.removeprefix("panel_"): row.pop(k) for k in list(row) if re.fullmatch(r"panel_\d+", k)}
    if loose and row.get("panels") is not None:
        problems.append("give the panel texts as 'panels' or as panel_N fields, not both")
    elif loose:
        row["panels"] = loose
    workflow_text = row.get("workflow")
    workflow_path = None
    facts = None
    if not isinstance(workflow_text, str) or not workflow_text.strip():
        problems.append("'workflow' is missing: name a shipped workflow (e.g. film-storyboard-text-only) or a file")
    else:
        workflow_path = resolve_workflow(workflow_text.strip(), base)
        if workflow_path is None:
            problems.append(f"workflow {workflow_text!r} is neither a shipped workflow nor a file; the shipped ones "
                            f"are in workflows/ (e.g. film-storyboard-text-only)")
        else:
            try:
                facts = workflow_facts(read_workflow(workflow_path))
            except WorkflowError as error:
                problems.append(str(error))
    summary = row.get("summary")
    if summary is not None and not isinstance(summary, str):
        problems.append(f"'summary' must be a string, got {type(summary).__name__}")
        summary = None
    panels = _panels(row.get("panels"), problems)
    references = row.get("references", [])
    if isinstance(references, str):
        references = [references]
    paths = []
    if not isinstance(references, list) or not all(isinstance(r, str) for r in references):
        problems.append("'references' must be a list of image paths")
    else:
        for reference in references:
            path = Path(reference).expanduser()
            path = path if path.is_absolute() else base / path
            if not path.is_file():
                problems.append(f"reference image {reference!r} does not exist (looked for {path})")
            paths.append(path.resolve())
    seed = _integer(row, "seed", 0, 0, MAX_SEED, problems)
    variations = _integer(row, "variations", 1, 1, MAX_VARIATIONS, problems)
    steps = _integer(row, "steps", None, 1, 10000, problems)
    if seed is not None and variations is not None and seed + variations - 1 > MAX_SEED:
        problems.append(f"seed {seed} + {variations} variations runs past the largest seed")
    if facts is not None:
        problems += override_problems(facts, summary=summary, panels=panels, seed=seed, steps=steps,
                                      images=len(paths))
    name = row.get("name") or (workflow_path.stem if workflow_path else "job")
    if not isinstance(name, str) or not NAME.match(name):
        problems.append(f"'name' {name!r} must be 1-64 letters, digits, '.', '_' or '-' (it names a folder)")
    if problems:
        return None, problems
    return Job(line, workflow_text.strip(), workflow_path, summary, panels, tuple(paths), seed, variations, steps,
               name), []


def load_jobs(path: Path) -> list[Job]:
    """Every job of the file, or a JobsFileError listing every bad line. Two lines that would make the same sets
    are an error too (their pictures would be written twice)."""
    path = Path(path)
    try:
        rows = read_rows(path)
    except (OSError, UnicodeDecodeError) as error:
        raise JobsFileError(path, [(0, f"cannot be read: {error}")]) from None
    except csv.Error as error:
        raise JobsFileError(path, [(0, f"is not a readable CSV file: {error}")]) from None
    problems: list[tuple[int, str]] = []
    jobs: list[Job] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        if isinstance(row, str):
            problems.append((line, row))
            continue
        job, job_problems = parse_job(line, row, path.parent)
        problems += [(line, p) for p in job_problems]
        if job is None:
            continue
        for spec in job.sets():
            if spec.key in seen:
                problems.append((line, f"makes the same set as line {seen[spec.key]} (seed {spec.seed}); "
                                       "change the seed or remove one of them"))
                break
            seen[spec.key] = line
        jobs.append(job)
    if not rows:
        problems.append((0, "has no jobs"))
    if problems:
        raise JobsFileError(path, problems)
    return jobs


# -- writing ------------------------------------------------------------------------------------------------------

def write_atomic(path: Path, data: bytes) -> None:
    """Whole or not at all: a temporary file in the same folder, flushed, then renamed over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def staging_folder(out: Path, spec: SetSpec) -> Path:
    """A fresh hidden folder next to where the set goes; `publish_set` renames it into place."""
    parent = spec.folder(out).parent
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=parent, prefix=f".seed-{spec.seed}.", suffix=".tmp"))


def clean_staging(out: Path) -> int:
    """Staging folders a stopped run left behind (never published, so never counted): removed."""
    import shutil

    left = [p for p in Path(out).glob("*/.seed-*.tmp") if p.is_dir()]
    for path in left:
        shutil.rmtree(path, ignore_errors=True)
    return len(left)


def publish_set(staging: Path, out: Path, spec: SetSpec) -> bool:
    """Move a finished set into place in one rename. False (and the staging folder removed) when the set is
    already there, so a set is never written twice."""
    import shutil

    target = spec.folder(out)
    try:
        os.rename(staging, target)  # fails if target exists and is not empty
        return True
    except OSError:
        if (target / "metadata.json").is_file():
            shutil.rmtree(staging, ignore_errors=True)
            return False
        shutil.rmtree(target, ignore_errors=True)  # a partial folder left by something else: replace it
        os.rename(staging, target)
        return True


# -- the manifest -------------------------------------------------------------------------------------------------

@dataclass
class Manifest:
    """What a run has finished (set key -> record), kept in <out>/manifest.json, rewritten atomically after every
    set. A set counts as done only when its folder and metadata are there too."""

    path: Path
    done: dict[str, dict] = field(default_factory=dict)
    failed: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, out: Path) -> Manifest:
        path = Path(out) / MANIFEST
        if not path.exists():
            return cls(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(path, dict(data.get("done", {})), dict(data.get("failed", {})))

    def save(self) -> None:
        data = {"version": 1, "done": self.done, "failed": self.failed}
        write_atomic(self.path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())

    def is_done(self, spec: SetSpec, out: Path) -> bool:
        return spec.key in self.done and (spec.folder(out) / "metadata.json").is_file()

    def mark_done(self, spec: SetSpec, server: str, files: list[str]) -> None:
        self.done[spec.key] = {"server": server, "files": files, "line": spec.job.line}
        self.failed.pop(spec.key, None)
        self.save()

    def mark_failed(self, spec: SetSpec, errors: dict[str, str]) -> None:
        self.failed[spec.key] = {"line": spec.job.line, "errors": errors}
        self.save()

    def adopt_published(self, specs: list[SetSpec], out: Path) -> int:
        """Sets whose folder was published but not yet recorded (a run stopped between the two): recorded now,
        from their own metadata, so they are not made again."""
        adopted = 0
        for spec in specs:
            metadata = spec.folder(out) / "metadata.json"
            if spec.key not in self.done and metadata.is_file():
                record = json.loads(metadata.read_text(encoding="utf-8"))
                self.done[spec.key] = {"server": record.get("server"), "files": record.get("files", []),
                                       "line": spec.job.line}
                adopted += 1
        if adopted:
            self.save()
        return adopted


def metadata(spec: SetSpec, server: str, files: list[str], roles: list[str] | None, prompt_id: str | None,
             seconds: float) -> dict:
    return {"job": spec.job.record(), "set": spec.key, "seed": spec.seed, "workflow": spec.job.workflow_path.name,
            "server": server, "prompt_id": prompt_id, "files": files, "roles": roles, "seconds": round(seconds, 3)}


# -- scheduling ---------------------------------------------------------------------------------------------------

@dataclass
class ServerState:
    url: str
    capacity: int
    running: set[str] = field(default_factory=set)
    down: str | None = None  # why the server was dropped, once it was
    done: int = 0


class Scheduler:
    """Which set goes to which server next. Each server takes up to `capacity` sets at once; a set that fails on a
    server is moved to one it has not failed on, and reported failed (with every server's error) once none is left;
    a server that disappears or times out is dropped and its running sets are moved. Nothing here does I/O."""

    def __init__(self, specs: list[SetSpec], servers: list[str], capacity: int = 2):
        self.specs = {s.key: s for s in specs}
        self.pending: list[str] = [s.key for s in specs]
        self.servers = {url: ServerState(url, capacity) for url in servers}
        self.errors: dict[str, dict[str, str]] = {}
        self.finished: dict[str, str] = {}  # set key -> server url
        self.failed: dict[str, dict[str, str]] = {}

    def assign(self) -> list[tuple[SetSpec, str]]:
        """Fill every free slot of every live server, least busy first; returns the new (set, server) pairs."""
        started = []
        while True:
            live = sorted((s for s in self.servers.values() if not s.down and len(s.running) < s.capacity),
                          key=lambda s: (len(s.running), s.done))
            placed = False
            for server in live:
                key = next((k for k in self.pending if server.url not in self.errors.get(k, {})), None)
                if key is None:
                    continue
                self.pending.remove(key)
                server.running.add(key)
                started.append((self.specs[key], server.url))
                placed = True
                break
            if not placed:
                break
        self._fail_stranded()
        return started

    def succeeded(self, spec: SetSpec, url: str) -> None:
        server = self.servers[url]
        server.running.discard(spec.key)
        server.done += 1
        self.finished[spec.key] = url

    def set_failed(self, spec: SetSpec, url: str, error: str) -> None:
        """The server ran the set and reported an error: try another server, never this one again."""
        self.servers[url].running.discard(spec.key)
        self.errors.setdefault(spec.key, {})[url] = error
        self.pending.insert(0, spec.key)
        self._fail_stranded()

    def server_lost(self, url: str, reason: str) -> list[SetSpec]:
        """The server disappeared, timed out or stopped answering: drop it; its running sets go back to the front
        of the queue for the others (they did not fail, the machine did). Returns those sets."""
        server = self.servers[url]
        if server.down is None:
            server.down = reason
        moved = [self.specs[k] for k in sorted(server.running)]
        for spec in moved:
            self.errors.setdefault(spec.key, {})[url] = f"server lost: {reason}"
        self.pending[:0] = [s.key for s in moved]
        server.running.clear()
        self._fail_stranded()
        return moved

    def _fail_stranded(self) -> None:
        """A pending set that no live server may take any more has failed for good."""
        live = [s.url for s in self.servers.values() if not s.down]
        for key in list(self.pending):
            tried = self.errors.get(key, {})
            if all(url in tried for url in live):
                self.pending.remove(key)
                errors = dict(tried)
                for server in self.servers.values():
                    if server.down and server.url not in errors:
                        errors[server.url] = f"server lost: {server.down}"
                self.failed[key] = errors or {"": "no server was reachable"}

    def running(self) -> int:
        return sum(len(s.running) for s in self.servers.values())

    def complete(self) -> bool:
        return not self.pending and not self.running()


def summary_line(scheduler: Scheduler, skipped: int) -> str:
    return (f"{len(scheduler.finished)} set(s) made, {skipped} already there, {len(scheduler.failed)} failed"
            + "".join(f"; {s.url} dropped ({s.down})" for s in scheduler.servers.values() if s.down))

