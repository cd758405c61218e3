"""Set up a ComfyUI host to test the pack against: the source exported into a folder, a venv with the torch trio
that fits it and its requirements, the pack's test requirements and playwright, and optionally a venv for the
ComfyUI-Manager command line. The next ComfyUI release is one command away:

    python tools/setup_comfyui.py /path/to/ComfyUI.git /path/to/hosts            # a (bare) git directory: HEAD
    python tools/setup_comfyui.py /path/to/ComfyUI /path/to/hosts --manager      # or a plain folder

It writes `<dest>/comfyui-<version>`, `<dest>/venv-<version>` (and `<dest>/venv-manager-<version>`) and prints the
COMFYUI_PATH and python to run the host tier with. The pure parts (version, torch trio, requirements, what the
core imports) are plain functions, unit-tested without a ComfyUI.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import ROOT


@dataclass(frozen=True)
class TorchTrio:
    torch: str
    torchvision: str
    torchaudio: str | None = None

    def requirements(self) -> list[str]:
        pins = [f"torch=={self.torch}", f"torchvision=={self.torchvision}"]
        return pins + ([f"torchaudio=={self.torchaudio}"] if self.torchaudio else [])


# The one table of torch builds that install here (ComfyUI imports torchvision unconditionally; the registry's
# torchaudio stops at 2.11.x, and torch 2.11.0 is the newest with a torchvision and torchaudio that pair with it).
TORCH_WITHOUT_TORCHAUDIO = TorchTrio("2.14.1", "0.29.1")
TORCH_WITH_TORCHAUDIO = TorchTrio("2.11.0", "0.26.0", "2.11.0")

# Installed by their own step (the trio above), never from ComfyUI's requirements.
TORCH_PACKAGES = frozenset({"torch", "torchvision", "torchaudio"})
# Only ComfyUI's 3D nodes use these; they do not install here and the pack does not need them.
THREE_D_ONLY = frozenset({"pyopengl", "comfy-angle"})
# ComfyUI's server imports requests; 0.3.64's requirements do not list it.
ALWAYS_EXTRA = ("requests",)
# Where ComfyUI starts: what these import at module level (and what that imports) is its core; comfy_extras and
# custom nodes are loaded later, one by one, and an import failure there only drops those nodes.
CORE_ENTRY_FILES = ("main.py", "server.py", "nodes.py", "execution.py")


def parse_version(text: str) -> str:
    """The version in a `comfyui_version.py` (`__version__ = "0.33.0"`)."""
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.MULTILINE)
    if not match:
        raise ValueError("no __version__ = \"...\" line in comfyui_version.py")
    return match.group(1)


def choose_torch(needs_torchaudio: bool) -> TorchTrio:
    """The newest torch that installs here, unless the core imports torchaudio: then the newest trio with one."""
    return TORCH_WITH_TORCHAUDIO if needs_torchaudio else TORCH_WITHOUT_TORCHAUDIO


def requirement_name(line: str) -> str | None:
    """The normalised package name of a requirements line, or None for a comment, blank or option line."""
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else None


def filter_requirements(text: str) -> list[str]:
    """ComfyUI's requirements lines to install: without the torch trio (installed pinned before) and the 3D-only
    packages, everything else (torchsde included) as written, plus what its server needs but does not list."""
    kept, names = [], set()
    for raw in text.splitlines():
        name = requirement_name(raw)
        if name is None or name in TORCH_PACKAGES or name in THREE_D_ONLY:
            continue
        kept.append(raw.split("#", 1)[0].strip())
        names.add(name)
    return kept + [extra for extra in ALWAYS_EXTRA if extra not in names]


def module_level_imports(source: str) -> list[tuple[str, int]]:
    """(module, level) of the imports a module runs when it is imported: at module level or in a module-level
    `if`, not inside a function, class or `try` (a guarded import is optional by design). `from a import b` gives
    both "a" and "a.b" (b may be a submodule)."""
    found: list[tuple[str, int]] = []

    def visit(statements):
        for node in statements:
            if isinstance(node, ast.Import):
                found.extend((alias.name, 0) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                found.append((base, node.level))
                found.extend((f"{base}.{alias.name}" if base else alias.name, node.level) for alias in node.names
                             if alias.name != "*")
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)

    visit(ast.parse(source).body)
    return found


def _module_file(root: Path, name: str) -> Path | None:
    path = root.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _absolute(root: Path, file: Path, name: str, level: int) -> str:
    if level == 0:
        return name
    package = list(file.relative_to(root).with_suffix("").parts)
    package = package[:-1]  # a module's package; for __init__ the package itself is its folder
    package = package[:len(package) - (level - 1)]
    return ".".join([*package, name] if name else package)


def core_imports(root: Path, package: str) -> list[Path]:
    """The ComfyUI files (under `root`) that import `package` unconditionally and are reached, through such imports,
    from ComfyUI's start-up files: if any, ComfyUI does not start without `package`."""
    seen: set[Path] = set()
    queue = [root / name for name in CORE_ENTRY_FILES if (root / name).is_file()]
    importers = []
    while queue:
        file = queue.pop()
        if file in seen:
            continue
        seen.add(file)
        try:
            imports = module_level_imports(file.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            continue
        for name, level in imports:
            absolute = _absolute(root, file, name, level)
            if level == 0 and absolute.split(".")[0] == package:
                importers.append(file)
            parts = absolute.split(".")
            for end in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ first
                target = _module_file(root, ".".join(parts[:end]))
                if target is not None and target not in seen:
                    queue.append(target)
    return sorted(set(importers))


def missing_blobs(git_dir: Path, rev: str = "HEAD") -> list[str]:
    """Paths in `rev` whose blobs the (partial) git snapshot does not hold."""
    listing = subprocess.run(["git", "--git-dir", str(git_dir), "ls-tree", "-r", "-z", rev], check=True,
                             capture_output=True).stdout.decode()
    blobs = {}
    for entry in filter(None, listing.split("\0")):
        meta, path = entry.split("\t", 1)
        _mode, kind, sha = meta.split()
        if kind == "blob":
            blobs.setdefault(sha, []).append(path)
    check = subprocess.run(["git", "--git-dir", str(git_dir), "cat-file", "--batch-check"], check=True,
                           input="\n".join(blobs).encode(), capture_output=True).stdout.decode()
    missing = [line.split()[0] for line in check.splitlines() if line.endswith(" missing")]
    return sorted(path for sha in missing for path in blobs[sha])


def git_dir_of(source: Path) -> Path | None:
    """The git directory of `source` (a bare git dir or a checkout), or None for a plain folder."""
    if (source / "HEAD").is_file() and (source / "objects").is_dir():
        return source
    if (source / ".git").exists():
        return source / ".git"
    return None


def export_source(source: Path, target: Path) -> list[str]:
    """Copy ComfyUI's files into `target` (HEAD of a git directory, or a folder as it is); returns the paths
    skipped because the snapshot lacks them."""
    if target.exists():
        raise SystemExit(f"{target} exists; remove it or choose another destination")
    git_dir = git_dir_of(source)
    if git_dir is None:
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(".git", "__pycache__"), symlinks=True)
        return []
    skipped = missing_blobs(git_dir)
    target.mkdir(parents=True)
    archive = subprocess.Popen(["git", "--git-dir", str(git_dir), "archive", "HEAD", "--", ".",
                                *(f":(exclude,literal){path}" for path in skipped)], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(target)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise SystemExit(f"git archive of {git_dir} failed")
    return skipped


def run(*command: str | Path) -> None:
    print("+", " ".join(map(str, command)), flush=True)
    subprocess.run([str(part) for part in command], check=True)


def make_venv(venv: Path, python: str) -> Path:
    run(python, "-m", "venv", venv)
    return venv / "bin" / "python"


def purelib(python: Path) -> str:
    return subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()


@dataclass(frozen=True)
class Host:
    version: str
    comfyui: Path
    python: Path
    cm_cli: Path | None
    trio: TorchTrio
    skipped: tuple[str, ...]


def set_up(source: Path, dest: Path, manager: bool = False, python: str = sys.executable) -> Host:
    """Export, venv, torch trio, requirements, test requirements, playwright, optional Manager venv."""
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".comfyui-export-", dir=dest))  # two setups into one dest never collide
    staging.rmdir()
    skipped = export_source(source, staging)
    version = parse_version((staging / "comfyui_version.py").read_text())
    comfyui = dest / f"comfyui-{version}"
    if comfyui.exists():
        shutil.rmtree(staging)
        raise SystemExit(f"{comfyui} exists; remove it first or choose another destination")
    staging.rename(comfyui)
    importers = core_imports(comfyui, "torchaudio")
    trio = choose_torch(bool(importers))
    print(f"ComfyUI {version}; skipped (absent from the snapshot): {skipped or 'none'}")
    print(f"torchaudio imported by the core: {[str(p.relative_to(comfyui)) for p in importers] or 'no'}; "
          f"torch {trio.requirements()}")

    venv_python = make_venv(dest / f"venv-{version}", python)
    pip = (venv_python, "-m", "pip", "install", "--quiet")
    run(*pip, *trio.requirements())
    requirements = dest / f"requirements-{version}.txt"
    requirements.write_text("\n".join(filter_requirements((comfyui / "requirements.txt").read_text())) + "\n")
    run(*pip, "-r", requirements)
    run(*pip, "-r", ROOT / "requirements-test.txt", "playwright")

    cm_cli = None
    if manager:
        manager_python = make_venv(dest / f"venv-manager-{version}", python)
        # The Manager sees the host's packages (it imports ComfyUI's), but its own dependencies stay out of them.
        Path(purelib(manager_python), "base.pth").write_text(purelib(venv_python) + "\n")
        run(manager_python, "-m", "pip", "install", "--quiet", "comfyui-manager")
        cm_cli = manager_python.parent / "cm-cli"
    return Host(version, comfyui, venv_python, cm_cli, trio, tuple(skipped))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="ComfyUI: a (bare) git directory (its HEAD) or a folder")
    parser.add_argument("dest", type=Path, help="where comfyui-<version>/ and venv-<version>/ are made")
    parser.add_argument("--manager", action="store_true", help="also a venv with the ComfyUI-Manager's cm-cli")
    parser.add_argument("--python", default=sys.executable, help="the Python to make the venvs with")
    options = parser.parse_args(argv)
    host = set_up(options.source.resolve(), options.dest.resolve(), options.manager, options.python)
    print(f"\nComfyUI {host.version} is ready. Run the host tier with:")
    cm = f"ICLORA_CM_CLI={host.cm_cli} " if host.cm_cli else ""
    print(f"  {cm}COMFYUI_PATH={host.comfyui} {host.python} -m pytest tests/host")
    return 0

