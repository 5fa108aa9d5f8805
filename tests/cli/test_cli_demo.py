"""`jobs demo` on a machine with nothing configured: the emulator in-process, four jobs, no trace."""

from __future__ import annotations

import re
import tempfile

from click.testing import CliRunner


def test_demo_tours_four_jobs_on_the_emulator_and_leaves_nothing_behind(
    home, monkeypatch, tmp_path
):
    from jobs.cli import cli

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # to see the demo's own store go away
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    result = CliRunner().invoke(
        cli, ["demo", "--speed", "2000"], prog_name="jobs", catch_exceptions=False
    )
    out = result.stdout
    assert result.exit_code == 0, result.output
    assert "This demo runs on the built-in Interactions API emulator" in out
    assert "nothing is sent to Google" in out

    # The last drawing of the live table: four jobs, three completed and one cancelled.
    table = out[out.rindex("$ gjobs list --watch") :]
    rows = re.findall(r"^([2-9a-z]{6})\s+(\w+)\s+(\S+)", table, flags=re.M)[:4]
    assert [status for _, status, _ in rows] == ["completed", "completed", "completed", "cancelled"]
    assert (
        sum("deep-research" in target for _, _, target in rows) == 2
    )  # one ran, one was cancelled
    assert "the server says: cancelled" in out
    assert "conversation" in out and "→ 2." in out  # the chained follow-up
    assert "usage (tokens)" in out and "total tokens" in out
    assert max(len(line) for line in out.splitlines()) <= 80

    assert not home.exists()  # nothing in the user's JOBS_HOME
    assert list((tmp_path / "tmp").iterdir()) == []  # and its temporary store is gone
