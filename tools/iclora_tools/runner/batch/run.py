"""Runs a jobs file: over ComfyUI's HTTP API on one or more servers, or in this process when no server is given.
The decisions (jobs, scheduling, manifest, paths) are batch_jobs.py's; this file only talks to ComfyUI and writes
what comes back. Used by `run_workflow.py --jobs`.

Per set, on a server: upload the references (`/upload/image`), queue the API-format graph (`/prompt`, built with
the server's own `/object_info`), follow it on the websocket (`/ws?clientId=`), read `/history` and fetch each
picture with `/view`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..sets import (
    SetError,
    prepare_prompt,
    reference_name,
    run_graph_in_process,
    saved_images,
    stage_references,
    write_set,
)
from ..workflow_api import SetShape, read_workflow
from . import jobs as batch_jobs
from .jobs import Manifest, Scheduler, SetSpec


class ServerLost(Exception):
    """The server stopped answering, closed the connection or took too long: its sets go to the others."""


@dataclass
class Options:
    out: Path
    tiny_demo: bool = False
    steps: int | None = None
    timeout: float = 600.0  # seconds one set may take on a server before the server is given up
    capacity: int = 2  # sets queued on each server at once: one running, one waiting, so none idles between sets


# -- preparing a graph and keeping what comes back (shared by both drivers) -------------------------------------

def build_prompt(spec: SetSpec, node_info: dict, options: Options, images: list[str]) -> tuple[dict, SetShape | None]:
    """The set's API-format graph: the job's texts and seed, the references' names on the server, every panel
    returned (for the sheet) and a Save Image prefix of its own."""
    job = spec.job
    return prepare_prompt(read_workflow(job.workflow_path), node_info, summary=job.summary, panels=job.panels,
                          seed=spec.seed, steps=job.steps or options.steps, references=images,
                          tiny_demo=options.tiny_demo, filename_prefix=f"iclora-batch/{job.name}-{spec.seed}")


def keep_set(out: Path, spec: SetSpec, pictures: list[bytes], shape: SetShape | None, server: str,
             prompt_id: str | None, seconds: float, manifest: Manifest) -> bool:
    """Write the set's generated panels (panel-N.png, N in layout order), its contact sheet and metadata.json into
    a staging folder and move it into place in one rename; record it in the manifest. False when the set was
    already there (nothing written)."""
    staging = batch_jobs.staging_folder(out, spec)
    named = [(f"panel-{number}.png", data) for number, data in enumerate(pictures, start=1)]
    files, roles = write_set(staging, named, shape)
    record = batch_jobs.metadata(spec, server, files, roles, prompt_id, seconds)
    (staging / "metadata.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    if not batch_jobs.publish_set(staging, out, spec):
        return False
    manifest.mark_done(spec, server, files)
    return True


# -- progress -----------------------------------------------------------------------------------------------------

class Progress:
    """A bar for the whole batch and one per server: tqdm when it is installed (ComfyUI brings it), plain lines
    otherwise (the pack's own requirements do not include it)."""

    def __init__(self, total: int, servers: list[str], stream=None, use_tqdm: bool | None = None):
        self.stream = stream or sys.stderr
        self.total = total
        self.count = 0
        self.per_server = {url: 0 for url in servers}
        self.bars = None
        if use_tqdm is not False:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bars = {"": tqdm(total=total, desc="batch", unit="set", file=self.stream, position=0)}
                for i, url in enumerate(servers, start=1):
                    self.bars[url] = tqdm(total=0, desc=_short(url), unit="set", file=self.stream, position=i,
                                          bar_format="{desc}: {n} done{postfix}")

    def _line(self, text: str) -> None:
        if self.bars:
            self.bars[""].write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def step(self, url: str, value: int, maximum: int) -> None:
        if self.bars and url in self.bars:
            self.bars[url].set_postfix_str(f"step {value}/{maximum}")

    def finished(self, spec: SetSpec, url: str, failed: str | None = None) -> None:
        self.count += 1
        if url in self.per_server and not failed:
            self.per_server[url] += 1
        if self.bars:
            self.bars[""].update(1)
            if url in self.bars and not failed:
                self.bars[url].update(1)
            if failed:
                self._line(f"failed {spec.key}: {failed}")
        else:
            state = "failed" if failed else "done"
            servers = ", ".join(f"{_short(u)} {n}" for u, n in self.per_server.items())
            self._line(f"[{self.count}/{self.total}] {state} {spec.key} ({_short(url)})  per server: {servers}"
                       + (f": {failed}" if failed else ""))

    def note(self, text: str) -> None:
        self._line(text)

    def close(self) -> None:
        if self.bars:
            for bar in self.bars.values():
                bar.close()


def _short(url: str) -> str:
    return url.removeprefix("http://").removeprefix("https://").rstrip("/") or "in-process"


# -- over HTTP ----------------------------------------------------------------------------------------------------

class Watch:
    def __init__(self):
        self.done = asyncio.Event()
        self.error: str | None = None
        self.lost: str | None = None


class ComfyClient:
    """One server: its /object_info, uploads, queueing, and a websocket whose events are sorted by prompt."""

    def __init__(self, session, url: str, on_progress=None, request_timeout: float = 60):
        import aiohttp

        self.session = session
        self.url = url.rstrip("/")
        self.client_id = uuid.uuid4().hex
        self.watches: dict[str, Watch] = {}
        self.on_progress = on_progress
        self.timeout = aiohttp.ClientTimeout(total=request_timeout)
        self.listener: asyncio.Task | None = None
        self.node_info: dict | None = None
        self.uploaded: dict[Path, str] = {}

    async def _request(self, method: str, path: str, **kwargs):
        import aiohttp

        try:
            async with self.session.request(method, self.url + path, timeout=self.timeout, **kwargs) as response:
                body = await response.read()
                return response.status, body
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            raise ServerLost(f"{method} {path}: {type(error).__name__} {error}".strip()) from None

    async def connect(self) -> None:
        import aiohttp

        status, body = await self._request("GET", "/object_info")
        if status != 200:
            raise ServerLost(f"/object_info answered {status}")
        self.node_info = json.loads(body)
        try:
            self.ws = await self.session.ws_connect(f"{self.url}/ws?clientId={self.client_id}", heartbeat=20,
                                                    timeout=aiohttp.ClientWSTimeout(ws_close=10))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            raise ServerLost(f"websocket: {error}") from None
        self.listener = asyncio.create_task(self._listen())

    def watch(self, prompt_id: str) -> Watch:
        return self.watches.setdefault(prompt_id, Watch())

    async def _listen(self) -> None:
        import aiohttp

        reason = "the websocket closed"
        try:
            async for message in self.ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self._event(json.loads(message.data))
                elif message.type == aiohttp.WSMsgType.ERROR:
                    reason = f"websocket error: {self.ws.exception()}"
                    break
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            reason = f"websocket error: {error}"
        for watch in self.watches.values():
            if not watch.done.is_set():
                watch.lost = reason
                watch.done.set()

    def _event(self, event: dict) -> None:
        kind, data = event.get("type"), event.get("data") or {}
        prompt_id = data.get("prompt_id")
        if not prompt_id:
            return
        if kind == "progress" and self.on_progress:
            self.on_progress(self.url, data.get("value", 0), data.get("max", 0))
        elif kind == "execution_error":
            self.watch(prompt_id).error = (f"{data.get('node_type')} (node {data.get('node_id')}): "
                                           f"{data.get('exception_message', '').strip()}")
        elif kind == "execution_interrupted":
            self.watch(prompt_id).error = "interrupted on the server"
        elif kind == "executing" and data.get("node") is None:
            self.watch(prompt_id).done.set()

    async def upload(self, path: Path) -> str:
        """The reference in the server's input folder under a name made from its content (same picture, same name:
        uploading it again overwrites it with itself)."""
        import aiohttp

        if path in self.uploaded:
            return self.uploaded[path]
        data = path.read_bytes()
        name = reference_name(path, data)
        form = aiohttp.FormData()
        form.add_field("image", data, filename=name, content_type="application/octet-stream")
        form.add_field("overwrite", "true")
        status, body = await self._request("POST", "/upload/image", data=form)
        if status != 200:
            raise SetError(f"uploading {path.name} was refused ({status}): {body[:300].decode(errors='replace')}")
        answer = json.loads(body)
        self.uploaded[path] = f"{answer['subfolder']}/{answer['name']}" if answer.get("subfolder") else answer["name"]
        return self.uploaded[path]

    async def queue(self, prompt: dict) -> str:
        payload = json.dumps({"prompt": prompt, "client_id": self.client_id}).encode()
        status, body = await self._request("POST", "/prompt", data=payload,
                                           headers={"Content-Type": "application/json"})
        answer = _json_or_none(body)
        if status != 200 or not answer or "prompt_id" not in answer:
            raise SetError(f"the server refused the graph ({status}): {_describe_refusal(answer, body)}")
        if answer.get("node_errors"):
            raise SetError(f"the server refused the graph: {_describe_refusal(answer, body)}")
        return answer["prompt_id"]

    async def wait(self, prompt_id: str, timeout: float) -> None:
        watch = self.watch(prompt_id)
        try:
            await asyncio.wait_for(watch.done.wait(), timeout)
        except asyncio.TimeoutError:
            await self.forget(prompt_id)
            raise ServerLost(f"the set took longer than {timeout:g} s") from None
        if watch.lost:
            raise ServerLost(watch.lost)
        if watch.error:
            raise SetError(watch.error)

    async def forget(self, prompt_id: str) -> None:
        """Best effort: take the prompt off the server's queue, or stop it if it is running."""
        try:
            await self._request("POST", "/queue", data=json.dumps({"delete": [prompt_id]}),
                                headers={"Content-Type": "application/json"})
            await self._request("POST", "/interrupt", data=json.dumps({"prompt_id": prompt_id}),
                                headers={"Content-Type": "application/json"})
        except ServerLost:
            pass

    async def pictures(self, prompt_id: str, prompt: dict) -> list[bytes]:
        status, body = await self._request("GET", f"/history/{prompt_id}")
        history = (_json_or_none(body) or {}).get(prompt_id) if status == 200 else None
        if not history:
            raise SetError("the server kept no history of the finished graph")
        pictures = []
        for image in saved_images(history.get("outputs", {}), prompt):
            status, data = await self._request("GET", "/view", params={
                "filename": image["filename"], "subfolder": image.get("subfolder", ""),
                "type": image.get("type", "output")})
            if status != 200:
                raise SetError(f"/view of {image['filename']} answered {status}")
            pictures.append(data)
        return pictures

    async def close(self) -> None:
        if self.listener:
            await self.ws.close()
            await asyncio.gather(self.listener, return_exceptions=True)


def _json_or_none(body: bytes):
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _describe_refusal(answer, body: bytes) -> str:
    if not isinstance(answer, dict):
        return body[:300].decode(errors="replace")
    lines = [f"node {node_id} ({problem.get('class_type')}): {item.get('message')}: {item.get('details')}"
             for node_id, problem in (answer.get("node_errors") or {}).items() for item in problem.get("errors", [])]
    error = answer.get("error")
    if not lines and isinstance(error, dict):
        lines.append(f"{error.get('message')}: {error.get('details')}")
    return "; ".join(lines) or json.dumps(answer)[:300]


async def _make_set_remotely(client: ComfyClient, spec: SetSpec, options: Options):
    started = time.monotonic()
    images = [await client.upload(path) for path in spec.job.references]
    prompt, shape = build_prompt(spec, client.node_info, options, images)
    prompt_id = await client.queue(prompt)
    await client.wait(prompt_id, options.timeout)
    pictures = await client.pictures(prompt_id, prompt)
    return pictures, shape, prompt_id, time.monotonic() - started


def _resume(jobs: list[batch_jobs.Job], out: Path) -> tuple[Manifest, list[SetSpec], int]:
    """The output folder's manifest, the sets still to make, and how many an earlier run already made."""
    out.mkdir(parents=True, exist_ok=True)
    specs = [s for job in jobs for s in job.sets()]
    batch_jobs.clean_staging(out)
    manifest = Manifest.load(out)
    manifest.adopt_published(specs, out)
    todo = [s for s in specs if not manifest.is_done(s, out)]
    return manifest, todo, len(specs) - len(todo)


async def run_on_servers(jobs: list[batch_jobs.Job], servers: list[str], options: Options,
                         progress_stream=None, use_tqdm: bool | None = None) -> tuple[Scheduler, int]:
    """Every set of every job, spread over `servers`; returns the scheduler (finished, failed) and how many sets
    were already done by an earlier run."""
    import aiohttp

    out = options.out
    manifest, todo, skipped = _resume(jobs, out)
    scheduler = Scheduler(todo, servers, options.capacity)
    progress = Progress(len(todo), servers, progress_stream, use_tqdm)
    if skipped:
        progress.note(f"{skipped} set(s) already made by an earlier run: skipped")
    async with aiohttp.ClientSession() as session:
        clients = {url: ComfyClient(session, url, on_progress=progress.step) for url in servers}
        connected = await asyncio.gather(*(c.connect() for c in clients.values()), return_exceptions=True)
        for url, result in zip(clients, connected):
            if isinstance(result, BaseException):
                scheduler.server_lost(url, str(result))
                progress.note(f"{url}: not usable ({result}); its sets go to the others")
        tasks: dict[asyncio.Task, tuple[SetSpec, str]] = {}
        reported = set()
        try:
            while True:
                for spec, url in scheduler.assign():
                    task = asyncio.create_task(_make_set_remotely(clients[url], spec, options))
                    tasks[task] = (spec, url)
                for key, errors in scheduler.failed.items():
                    if key not in reported:
                        reported.add(key)
                        manifest.mark_failed(scheduler.specs[key], errors)
                        progress.finished(scheduler.specs[key], "", failed=_first_error(errors))
                if not tasks:
                    break
                finished, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    spec, url = tasks.pop(task)
                    if spec.key not in scheduler.servers[url].running:
                        continue  # moved elsewhere when this server was dropped: its late answer is ignored
                    error = task.exception()
                    if isinstance(error, ServerLost):
                        progress.note(f"{url} dropped: {error}; its sets go to the others")
                        scheduler.server_lost(url, str(error))
                        for other, (_, other_url) in list(tasks.items()):
                            if other_url == url:
                                other.cancel()
                    elif error is not None:  # the server's own message, or what went wrong preparing the set
                        message = str(error) if isinstance(error, (SetError, ValueError)) else repr(error)
                        scheduler.set_failed(spec, url, message)
                    else:
                        pictures, shape, prompt_id, seconds = task.result()
                        try:
                            keep_set(out, spec, pictures, shape, url, prompt_id, seconds, manifest)
                        except (SetError, OSError, ValueError) as problem:
                            scheduler.set_failed(spec, url, f"its pictures could not be kept: {problem}")
                            continue
                        scheduler.succeeded(spec, url)
                        progress.finished(spec, url)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(*(c.close() for c in clients.values()), return_exceptions=True)
            progress.close()
    return scheduler, skipped


def _first_error(errors: dict[str, str]) -> str:
    return "; ".join(f"{_short(url)}: {message}" for url, message in errors.items())


# -- in this process ----------------------------------------------------------------------------------------------

def run_in_process(jobs: list[batch_jobs.Job], modules, work: Path, options: Options,
                   progress_stream=None, use_tqdm: bool | None = None) -> tuple[Scheduler, int]:
    """The same batch, one set after another, on the ComfyUI started in this process (`modules` =
    start_comfyui's nodes, execution, folder_paths)."""
    nodes, execution, _ = modules
    out = options.out
    manifest, todo, skipped = _resume(jobs, out)
    here = "in-process"
    scheduler = Scheduler(todo, [here], capacity=1)
    progress = Progress(len(todo), [here], progress_stream, use_tqdm)
    reported = set()
    try:
        while True:
            assigned = scheduler.assign()
            for key, errors in scheduler.failed.items():
                if key not in reported:
                    reported.add(key)
                    manifest.mark_failed(scheduler.specs[key], errors)
                    progress.finished(scheduler.specs[key], here, failed=_first_error(errors))
            if not assigned:
                break
            for spec, _ in assigned:
                started = time.monotonic()
                try:
                    names = stage_references(spec.job.references, work / "input")
                    prompt, shape = build_prompt(spec, nodes.NODE_CLASS_MAPPINGS, options, names)
                    pictures = run_graph_in_process(execution, work, prompt, tiny_demo=options.tiny_demo)
                    keep_set(out, spec, [data for _, data in pictures], shape, here, None,
                             time.monotonic() - started, manifest)
                except (SetError, ValueError, OSError) as error:
                    scheduler.set_failed(spec, here, str(error))
                    continue
                scheduler.succeeded(spec, here)
                progress.finished(spec, here)
    finally:
        progress.close()
    return scheduler, skipped
