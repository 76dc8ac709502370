"""Refresh the README's screenshots (docs/sidebar.png, review.png, dashboard.png):

    .venv/bin/python -m tests.browser.screenshots

runs the browser tests marked ``screenshot`` with SCRIBE_REFRESH_SCREENSHOTS=1, so that they
write into docs/ instead of the test-output folder an ordinary test run uses. Commit the
changed images on purpose; an ordinary run of the suite never touches docs/.
"""
from __future__ import annotations

import os
import subprocess
import sys

from .conftest import DOCS, REFRESH, ROOT


def main(argv: list[str]) -> int:
    env = {**os.environ, REFRESH: "1"}
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-m", "screenshot", "tests/browser", *argv],
                           cwd=ROOT, env=env)
    if code == 0:
        print(f"screenshots refreshed in {os.path.relpath(DOCS, ROOT)}/: "
              + ", ".join(sorted(n for n in os.listdir(DOCS) if n.endswith(".png"))))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
