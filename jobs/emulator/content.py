"""The fake model and agent: deterministic text, thought summaries, searches and token counts.

Everything here is a pure function of the request and the conversation so far, seeded by a hash of
both, so the same prompt always gets the same answer and a chained turn visibly differs from a first
one. Token counts follow the text (about four characters per token), so a test can check that usage
is consistent with what was produced.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from dataclasses import dataclass, field
from typing import Any

MEDIA_KINDS = ("image", "audio", "video", "document")  # media.py checks and counts them
THOUGHT_FACTOR = 3  # hidden reasoning is longer than the summary a client is shown
_STOP_WORDS = (
    "a an and are as at be by can do does for from how i in is it its me my of on or our "
    "please should so that the their them then there these this to was what when where which "
    "who why will with would you your about into over than tell give write explain describe "
    "main some many much more most best good make like just also very other using use used "
    "there here need know want find look able could might every each research report "
    "summarize summary overview"
)
_STOP = set(_STOP_WORDS.split())


def tokens(text: str) -> int:
    """Token count of a text: ceil(characters / 4)."""
    return math.ceil(len(text) / 4) if text else 0


@dataclass
class Prompt:
    """What a create request asks, reduced to what the fake model needs."""

    text: str  # all the text of the input, joined
    media: list[str] = field(default_factory=list)  # modality of each non-text part
    function_results: list[str] = field(default_factory=list)

    @property
    def excerpt(self) -> str:
        return excerpt(self.text or "(no text)", 80)


def excerpt(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def read_prompt(value: Any) -> Prompt:
    """Collect the text and media of an `input` (string, content, content list or steps)."""
    prompt = Prompt(text="")
    texts: list[str] = []

    def content(item: dict[str, Any]) -> None:
        kind = item.get("type", "text" if "text" in item else None)
        if kind == "text":
            texts.append(str(item.get("text", "")))
        elif kind in MEDIA_KINDS:
            prompt.media.append(kind)

    def step(item: dict[str, Any]) -> None:
        kind = item.get("type")
        if kind in ("user_input", "model_output"):
            for part in item.get("content") or []:
                content(part)
        elif kind == "function_result":
            result = item.get("result")
            rendered = result if isinstance(result, str) else json.dumps(result, sort_keys=True)
            name = item.get("name") or item.get("call_id") or "function"
            prompt.function_results.append(f"{name} returned {excerpt(rendered, 120)}")
            texts.append(rendered)
        else:
            content(item)

    if isinstance(value, str):
        texts.append(value)
    elif isinstance(value, dict):
        step(value)
    elif isinstance(value, list):
        for item in value:
            step(item)
    prompt.text = "\n".join(t for t in texts if t)
    return prompt


def keywords(text: str, limit: int = 4) -> list[str]:
    """The most telling words of a text: not stop words, longest first."""
    seen: list[str] = []
    for word in re.findall(r"[A-Za-z][A-Za-z0-9'-]{2,}", text[:4000]):
        low = word.lower().strip("'-")
        if low not in _STOP and low not in seen:
            seen.append(low)
    seen.sort(key=len, reverse=True)  # stable: equal lengths keep their order
    return seen[:limit] or ["the question"]


def seed_of(*parts: Any) -> int:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def turn_line(history: tuple[str, ...]) -> str:
    """The sentence by which a chained answer shows it knows the earlier turns."""
    if not history:
        return ""
    line = (
        f'This is turn {len(history) + 1} of our conversation; you first asked about "{history[0]}"'
    )
    if len(history) > 1:
        line += f', and most recently about "{history[-1]}"'
    return line + ". "


_SENTENCES = (
    "The central point about {k0} is that it depends on the constraints you care about most.",
    "A useful way to frame {k0} is to separate what is known from what is assumed.",
    "In practice, {k1} matters more than it first appears, because small choices compound.",
    "Most of the trade-offs around {k1} come down to cost, time and reliability.",
    "Evidence on {k2} is mixed, so it is worth checking the assumptions behind each claim.",
    "If you only remember one thing, remember that {k0} and {k2} interact.",
    "A concrete next step is to test the idea on a small case before scaling it up.",
    "Experts who study {k1} tend to agree on the basics and disagree on the details.",
    "The simplest explanation is usually the right starting point for {k0}.",
    "It helps to write down what success would look like before changing anything about {k2}.",
    "There are at least three angles here: the technical one, the human one and the economic one.",
    "Historically, views on {k0} have shifted as better measurements became available.",
)


def _sentences(rng: random.Random, words: list[str], count: int) -> list[str]:
    """`count` sentences about `words`, without repeats until the bank is used up."""
    k = (words * 3)[:3]
    deck: list[str] = getattr(rng, "_deck", [])
    picks = []
    for _ in range(count):
        if not deck:
            deck = rng.sample(_SENTENCES, len(_SENTENCES))
        picks.append(deck.pop())
    rng._deck = deck  # type: ignore[attr-defined]
    return [p.format(k0=k[0], k1=k[1], k2=k[2]) for p in picks]


def model_answer(
    rng: random.Random,
    prompt: Prompt,
    system_instruction: str,
    history: tuple[str, ...],
    material: str = "",
) -> str:
    """A short, plausible answer that shows the prompt, the instruction, the turn it is in and
    the attached material (`material`: a sentence naming each attachment)."""
    words = keywords(prompt.text)
    parts = [turn_line(history)]
    if system_instruction:
        parts.append(f'Following your instruction ("{excerpt(system_instruction, 60)}"), ')
        parts.append(f'here is my answer to "{prompt.excerpt}".\n\n')
    else:
        parts.append(f'Here is my answer to "{prompt.excerpt}".\n\n')
    for result in prompt.function_results:
        parts.append(f"The function call came back: {result}.\n\n")
    if material:
        parts.append(material + "\n\n")
    elif prompt.media:
        parts.append(f"I looked at the attached {', '.join(prompt.media)} as well.\n\n")
    paragraphs = rng.randint(1, 3)
    for _ in range(paragraphs):
        parts.append(" ".join(_sentences(rng, words, rng.randint(2, 4))) + "\n\n")
    parts.append(f"In short: {words[0]} is worth a careful, step-by-step look.")
    return "".join(parts)


def model_thought(rng: random.Random, prompt: Prompt) -> str:
    words = keywords(prompt.text)
    verb = rng.choice(("Considering", "Analyzing", "Clarifying", "Weighing"))
    return (
        f"**{verb} {words[0]}**\n\nI'm working out what the question about "
        f'"{excerpt(prompt.text or words[0], 50)}" is really asking, and which points about '
        f"{', '.join(words)} matter most for a clear answer."
    )


def filler(size: int, seed: int) -> str:
    """Exactly `size` bytes of ASCII prose (for large-output tests)."""
    rng = random.Random(seed)
    block = " ".join(_sentences(rng, ["output", "size", "emulator"], 40)) + "\n"
    text = block * (size // len(block) + 1)
    return text[:size]


# --- Deep Research ---------------------------------------------------------------------------

_PHASES = (
    (
        "Planning the research",
        "I'm breaking {topic} into sub-questions and deciding what to read first.",
    ),
    ("Searching for sources", "I'm searching for recent, authoritative material on {k0} and {k1}."),
    ("Reading the literature", "I'm reading {n} sources on {k0}; several disagree about {k1}."),
    (
        "Cross-checking claims",
        "I'm checking the figures about {k1} against a second independent source.",
    ),
    ("Comparing viewpoints", "I'm comparing how practitioners and researchers describe {k2}."),
    ("Filling a gap", "Coverage of {k2} is thin, so I'm looking for primary data."),
    (
        "Assessing reliability",
        "I'm weighing the reliability of {n} sources and setting aside weak ones.",
    ),
    (
        "Synthesizing findings",
        "I'm grouping what I found about {topic} into themes for the report.",
    ),
    (
        "Drafting the outline",
        "I'm outlining the report: background, findings, analysis, open questions.",
    ),
)


@dataclass
class Search:
    call_id: str
    queries: list[str]
    result: str


def research_thought(
    rng: random.Random, index: int, total: int, topic: str, words: list[str]
) -> str:
    if index == 0:
        title, body = _PHASES[0]
    elif index >= total - 1:
        title, body = _PHASES[-1]
    else:
        title, body = rng.choice(_PHASES[1:-1])
    k = (words * 3)[:3]
    text = body.format(topic=topic, k0=k[0], k1=k[1], k2=k[2], n=rng.randint(3, 14))
    return f"**{title}**\n\n{text}"


def research_search(rng: random.Random, index: int, words: list[str], seed: int) -> Search:
    k = (words * 3)[:3]
    queries = [f"{k[0]} {k[1]} latest evidence", f"{k[index % 3]} analysis {2020 + index % 6}"]
    lines = [
        f"{i + 1}. {k[(i + index) % 3].title()} overview — research.example/{k[0]}-{index}-{i}"
        for i in range(rng.randint(3, 6))
    ]
    return Search(f"search_{seed % 10**8:08d}_{index}", queries, "\n".join(lines))


def research_report(
    rng: random.Random,
    prompt: Prompt,
    agent: str,
    history: tuple[str, ...],
    system_instruction: str,
    minutes: int,
    searches: int,
    material: list[str] | tuple[str, ...] = (),
    plan: list[str] | tuple[str, ...] = (),
    words: list[str] | None = None,
) -> str:
    """A multi-section Markdown report ending with a Sources section; the material it was given
    and the plan it followed (collaborative planning) each get a section."""
    words = words or keywords(prompt.text, 5)
    title = " ".join(w.capitalize() for w in words[:4])
    n_sources = rng.randint(6, 12)
    out = [f"# {title}: a research report\n"]
    out.append(
        f"*Prepared by {agent} after {minutes} minutes of research, {searches} searches and "
        f"{n_sources} sources.*\n"
    )
    if history:
        out.append(turn_line(history) + "This report builds on that earlier work.\n")
    if system_instruction:
        out.append(f'Written following your instruction: "{excerpt(system_instruction, 80)}".\n')
    if material:
        out.append("## Material provided\n")
        out.extend(f"- {line}" for line in material)
        out.append("")
    if plan:
        out.append("## Research plan followed\n")
        out.extend(f"{n}. {step}" for n, step in enumerate(plan, 1))
        out.append("")
    out.append("## Executive summary\n")
    out.append(
        f'This report answers "{prompt.excerpt}". ' + " ".join(_sentences(rng, words, 4)) + "\n"
    )
    out.append("## Background\n")
    for _ in range(2):
        out.append(" ".join(_sentences(rng, words, 4)) + "\n")
    out.append("## Key findings\n")
    for i in range(rng.randint(4, 7)):
        sentence = _sentences(rng, words[i % len(words) :] + words, 1)[0]
        out.append(
            f"{i + 1}. **{words[i % len(words)].capitalize()}**: {sentence} [{i % n_sources + 1}]"
        )
    out.append("")
    out.append("## Analysis\n")
    for _ in range(rng.randint(2, 4)):
        out.append(" ".join(_sentences(rng, words, 5)) + "\n")
    out.append("## Open questions\n")
    for w in words[:3]:
        out.append(f"- How would the picture of {w} change with better data?")
    out.append("")
    out.append("## Conclusion\n")
    out.append(" ".join(_sentences(rng, words, 3)) + "\n")
    out.append("## Sources\n")
    for i in range(n_sources):
        w = words[i % len(words)]
        out.append(
            f"{i + 1}. [{w.capitalize()}: review {i + 1}](https://research.example/{w}/{i + 1})"
        )
    return "\n".join(out) + "\n"


def usage_totals(
    input_by_modality: dict[str, int],
    cached: int,
    output_by_modality: dict[str, int],
    thought: int,
    tool_use: int,
    searches: int,
) -> dict[str, Any]:
    """A `usage` object; totals add up: total = input + output + thought + tool use."""
    total_input = sum(input_by_modality.values()) + cached
    total_output = sum(output_by_modality.values())

    def by(counts: dict[str, int]) -> list[dict[str, Any]]:
        return [{"modality": m, "tokens": n} for m, n in counts.items() if n]

    usage: dict[str, Any] = {
        "total_input_tokens": total_input,
        "total_output_tokens": total_output,
        "total_thought_tokens": thought,
        "total_cached_tokens": cached,
        "total_tool_use_tokens": tool_use,
        "total_tokens": total_input + total_output + thought + tool_use,
        "initial_input_tokens": total_input,
        "input_tokens_by_modality": by(
            {**input_by_modality, "text": input_by_modality.get("text", 0) + cached}
        ),
        "output_tokens_by_modality": by(output_by_modality),
        "cached_tokens_by_modality": by({"text": cached}),
        "tool_use_tokens_by_modality": by({"text": tool_use}),
    }
    if searches:
        usage["grounding_tool_count"] = [{"type": "google_search", "count": searches}]
    return usage
