"""The price table: which row applies, what usage costs, unpriced never free, user overrides."""

from __future__ import annotations

from datetime import date

import pytest

from jobs.config import load_settings
from jobs.errors import ConfigError
from jobs.service.budgets import parse_budget, streamed_usage
from jobs.service.prices import PriceTable, load_price_table, parse_rows, shipped_rows

FLASH = "gemini-3-flash-preview"
MILLION = {"input": 1_000_000, "output": 1_000_000}


def table(*rows: dict) -> PriceTable:
    return PriceTable.merged(parse_rows(rows, "test"))


def test_every_shipped_price_says_where_it_comes_from_and_how_it_was_checked():
    rows = shipped_rows()
    assert rows
    for row in rows:
        assert row.source, row.target
        assert row.verified in {"secondary", "derived", "unverified"}, row.target
    flash = PriceTable.merged(rows).lookup(FLASH, "standard", date(2026, 12, 1))
    assert (flash.input, flash.cached, flash.output, flash.search) == (0.50, 0.05, 3.00, 14.0)


def test_a_later_price_never_changes_the_cost_of_older_jobs():
    prices = table(
        {"target": "m", "effective": date(2026, 1, 1), "input": 1.0, "output": 2.0},
        {"target": "m", "effective": date(2026, 6, 1), "input": 10.0, "output": 20.0},
    )
    assert prices.cost("m", None, date(2026, 5, 31), MILLION) == pytest.approx(3.0)
    assert prices.cost("m", None, date(2026, 6, 1), MILLION) == pytest.approx(30.0)
    # Before the first price: unpriced, not free.
    assert prices.cost("m", None, date(2025, 12, 31), MILLION) is None


def test_unknown_model_or_tier_is_unpriced_and_star_matches_any_tier():
    prices = table(
        {"target": "m", "effective": date(2026, 1, 1), "input": 1.0, "output": 2.0},
        {
            "target": "agent",
            "service_tier": "*",
            "effective": date(2026, 1, 1),
            "input": 1,
            "output": 1,
        },
    )
    assert prices.cost("other", None, date(2026, 2, 1), MILLION) is None
    assert prices.cost("m", "priority", date(2026, 2, 1), MILLION) is None
    assert prices.cost("agent", "flex", date(2026, 2, 1), MILLION) == pytest.approx(2.0)


def test_token_kinds_context_tiers_and_search_calls_are_priced_apart():
    prices = table(
        {"target": "m", "effective": date(2026, 1, 1), "input": 2.0, "cached": 0.5,
         "output": 10.0, "thought": 5.0, "search": 14.0},
        {"target": "m", "effective": date(2026, 1, 1), "context_above": 200_000,
         "input": 4.0, "output": 20.0},
    )  # fmt: skip
    day = date(2026, 2, 1)
    tokens = {"input": 1_000_000, "cached": 400_000, "output": 100_000, "thought": 200_000}
    # over 200k input: the second row (no cached/thought price: input/output prices apply)
    assert prices.cost("m", None, day, tokens, 10) == pytest.approx(
        0.6 * 4 + 0.4 * 4 + 0.1 * 20 + 0.2 * 20 + 0  # that row has no search price
    )
    small = {"input": 100_000, "cached": 40_000, "output": 10_000, "thought": 20_000}
    assert prices.cost("m", None, day, small, 10) == pytest.approx(
        0.06 * 2 + 0.04 * 0.5 + 0.01 * 10 + 0.02 * 5 + 10 * 14 / 1000
    )


def test_a_user_priced_model_ignores_the_shipped_rows_whatever_their_dates():
    shipped = parse_rows(
        [{"target": "m", "effective": date(2026, 4, 1), "input": 5.0, "output": 5.0},
         {"target": "n", "effective": date(2026, 4, 1), "input": 5.0, "output": 5.0}],
        "shipped",
    )  # fmt: skip
    mine = parse_rows(
        [{"target": "m", "effective": date(2026, 1, 1), "input": 1, "output": 1}], "config"
    )
    prices = PriceTable.merged(shipped, mine)
    assert prices.cost("m", None, date(2026, 12, 1), MILLION) == pytest.approx(2.0)
    assert prices.cost("n", None, date(2026, 12, 1), MILLION) == pytest.approx(10.0)
    assert prices.cost("m", None, date(2025, 12, 1), MILLION) is None  # before my first price


def test_config_rows_replace_shipped_ones_and_a_price_file_adds_more(tmp_path):
    (tmp_path / "config.toml").write_text(
        "[[prices.price]]\n"
        f'target = "{FLASH}"\nservice_tier = "standard"\neffective = 2025-12-17\n'
        "input = 9.0\noutput = 9.0\n"
    )
    (tmp_path / "extra.toml").write_text(
        '[[price]]\ntarget = "my-model"\neffective = 2026-01-01\ninput = 1\noutput = 1\n'
    )
    settings = load_settings(
        {"JOBS_HOME": str(tmp_path), "JOBS_PRICES": str(tmp_path / "extra.toml")}
    )
    prices = load_price_table(settings)
    row = prices.lookup(FLASH, "standard", date(2026, 12, 1))
    assert (row.input, row.origin) == (9.0, "config")
    assert prices.lookup("my-model", None, date(2026, 6, 1)).origin == str(tmp_path / "extra.toml")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"effective": date(2026, 1, 1), "input": 1, "output": 1}, "needs a target"),
        ({"target": "m", "input": 1, "output": 1}, "effective must be a date"),
        ({"target": "m", "effective": date(2026, 1, 1), "output": 1}, "needs 'input'"),
        ({"target": "m", "effective": date(2026, 1, 1), "input": -1, "output": 1}, "non-negative"),
        (
            {"target": "m", "effective": date(2026, 1, 1), "input": 1, "output": 1, "x": 1},
            "unknown",
        ),
    ],
)
def test_bad_price_rows_are_one_clear_error(row, message):
    with pytest.raises(ConfigError, match=message):
        parse_rows([row], "config")


def test_budgets_parse_tokens_and_dollars():
    assert parse_budget(["50k"]).max_tokens == 50_000
    assert parse_budget(["2m"]).max_tokens == 2_000_000
    assert parse_budget(["1200 tokens"]).max_tokens == 1200
    both = parse_budget(["$1.50", "10k"])
    assert (both.max_tokens, both.max_cost_usd) == (10_000, 1.5)
    assert parse_budget(["0.25usd"]).max_cost_usd == 0.25
    from jobs.errors import UsageError

    for bad in ("", "ten", "$", "0", "-5k"):
        with pytest.raises(UsageError):
            parse_budget([bad])


def test_streamed_usage_adds_up_steps_and_keeps_the_largest_view():
    payloads = [
        {"event_type": "interaction.created", "interaction": {"usage": {"total_input_tokens": 12}}},
        {"event_type": "step.stop", "step_usage": {"total_output_tokens": 30}},
        {"event_type": "step.stop", "step_usage": {"total_thought_tokens": 50}},
        {"event_type": "step.stop", "step_usage": {"total_output_tokens": 10}},
    ]
    usage = streamed_usage(payloads)
    assert usage["total_output_tokens"] == 40
    assert usage["total_tokens"] == 12 + 40 + 50
    payloads.append({"event_type": "interaction.status_update", "usage": {"total_tokens": 500}})
    assert streamed_usage(payloads)["total_tokens"] == 500
