"""Declared tools: which function the fake model calls and with what, and the simulated steps of the
built-in tools (code execution, URL context, Google Maps, file search, remote MCP, retrieval, tool
search; Google Search lives in content.py with the research agent).

Everything is a pure function of the declaration, the prompt and a seed, so a script rebuilt from
its spec makes the same calls. Function-call arguments satisfy the declared JSON schema (required
properties, types, enums, bounds, nested objects and arrays): a client that validates them, as
google-adk does, accepts the call. The wire shapes follow the SDK's step and delta types: a call or
result step starts with its skeleton (the fields the step type requires), one delta of the step's
own type carries its content, and a function call's arguments arrive as `arguments_delta` chunks of
raw JSON, as the SDK's stream types (and google-adk's stream reader) expect.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from jobs.emulator import content as c

# Built-in tools with call/result step kinds of their own, in the order a model uses them.
BUILTIN = ("code_execution", "url_context", "google_maps", "file_search", "mcp_server", "retrieval", "tool_search")  # fmt: skip
# Tools whose results ground the answer: the answer's text carries citations of their sources.
GROUNDING = {"google_search", "url_context", "google_maps", "file_search"}
ARGUMENT_CHUNK = 16  # characters of JSON per arguments_delta
_NAME_NOISE = {"get", "set", "fetch", "find", "lookup", "look", "list", "make", "run", "call", "tool", "the", "for", "and", "query"}  # fmt: skip
_URL = re.compile(r"https?://[^\s)\]>\"']+")
Payload = dict[str, Any]


def builtin_tools(tools: Any) -> list[Payload]:
    """The declared built-in tools that yield call/result steps, in declaration order."""
    return [t for t in tools or [] if isinstance(t, dict) and t.get("type") in BUILTIN]


def declared_types(tools: Any) -> set[str]:
    return {t.get("type") for t in tools or [] if isinstance(t, dict)}


def functions(tools: Any) -> list[Payload]:
    return [t for t in tools or [] if isinstance(t, dict) and t.get("type") == "function" and t.get("name")]  # fmt: skip


def choose_function(tools: Any, prompt: str, tool_choice: Any = None) -> Payload | None:
    """The function the model calls first (see `choose_functions`); None when none fits."""
    chosen = choose_functions(tools, prompt, tool_choice)
    return chosen[0] if chosen else None


def choose_functions(tools: Any, prompt: str, tool_choice: Any = None) -> list[Payload]:
    """The functions the model calls, in parallel: those the prompt names, then those whose name
    shares a telling word with the prompt ("weather" for get_weather). `tool_choice` "any" (or
    {"mode": "any"}) forces a call of the first declared one when none fits; "none" forbids."""
    declared = functions(tools)
    mode = tool_choice.get("mode") if isinstance(tool_choice, dict) else tool_choice
    mode = str(mode).lower() if mode else "auto"
    if not declared or mode == "none":
        return []
    text = prompt.lower()
    named = [tool for tool in declared if tool["name"].lower() in text]
    words = set(re.findall(r"[a-z][a-z0-9]{2,}", text)) - _NAME_NOISE
    telling = []
    for tool in declared:
        name_words = set(re.split(r"[_\-\s]+|(?<=[a-z])(?=[A-Z])", tool["name"]))
        if (
            tool not in named
            and ({w.lower() for w in name_words if len(w) > 3} - _NAME_NOISE) & words
        ):
            telling.append(tool)
    if named or telling:
        return named + telling
    return [declared[0]] if mode in ("any", "validated") else []


# --- function-call arguments -----------------------------------------------------------------------


def function_arguments(tool: Payload, prompt: str, seed: int) -> dict[str, Any]:
    """Arguments for a call of `tool` that satisfy its `parameters` schema, derived from the prompt."""
    schema = tool.get("parameters") or tool.get("parameters_json_schema") or {}
    rng = random.Random(seed)
    value = _fill(schema, "arguments", prompt, rng, 0, schema)
    return value if isinstance(value, dict) else {}


def schema_value(schema: Any, prompt: str, seed: int) -> Any:
    """A value that satisfies a JSON schema (a response_format's), derived from the prompt."""
    return _fill(schema, "answer", prompt, random.Random(seed), 0, schema)


def _kind(node: dict[str, Any]) -> str | None:
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), None)
    return str(kind).lower() if kind else None


