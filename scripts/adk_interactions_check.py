"""google-adk's Interactions sample agent (google_search + a function tool) against the emulator.

google-adk needs google-genai < 3 and `jobs` pins google-genai 3.4, so this runs in a venv of its
own, never in the project's:

    python3.11 -m venv /tmp/adk && /tmp/adk/bin/pip install google-adk
    gjobs emulator --port 8765 &            # the emulator runs from the project's venv
    /tmp/adk/bin/python scripts/adk_interactions_check.py --base-url http://127.0.0.1:8765

It runs the agent of ADK's `contributing/samples/interactions_api` (Gemini with
`use_interactions_api=True`, tools GoogleSearchTool and get_current_weather) in non-streaming and
in streaming (SSE) mode, and checks, for each mode, that the model called get_current_weather with
schema-valid arguments, that ADK ran the tool, and that the final answer used its result. It prints
one line per mode and exits 1 if either failed. tests/emulator/test_emulator_adk.py runs it when
JOBS_ADK_PYTHON names such a venv's python.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys


def get_current_weather(city: str) -> dict:
    """Get the current weather for a city.

    Args:
      city: The name of the city to get weather for.

    Returns:
      A dictionary containing weather information.
    """
    known = {"london": (59, "Cloudy", 78), "tokyo": (68, "Partly Cloudy", 60)}
    temperature, condition, humidity = known.get(city.lower(), (70, "Unknown", 50))
    return {
        "city": city,
        "temperature_f": temperature,
        "condition": condition,
        "humidity": humidity,
    }


async def run(streaming: bool) -> dict:
    from google.adk.agents.llm_agent import Agent
    from google.adk.agents.run_config import RunConfig, StreamingMode
    from google.adk.models.google_llm import Gemini
    from google.adk.runners import InMemoryRunner
    from google.adk.tools.google_search_tool import GoogleSearchTool
    from google.genai import types

    agent = Agent(
        model=Gemini(model="gemini-2.5-flash", use_interactions_api=True),
        name="interactions_test_agent",
        description="An agent for testing the Interactions API integration",
        instruction=(
            "You are a helpful assistant that can search the web using google_search and get "
            "weather information using get_current_weather. Be concise."
        ),
        tools=[GoogleSearchTool(), get_current_weather],
    )
    runner = InMemoryRunner(agent=agent, app_name="emulator_check")
    session = await runner.session_service.create_session(app_name="emulator_check", user_id="u")
    config = RunConfig(streaming_mode=StreamingMode.SSE if streaming else StreamingMode.NONE)
    message = types.Content(role="user", parts=[types.Part(text="What's the weather in London?")])
    calls, results, texts, partials = [], [], [], 0
    async for event in runner.run_async(
        user_id="u", session_id=session.id, new_message=message, run_config=config
    ):
        if event.error_code:
            raise RuntimeError(f"ADK reported {event.error_code}: {event.error_message}")
        partials += bool(event.partial)
        for part in (event.content.parts if event.content else None) or []:
            if part.function_call and not event.partial:
                calls.append((part.function_call.name, dict(part.function_call.args or {})))
            if part.function_response:
                results.append(part.function_response.response)
            if part.text and not event.partial and not part.thought:
                texts.append(part.text)
    return {"calls": calls, "results": results, "text": "".join(texts), "partials": partials}


def check(mode: str, outcome: dict) -> list[str]:
    problems = []
    if not any(name == "get_current_weather" for name, _ in outcome["calls"]):
        problems.append(f"no get_current_weather call (calls: {outcome['calls']})")
    for name, args in outcome["calls"]:
        if name == "get_current_weather" and not isinstance(args.get("city"), str):
            problems.append(f"arguments not valid for the schema: {args}")
    if not outcome["results"]:
        problems.append("ADK ran no tool")
    if "get_current_weather returned" not in outcome["text"]:
        problems.append(f"the answer does not use the tool's result: {outcome['text'][:200]!r}")
    if mode == "streaming" and not outcome["partials"]:
        problems.append("no partial (streamed) events")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base-url", required=True, help="the emulator, e.g. http://127.0.0.1:8765"
    )
    args = parser.parse_args()
    os.environ["GOOGLE_GEMINI_BASE_URL"] = args.base_url
    os.environ.setdefault("GEMINI_API_KEY", "emulator-key")
    os.environ.pop("GOOGLE_API_KEY", None)
    failed = False
    for mode, streaming in (("non-streaming", False), ("streaming", True)):
        try:
            outcome = asyncio.run(run(streaming))
            problems = check(mode, outcome)
        except Exception as exc:  # report, per mode, what broke
            outcome, problems = {}, [f"{type(exc).__name__}: {exc}"]
        failed |= bool(problems)
        summary = {k: outcome.get(k) for k in ("calls", "partials")} | {"text": outcome.get("text", "")[:120]}  # fmt: skip
        status = "ok" if not problems else "FAILED: " + "; ".join(problems)
        print(f"{mode}: {status} {json.dumps(summary, ensure_ascii=False)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
