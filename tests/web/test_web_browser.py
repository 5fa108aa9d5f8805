"""The page in a real headless Chromium: what a user does and sees."""

from __future__ import annotations

import json
import re

import pytest
from waiting import wait_for

from jobs.service import SubmitSpec

pytestmark = pytest.mark.slow


def turn(page, job_id: str):
    return page.locator(f'.turn[data-job="{job_id}"]')


def turn_ids(page) -> list[str]:
    return page.eval_on_selector_all(".turn[data-job]", "ns => ns.map(n => n.dataset.job)")


def send(page, text: str) -> None:
    page.fill("#message", text)
    page.press("#message", "Enter")


def test_two_quick_messages_the_second_waits_then_continues_the_first(
    open_page, web, advance_until
):
    tab = open_page()
    page = tab.page
    send(page, "Explain in two sentences why the sky is blue.")
    send(page, "Now explain it to a five-year-old.")  # at once: the first has not even started
    wait_for(lambda: len(turn_ids(page)) == 2, what="two turns on the page")
    first, second = turn_ids(page)
    service = web.app.service

    # The second is recorded as waiting for the first, and the page says so.
    assert service.get_job(second).status == "pending"
    assert service.get_job(second).parent_job_id == first
    badge = turn(page, second).locator(".badge.status")
    assert badge.inner_text() == f"waiting for {first} to finish"
    assert page.input_value("#message") == ""  # the box is free for the next message
    tab.screenshot("1-second-waits")

    advance_until(lambda: service.get_job(first).status == "completed", what="turn 1 done")
    advance_until(
        lambda: turn(page, second).get_attribute("data-status") == "completed",
        what="turn 2 completed on the page",
    )
    one, two = service.get_job(first), service.get_job(second)
    assert two.previous_interaction_id == one.interaction_id  # chained on the API's side
    assert two.submitted_at >= one.finished_at  # sent only once its predecessor completed
    answer = turn(page, second).locator(".answer")
    wait_for(lambda: "This is turn 2 of our conversation" in answer.inner_text(), what="answer")
    assert "tokens" in turn(page, second).locator(".usage").inner_text()
    tab.screenshot("2-chained")


def test_html_and_script_in_a_prompt_render_as_text(open_page, web, advance_until):
    tab = open_page()
    page = tab.page
    hostile = (
        '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
        '<b>bold?</b> [x](javascript:window.__pwned=3) <iframe src="/"></iframe>'
    )
    send(page, hostile)
    wait_for(lambda: turn_ids(page), what="the turn")
    (job_id,) = turn_ids(page)
    advance_until(
        lambda: turn(page, job_id).get_attribute("data-status") == "completed", what="answer"
    )
    bubble = turn(page, job_id).locator(".bubble").inner_text()
    assert bubble == hostile  # shown exactly as typed, as text
    answer = turn(page, job_id).locator(".answer")
    wait_for(lambda: "<script>" in answer.inner_text(), what="the quoted prompt, as text")
    assert page.evaluate("window.__pwned") is None
    for tag in ("img", "script", "iframe", "b"):  # (the renderer itself writes <strong>)
        for part in (".bubble", ".answer", ".thought-list"):
            assert page.locator(f"#turns {part} {tag}").count() == 0, (part, tag)
    assert page.locator("#turns script, #turns img, #turns iframe").count() == 0
    assert page.locator('#turns a[href^="javascript"]').count() == 0
    tab.screenshot("escaped")


def test_cancel_a_deep_research_job(open_page, web, advance_until):
    tab = open_page()
    page = tab.page
    page.select_option("#target-kind", "agent")
    send(page, "How did background job queues evolve?")
    wait_for(lambda: turn_ids(page), what="the turn")
    (job_id,) = turn_ids(page)
    service = web.app.service
    assert service.get_job(job_id).agent == web.app.settings["defaults.agent"]
    advance_until(
        lambda: (
            turn(page, job_id).get_attribute("data-status") == "in_progress"
            and page.locator('.event[data-type="step.delta"]').count() > 0
        ),
        what="the research running, its events arriving",
    )
    turn(page, job_id).locator("button.cancel").click()
    advance_until(
        lambda: turn(page, job_id).get_attribute("data-status") == "cancelled",
        what="cancelled on the page",
    )
    job = service.get_job(job_id)
    assert job.status == "cancelled" and job.cancel_sent_at is not None
    assert web.app.settings["defaults.agent"] in turn(page, job_id).locator(".target").inner_text()
    assert turn(page, job_id).locator("button.cancel").is_hidden()
    row = page.locator(f'.job-row[data-job="{job_id}"]')
    wait_for(lambda: row.get_attribute("data-status") == "cancelled", what="jobs panel")
    tab.screenshot("cancelled")