def _fill(node: Any, name: str, prompt: str, rng: random.Random, depth: int, root: Any) -> Any:
    if not isinstance(node, dict) or depth > 8:
        return _string_for(name, {}, prompt, rng)
    if "$ref" in node and isinstance(node["$ref"], str):  # local refs: #/$defs/X or #/definitions/X
        target: Any = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return _fill(target or {}, name, prompt, rng, depth + 1, root)
    if "const" in node:
        return node["const"]
    if node.get("enum"):
        options = [v for v in node["enum"] if v is not None] or node["enum"]
        return options[rng.randrange(len(options))]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(node.get(key), list) and node[key]:
            options = [o for o in node[key] if not (isinstance(o, dict) and _kind(o) == "null")]
            return _fill((options or node[key])[0], name, prompt, rng, depth + 1, root)
    if "default" in node:
        return node["default"]
    kind = _kind(node) or ("object" if "properties" in node else "string")
    if kind == "object":
        props = node.get("properties") or {}
        return {key: _fill(sub, key, prompt, rng, depth + 1, root) for key, sub in props.items()}
    if kind == "array":
        low = int(node.get("minItems") or node.get("min_items") or 1)
        high = max(low, int(node.get("maxItems") or node.get("max_items") or max(low, 2)))
        return [_fill(node.get("items") or {}, name, prompt, rng, depth + 1, root) for _ in range(min(high, max(low, 2)))]  # fmt: skip
    if kind in ("integer", "number"):
        low = node.get("minimum", node.get("exclusiveMinimum"))
        high = node.get("maximum", node.get("exclusiveMaximum"))
        low = float(low) + (1 if "exclusiveMinimum" in node and "minimum" not in node else 0) if low is not None else 1.0  # fmt: skip
        high = float(high) - (1 if "exclusiveMaximum" in node and "maximum" not in node else 0) if high is not None else max(low, 1.0) + 99  # fmt: skip
        number = _number_in(prompt, low, high) or rng.uniform(low, high)
        return int(round(min(max(number, low), high))) if kind == "integer" else round(number, 2)
    if kind == "boolean":
        return rng.random() < 0.5
    return _string_for(name, node, prompt, rng)


def _number_in(prompt: str, low: float, high: float) -> float | None:
    for match in re.findall(r"-?\d+(?:\.\d+)?", prompt):
        if low <= float(match) <= high:
            return float(match)
    return None


def _string_for(name: str, node: dict[str, Any], prompt: str, rng: random.Random) -> str:
    fmt = node.get("format")
    if fmt == "date":
        return "2026-06-01"
    if fmt == "date-time":
        return "2026-06-01T12:00:00Z"
    if fmt in ("uri", "url") or "url" in name.lower():
        found = _URL.findall(prompt)
        return found[0] if found else f"https://example.com/{c.keywords(prompt, 1)[0]}"
    if fmt == "email":
        return "someone@example.com"
    low = name.lower()
    if any(
        w in low for w in ("city", "location", "place", "country", "region", "address", "where")
    ):
        value = _proper_noun(prompt) or c.keywords(prompt, 1)[0].title()
    elif any(
        w in low for w in ("query", "question", "text", "prompt", "topic", "search", "message")
    ):
        value = c.excerpt(prompt or "(no text)", 80)
    else:
        value = " ".join(c.keywords(prompt, 2))
    limit = node.get("maxLength") or node.get("max_length")
    if isinstance(limit, int) and limit > 0:
        value = value[:limit]
    least = node.get("minLength") or node.get("min_length")
    if isinstance(least, int) and len(value) < least:
        value = value.ljust(least, "x")
    return value


def _proper_noun(prompt: str) -> str | None:
    """The first run of capitalised words that does not start the sentence ("New York")."""
    for match in re.finditer(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)", prompt):
        return match.group(1)
    return None


def argument_chunks(arguments: dict[str, Any]) -> list[str]:
    """The raw JSON of the arguments, cut into the pieces `arguments_delta` events carry."""
    text = json.dumps(arguments, ensure_ascii=False)
    return [text[i : i + ARGUMENT_CHUNK] for i in range(0, len(text), ARGUMENT_CHUNK)] or ["{}"]


# --- built-in tool steps ---------------------------------------------------------------------------


