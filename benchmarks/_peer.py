"""A peer client generated at benchmark time by ``openapi-python-client`` from the spec extract.

The generated code goes to a temporary directory and is imported from there; it is never
committed. Needs ``pip install openapi-python-client`` (which brings httpx); generation
reads only ``benchmarks/data/openapi-fulfillments.json`` (no network).
"""

from __future__ import annotations

import atexit
import importlib
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType

SPEC = Path(__file__).parent / "data" / "openapi-fulfillments.json"
PACKAGE = "drpeer"


def _generator() -> list[str] | None:
    scripts = Path(sysconfig.get_path("scripts"))
    for candidate in (scripts / "openapi-python-client", shutil.which("openapi-python-client")):
        if candidate and Path(candidate).exists():
            return [str(candidate)]
    return None


def generate() -> tuple[ModuleType | None, str]:
    """Import the generated package, or ``(None, why not)``. The package is ``drpeer``."""
    command = _generator()
    if command is None:
        return None, "openapi-python-client is not installed (pip install openapi-python-client)"
    root = Path(tempfile.mkdtemp(prefix="drpeer-"))
    atexit.register(shutil.rmtree, root, True)
    out = str(root / PACKAGE)
    done = subprocess.run(
        [*command, "generate", "--path", str(SPEC), "--meta", "none", "--output-path", out],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not (root / PACKAGE / "__init__.py").exists():
        return None, f"generation failed ({done.returncode}): {done.stderr.strip()[-500:]}"
    sys.path.insert(0, str(root))
    try:
        return importlib.import_module(PACKAGE), f"generated into {root} (removed at exit)"
    except ImportError as error:  # e.g. httpx missing
        return None, f"the generated client does not import: {error}"
