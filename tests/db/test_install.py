"""A non-editable install (a wheel in a fresh virtual environment) migrates its own store.

The wheel carries the migrations as jobs/_migrations; nothing may depend on the checkout. The
dependencies come from this environment's site-packages through a .pth file (no downloads for them);
pip builds the wheel with hatchling, which it may fetch from PyPI.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from jobs.migrate import SCHEMA_HEAD

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

CHECK = """
import json, sqlite3, sys
from pathlib import Path
import jobs, jobs.migrate
from jobs.db import default_sqlite_url, open_database

home = Path(sys.argv[1])
open_database(default_sqlite_url(home)).close()
versions = sqlite3.connect(home / "jobs.db").execute("SELECT version_num FROM alembic_version").fetchall()
print(json.dumps({
    "jobs": jobs.__file__,
    "migrations": str(jobs.migrate.migrations_dir()),
    "versions": [row[0] for row in versions],
    "checkout_on_path": any(Path(p or ".").resolve() == Path(sys.argv[2]) for p in sys.path),
    "web_static": sorted(f.name for f in (Path(jobs.__file__).parent / "web" / "static").iterdir()),
}))
"""


def run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=300, **kwargs
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_wheel_install_opens_and_migrates_a_store(tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(
        run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip()
    )
    # This environment's packages, after the new one's own; the editable jobs .pth in there is not
    # processed (only site directories' .pth files are), so the checkout stays off sys.path.
    (site / "zz_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")

    run(
        sys.executable, "-m", "pip", "--python", python, "install",
        "--no-deps", "--quiet", "--disable-pip-version-check", REPO,
    )  # fmt: skip

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = tmp_path / "home"
    out = run(python, "-I", "-c", CHECK, home, REPO, cwd=elsewhere).stdout
    result = json.loads(out)
    assert Path(result["jobs"]).is_relative_to(site)
    assert Path(result["migrations"]) == site / "jobs" / "_migrations"
    assert result["versions"] == [SCHEMA_HEAD]
    assert result["checkout_on_path"] is False
    # `gjobs serve`'s page ships in the wheel (no build step, nothing fetched at run time).
    assert {"index.html", "app.js", "app.css", "markdown.js"} <= set(result["web_static"])
