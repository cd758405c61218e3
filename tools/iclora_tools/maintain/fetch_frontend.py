"""Fetch a ComfyUI frontend package into a cache folder, to run the browser tests against a newer editor.

ComfyUI serves the frontend its requirements pin; users who update get a newer one. This downloads the wheel of
`comfyui-frontend-package` (the newest, or `--version`) with pip, unpacks it outside the project and prints the
folder to give ComfyUI's `--front-end-root` and the browser tests:

    python tools/fetch_frontend.py                 # newest on the package index
    python tools/fetch_frontend.py --version 1.58.1

The browser tier (tests/host/test_editor_in_chromium.py) runs against the pinned frontend and every frontend found
in the cache folder, or exactly the folders listed in ICLORA_FRONTEND_ROOTS (separated by the path separator).
Nothing is installed into the Python environment.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "comfyui-frontend-package"
ROOTS_VARIABLE = "ICLORA_FRONTEND_ROOTS"


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "in-context-lora-panels" / "frontends"


def static_root(unpacked: Path) -> Path:
    """The folder ComfyUI's --front-end-root takes: the wheel's `comfyui_frontend_package/static`."""
    return unpacked / "comfyui_frontend_package" / "static"


def frontend_version(root: Path) -> str:
    """The version of an unpacked frontend, from the wheel's metadata folder beside the package."""
    for info in root.parent.parent.glob("comfyui_frontend_package-*.dist-info"):
        return info.name.removeprefix("comfyui_frontend_package-").removesuffix(".dist-info")
    return root.parent.parent.name


def cached_roots(cache: Path | None = None) -> list[Path]:
    """Every unpacked frontend in the cache, oldest version first."""
    cache = cache or default_cache()
    roots = [static_root(p) for p in cache.glob("*") if (static_root(p) / "index.html").is_file()]
    return sorted(roots, key=lambda r: [int(x) if x.isdigit() else 0 for x in frontend_version(r).split(".")])


def configured_roots() -> list[Path]:
    """The frontends the browser tier runs besides the pinned one: ICLORA_FRONTEND_ROOTS, else the cache."""
    listed = os.environ.get(ROOTS_VARIABLE)
    if listed is not None:
        return [Path(p) for p in listed.split(os.pathsep) if p]
    return cached_roots()


def newest_version() -> str:
    out = subprocess.run([sys.executable, "-m", "pip", "index", "versions", PACKAGE], check=True,
                         capture_output=True, text=True).stdout
    match = re.search(rf"^{re.escape(PACKAGE)} \(([^)]+)\)", out, re.MULTILINE)
    if not match:
        raise SystemExit(f"pip index versions {PACKAGE} gave no version:\n{out}")
    return match.group(1)


def fetch(version: str, cache: Path) -> Path:
    target = cache / version
    if (static_root(target) / "index.html").is_file():
        return static_root(target)
    with tempfile.TemporaryDirectory() as download:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", f"{PACKAGE}=={version}",
                        "-d", download], check=True)
        wheel = next(Path(download).glob("*.whl"))
        partial = cache / f".{version}.partial"
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(partial)
        partial.rename(target)
    return static_root(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", help=f"the {PACKAGE} version (default: the newest on the package index)")
    parser.add_argument("--cache", type=Path, default=default_cache(), help="where frontends are unpacked")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    root = fetch(args.version or newest_version(), args.cache)
    print(f"frontend {frontend_version(root)}: {root}")
    print(f"ComfyUI: python main.py --front-end-root {root}")


if __name__ == "__main__":
    main()