def test_the_jobs_panel_shows_jobs_from_elsewhere_live_filters_and_opens_them(
    open_page, web, advance_until
):
    service = web.app.service
    tab = open_page()
    page = tab.page
    # Submitted elsewhere (as `gjobs submit` does) while the page is open.
    other = service.submit_new(SubmitSpec(prompt="A job from the command line"))
    row = page.locator(f'.job-row[data-job="{other.id}"]')
    wait_for(lambda: row.count() == 1, what="the CLI's job in the panel")
    advance_until(lambda: row.get_attribute("data-status") == "completed", what="live state")
    wait_for(lambda: "tokens" in row.locator(".job-tokens").inner_text(), what="tokens")
    service.submit_new(SubmitSpec(prompt="Something else entirely"))
    wait_for(lambda: page.locator(".job-row").count() == 2, what="both jobs")

    page.fill("#job-filter", "command line")
    wait_for(lambda: page.locator(".job-row").count() == 1, what="the filter")
    page.select_option("#status-filter", label="completed")
    wait_for(lambda: page.locator(".job-row").count() == 1, what="status filter")

    row.locator(".job-open").click()
    wait_for(lambda: turn_ids(page) == [other.id], what="its conversation")
    assert "A job from the command line" in turn(page, other.id).locator(".bubble").inner_text()
    wait_for(lambda: turn(page, other.id).locator(".answer").inner_text().strip(), what="answer")
    tab.screenshot("jobs-panel")


def test_a_reload_and_a_second_tab_show_the_same_conversation(open_page, web, advance_until):
    tab = open_page()
    page = tab.page
    send(page, "First question")
    wait_for(lambda: len(turn_ids(page)) == 1, what="turn 1")
    send(page, "Second question")
    wait_for(lambda: len(turn_ids(page)) == 2, what="turn 2")
    ids = turn_ids(page)
    page.reload()
    page.wait_for_selector("#conn[data-state=live]")
    wait_for(lambda: turn_ids(page) == ids, what="the same turns after a reload")
    other = open_page(context=page.context)  # a second tab (same browser profile)
    wait_for(lambda: turn_ids(other.page) == ids, what="the same turns in a second tab")
    advance_until(
        lambda: (
            other.page.locator(".turn[data-status=completed]").count() == 2
            and page.locator(".turn[data-status=completed]").count() == 2
        ),
        what="both tabs follow the turns to the end",
    )
    # A message written in the second tab appears in the first as the next turn.
    send(other.page, "Third question, from the other tab")
    wait_for(lambda: len(turn_ids(page)) == 3, what="the other tab's message")
    wait_for(lambda: turn_ids(page) == turn_ids(other.page), what="the same three turns")


def test_phone_width(open_page, web, advance_until):
    tab = open_page(width=390, height=800)
    page = tab.page
    assert page.locator(".tabs").is_visible()
    send(page, "Explain **Markdown** briefly, with a list:\n- one\n- two")
    wait_for(lambda: turn_ids(page), what="the turn")
    (job_id,) = turn_ids(page)
    advance_until(
        lambda: turn(page, job_id).get_attribute("data-status") == "completed", what="answer"
    )
    wait_for(lambda: turn(page, job_id).locator(".usage").inner_text(), what="usage")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "no sideways scrolling on a phone"
    tab.screenshot("phone-chat")
    page.click(".tab[data-pane=jobs]")
    assert page.locator("#jobs-pane").is_visible() and page.locator("#chat-pane").is_hidden()
    tab.screenshot("phone-jobs")


def test_shift_enter_is_a_new_line_and_enter_sends(open_page, web):
    tab = open_page()
    page = tab.page
    page.fill("#message", "line one")
    page.press("#message", "Shift+Enter")
    page.keyboard.type("line two")
    assert page.input_value("#message") == "line one\nline two"
    assert turn_ids(page) == []
    page.press("#message", "Enter")
    wait_for(lambda: turn_ids(page), what="the multi-line message")
    (job_id,) = turn_ids(page)
    assert turn(page, job_id).locator(".bubble").inner_text() == "line one\nline two"
    request = json.loads(web.app.service.get_job(job_id).request_json)
    assert request["input"] == "line one\nline two"


