"""The README test's comparison: volatile parts match anything of their kind, the rest must match."""

from __future__ import annotations

import tour

IDS = {"wq4rg8", "jqfufv", "xu4ncp"}


def matches(readme_line: str, actual_line: str) -> bool:
    return tour.mismatch([readme_line], [actual_line], IDS) is None


def test_ids_times_numbers_and_urls_may_differ():
    assert matches(
        "wq4rg8 pending (after jqfufv)",
        "k2n4zz pending (after 7hhq3m)",
    )
    assert matches(
        "19:49:21 submitted 0, polled 3, finished 3", "20:01:02 submitted 1, polled 12, finished 0"
    )
    assert matches(
        "jqfufv queued  interaction int_de7504d9255343a5af2aeb99",
        "6ewram queued  interaction int_0123456789abcdef01234567",
    )
    assert matches("  store sqlite:////home/you/jobs.db", "  store sqlite:////tmp/x/jobs.db")


def test_cut_cells_and_column_widths_may_differ():
    assert matches(
        "xu4ncp  completed  deep-research-preview-04-2026  1m01s  35s   3,167  How did background job queues …",
        "4st4nq  completed  deep-research-preview-04-20…  3m02s    50s   3,167  How did background job queue…",
    )


def test_words_statuses_and_order_must_match():
    assert not matches("wq4rg8 pending (after jqfufv)", "wq4rg8 queued (after jqfufv)")
    assert not matches("waits for jqfufv to finish", "waits for jqfufv to end")
    assert not matches("worker stopped", "error: worker stopped")
    readme = ["first line", "second line"]
    assert tour.mismatch(readme, ["first line", "other", "second line"], IDS) is None
    assert tour.mismatch(readme, ["second line", "first line"], IDS) is not None


def test_a_broken_command_is_caught():
    """What the tour test reports when a README command no longer works."""
    problem = tour.mismatch(
        ["jqfufv queued  interaction int_de7504d9255343a5af2aeb99"],
        ["error: no such command 'submt' (see `gjobs --help`)"],
        IDS,
    )
    assert problem is not None and "the README says" in problem


def test_steps_parse_background_and_interrupted_commands():
    readme = """
<!-- tour -->
```console
$ gjobs emulator --port $PORT &
Press Ctrl-C to stop.
$ gjobs worker
worker ...
^C
worker stopped
$ gjobs list
```
"""
    steps = tour.tour_steps(readme)
    assert [s.command for s in steps] == [
        "gjobs emulator --port $PORT &",
        "gjobs worker",
        "gjobs list",
    ]
    assert steps[0].background and steps[1].interrupted and not steps[2].interrupted
    script = tour.script(steps, 12345)
    assert "gjobs worker &" in script and "__wait_for_text 'Press Ctrl-C to stop.'" in script
