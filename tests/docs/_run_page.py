"""Run or check every code block of one docs page, in this process: ``python -m tests.docs._run_page PAGE URL TMP``.

Started by ``test_code_blocks.py``, one process per page; exits 0 when every block passed, else prints
the failure and exits 1.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

from tests.docs._blocks import page_blocks
from tests.docs._checks import CHECKS, Page


def main(page_path: str, redis_url: str, tmp_dir: str) -> int:
    """Run the page's blocks against the Redis at ``redis_url``; return the exit code."""
    page = Page(page_path, redis_url, Path(tmp_dir))
    try:
        for block in page_blocks(Path(page_path)):
            if block.kind not in CHECKS:
                print(f"{block.where}: not handled")
                return 1
            CHECKS[block.kind](page, block)
    except Exception:
        traceback.print_exc(file=sys.stdout)
        return 1
    finally:
        page.services.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