def page_seqs(page) -> list[int]:
    return page.eval_on_selector_all("#event-list li", "ns => ns.map(n => Number(n.dataset.seq))")


def journal(web, job_id: str):
    return web.app.service.events(job_id)


def test_events_stream_in_and_a_reload_mid_stream_loses_and_doubles_nothing(
    open_page, web, advance_until
):
    tab = open_page()
    page = tab.page
    page.select_option("#target-kind", "agent")
    send(page, "How did background job queues evolve?")
    wait_for(lambda: turn_ids(page), what="the turn")
    (job_id,) = turn_ids(page)
    research = turn(page, job_id)
    advance_until(
        lambda: research.locator(".thought").count() >= 2 and len(page_seqs(page)) >= 12,
        step=10.0,
        what="thought summaries and events streaming in",
    )
    assert research.get_attribute("data-status") == "in_progress"
    before = page_seqs(page)
    stored = [e.seq for e in journal(web, job_id)]
    assert before == stored[: len(before)]  # in journal order, each once
    types = page.eval_on_selector_all("#event-list .etype", "ns => ns.map(n => n.textContent)")
    assert types[0] == "interaction.created" and "step.delta" in types
    assert research.locator(".thoughts").is_visible()  # set apart from the answer
    tab.screenshot("1-streaming")

    page.reload()
    page.wait_for_selector("#conn[data-state=live]")
    wait_for(lambda: page_seqs(page)[: len(before)] == before, what="the replay after a reload")
    advance_until(
        lambda: (
            research.get_attribute("data-status") == "completed"
            and research.locator(".usage").inner_text()
        ),
        step=20.0,
        timeout=60.0,
        what="the research to finish",
    )
    stored = journal(web, job_id)
    wait_for(lambda: len(page_seqs(page)) == len(stored), what="every event on the page")
    assert page_seqs(page) == [e.seq for e in stored]  # nothing lost, nothing doubled
    assert page.evaluate("jobsPage.seen.size") == len(stored)
    # The answer the page built from the deltas is the one the store recorded.
    built = page.evaluate(
        """id => jobsPage.live.get(id).steps.filter(s => s && s.type === 'model_output')
        .map(s => s.text).join('')""",
        job_id,
    )
    assert built == web.app.service.get_result(job_id).output_text
    assert "Sources" in research.locator(".answer").inner_text()
    # Its searches, with their queries (streamed as deltas after each call's start).
    assert re.search(r"Searched \d+ times?: \S", research.locator(".searches").inner_text())
    # The inspector shows each event's payload as received.
    last = page.locator("#event-list li").last
    last.locator(".event-head").click()
    shown = json.loads(last.locator(".epayload").inner_text())
    assert shown == stored[-1].payload
    tab.screenshot("2-done")


def test_a_dropped_connection_resumes_from_the_last_event(chromium, web, advance_until):
    from proxy import CuttableProxy

    proxy = CuttableProxy(web.port)
    context = chromium.new_context(viewport={"width": 1400, "height": 860})
    try:
        page = context.new_page()
        page.goto(proxy.url)
        page.wait_for_selector("#conn[data-state=live]")
        page.select_option("#target-kind", "agent")
        send(page, "Resume me")
        wait_for(lambda: turn_ids(page), what="the turn")
        (job_id,) = turn_ids(page)
        advance_until(lambda: len(page_seqs(page)) >= 8, step=10.0, what="some events")
        had = page_seqs(page)
        streams = len(proxy.stream_requests())
        proxy.cut()
        wait_for(lambda: page.get_attribute("#conn", "data-state") != "live", what="the drop")
        wait_for(
            lambda: (
                len(proxy.stream_requests()) > streams
                and page.get_attribute("#conn", "data-state") == "live"
            ),
            what="the browser reconnecting by itself",
        )
        resumed = proxy.stream_requests()[-1].lower()
        assert f"last-event-id: {had[-1]}\r\n" in resumed, resumed
        advance_until(
            lambda: turn(page, job_id).get_attribute("data-status") == "completed",
            step=20.0,
            timeout=60.0,
            what="the research to finish",
        )
        stored = [e.seq for e in journal(web, job_id)]
        wait_for(lambda: page_seqs(page) == stored, what="every event once, in order")
        assert page.evaluate("jobsPage.duplicatesSkipped || 0") == 0  # resumed, not replayed
    finally:
        context.close()
        proxy.close()