def call_step(tool: Payload, number: int, prompt: str, seed: int, declared: list[Payload]) -> tuple[Payload, Payload, int]:  # fmt: skip
    """(step skeleton, delta, tool-use tokens) of the call of built-in `tool`."""
    kind, call_id = tool["type"], _call_id(tool, number, seed)
    words = c.keywords(prompt, 3)
    if kind == "code_execution":
        code, _ = _program(words)
        args = {"language": "python", "code": code}
        return {"type": "code_execution_call", "id": call_id, "arguments": {}}, {"type": "code_execution_call", "arguments": args}, c.tokens(code)  # fmt: skip
    if kind == "url_context":
        urls = _URL.findall(prompt)[:3] or [f"https://research.example/{w}" for w in words[:2]]
        return {"type": "url_context_call", "id": call_id, "arguments": {}}, {"type": "url_context_call", "arguments": {"urls": urls}}, c.tokens(" ".join(urls))  # fmt: skip
    if kind == "google_maps":
        queries = [f"{w} near {_proper_noun(prompt) or 'me'}" for w in words[:2]]
        return {"type": "google_maps_call", "id": call_id}, {"type": "google_maps_call", "arguments": {"queries": queries}}, c.tokens(" ".join(queries))  # fmt: skip
    if kind == "file_search":
        return {"type": "file_search_call", "id": call_id}, {"type": "file_search_call", "signature": _signature(seed, number)}, c.tokens(prompt[:200])  # fmt: skip
    if kind == "mcp_server":
        server, tool_name = _mcp_names(tool)
        args = {"query": c.excerpt(prompt or "(no text)", 80)}
        skeleton = {"type": "mcp_server_tool_call", "id": call_id, "name": tool_name, "server_name": server, "arguments": {}}  # fmt: skip
        return skeleton, {"type": "mcp_server_tool_call", "name": tool_name, "server_name": server, "arguments": args}, c.tokens(json.dumps(args))  # fmt: skip
    if kind == "retrieval":
        rtype = (tool.get("retrieval_types") or ["rag_store"])[0]
        queries = [" ".join(words)]
        return {"type": "retrieval_call", "id": call_id, "arguments": {}, "retrieval_type": rtype}, {"type": "retrieval_call", "arguments": {"queries": queries}, "retrieval_type": rtype}, c.tokens(queries[0])  # fmt: skip
    # tool_search: look up which declared functions fit the question
    names = [f["name"] for f in functions(declared)] or [tool.get("name") or "search_tools"]
    return {"type": "tool_search_call", "id": call_id, "arguments": {}}, {"type": "tool_search_call", "arguments": {"function_names": names}}, c.tokens(" ".join(names))  # fmt: skip


def result_step(tool: Payload, number: int, prompt: str, seed: int, declared: list[Payload]) -> tuple[Payload, Payload, int]:  # fmt: skip
    """(step skeleton, delta, tool-use tokens) of the result of built-in `tool`."""
    kind, call_id = tool["type"], _call_id(tool, number, seed)
    words = c.keywords(prompt, 3)
    if kind == "code_execution":
        _, output = _program(words)
        return {"type": "code_execution_result", "call_id": call_id, "result": ""}, {"type": "code_execution_result", "result": output, "is_error": False}, c.tokens(output)  # fmt: skip
    if kind == "url_context":
        _, delta, _ = call_step(tool, number, prompt, seed, declared)
        result = [{"url": u, "status": "success"} for u in delta["arguments"]["urls"]]
        return {"type": "url_context_result", "call_id": call_id, "result": []}, {"type": "url_context_result", "result": result}, 40 * len(result)  # fmt: skip
    if kind == "google_maps":
        places = maps_places(words, seed)
        return {"type": "google_maps_result", "call_id": call_id, "result": []}, {"type": "google_maps_result", "result": [{"places": places}]}, 30 * len(places)  # fmt: skip
    if kind == "file_search":
        hits = [{"title": f"{w}.pdf", "text": f"Notes on {w}.", "file_search_store": _stores(tool)[0]} for w in words]  # fmt: skip
        return {"type": "file_search_result", "call_id": call_id}, {"type": "file_search_result", "result": hits}, c.tokens(json.dumps(hits))  # fmt: skip
    if kind == "mcp_server":
        server, tool_name = _mcp_names(tool)
        text = f"{tool_name} on {server} found {len(words)} items about {', '.join(words)}."
        return {"type": "mcp_server_tool_result", "call_id": call_id, "result": ""}, {"type": "mcp_server_tool_result", "name": tool_name, "server_name": server, "result": text}, c.tokens(text)  # fmt: skip
    if kind == "retrieval":
        return {"type": "retrieval_result", "call_id": call_id}, {"type": "retrieval_result", "is_error": False, "signature": _signature(seed, number + 50)}, 20  # fmt: skip
    found = [{k: f[k] for k in ("type", "name", "description", "parameters") if k in f} for f in functions(declared)]  # fmt: skip
    return {"type": "tool_search_result", "call_id": call_id}, {"type": "tool_search_result", "result": found}, c.tokens(json.dumps(found))  # fmt: skip


def maps_places(words: list[str], seed: int) -> list[Payload]:
    return [
        {
            "name": f"{w.title()} Place",
            "place_id": f"place_{seed % 10**6:06d}_{i}",
            "url": f"https://maps.example/place/{w}",
            "review_snippets": [
                {
                    "review_id": f"rev_{i}",
                    "title": f"Good {w}",
                    "url": f"https://maps.example/review/{w}",
                }
            ],  # fmt: skip
        }
        for i, w in enumerate(words[:2])
    ]


def _call_id(tool: Payload, number: int, seed: int) -> str:
    return f"{tool['type']}_{seed % 10**8:08d}_{number}"


def _signature(seed: int, number: int) -> str:
    import base64

    return base64.b64encode(random.Random(seed * 31 + number).randbytes(12)).decode()


def _mcp_names(tool: Payload) -> tuple[str, str]:
    server = tool.get("name") or "mcp"
    allowed = tool.get("allowed_tools") or []
    names = [
        n for entry in allowed if isinstance(entry, dict) for n in entry.get("tool_names") or []
    ]
    return server, names[0] if names else "search"


def _stores(tool: Payload) -> list[str]:
    return tool.get("file_search_store_names") or ["fileSearchStores/emulator"]


def _program(words: list[str]) -> tuple[str, str]:
    """A small program about the prompt's words, and what it prints (computed, not run)."""
    code = f"words = {words!r}\nprint(len(words), sorted(words), sum(len(w) for w in words))\n"
    return code, f"{len(words)} {sorted(words)!r} {sum(len(w) for w in words)}\n"


# --- citations ---------------------------------------------------------------------------------------


def grounding_annotations(text: str, used: set[str], words: list[str], seed: int, stores: list[str]) -> list[Payload]:  # fmt: skip
    """Citations of the grounding tools that ran, on the answer's first sentences."""
    spans = _sentence_spans(text)
    out: list[Payload] = []
    for n, kind in enumerate(sorted(used & GROUNDING)):
        start, end = spans[n % len(spans)] if spans else (0, len(text))
        w = words[n % len(words)] if words else "source"
        if kind in ("google_search", "url_context"):
            out.append({"type": "url_citation", "url": f"https://research.example/{w}", "title": f"{w.title()} overview", "start_index": start, "end_index": end})  # fmt: skip
        elif kind == "google_maps":
            place = maps_places(words or ["place"], seed)[0]
            out.append({"type": "place_citation", "name": place["name"], "place_id": place["place_id"], "url": place["url"], "start_index": start, "end_index": end})  # fmt: skip
        else:
            out.append({"type": "file_citation", "file_name": f"{w}.pdf", "document_uri": f"{stores[0]}/documents/{w}", "source": stores[0], "start_index": start, "end_index": end})  # fmt: skip
    return out


_SOURCE = re.compile(r"^(\d+)\. \[([^\]]+)\]\((https?://[^)]+)\)\s*$", re.M)
_MARK = re.compile(r"\[(\d+)\]")


def report_citations(report: str) -> list[Payload]:
    """url_citation annotations of a research report: each `[n]` marker cites source n, over the
    claim it ends (from the start of its line to the marker)."""
    sources = {int(n): (title, url) for n, title, url in _SOURCE.findall(report)}
    out = []
    for match in _MARK.finditer(report):
        n = int(match.group(1))
        if n not in sources or report[match.end() : match.end() + 1] == "(":
            continue  # a Markdown link in the Sources list, not a citation marker
        line_start = report.rfind("\n", 0, match.start()) + 1
        title, url = sources[n]
        out.append({"type": "url_citation", "url": url, "title": title, "start_index": line_start, "end_index": match.end()})  # fmt: skip
    return out


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in re.finditer(r"[.!?](\s|$)", text):
        if match.end() - start > 10:
            spans.append((start, match.end() - len(match.group(1))))
        start = match.end()
        if len(spans) >= 4:
            break
    return spans
