"""Deep Research's collaborative planning: a plan first, research once the user confirms it.

google-genai 3.4.0's DeepResearchAgentConfig says: with `collaborative_planning` the agent
"will provide a research plan in its response" and "proceed only if the user confirms the plan in
the next turn". So a Deep Research create with `agent_config.collaborative_planning: true` does not
research: it thinks briefly and ends its turn with a plan (`completed`, the conservative reading
interactions-api.md 13.3 asks for; the `plan_status` knob makes it `requires_action`). The next
turn, chained by `previous_interaction_id`:
- confirms it ("yes", "approve", "go ahead", "looks good", ... : every word a word of assent) and
  the research runs, its report following the plan, amendments included;
- amends it ("narrow it to Europe"): a revised plan comes back, the amendment its first step;
  with `collaborative_planning: false` on that turn (the docs: "the final turn sets
  collaborative_planning: false") the amendment is applied and the research runs at once. An
  amendment without that setting gets a revised plan: an unconfirmed change never silently starts
  a long, paid run.
Everything is a pure function of the Plan, so a script rebuilt from its spec says the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from jobs.emulator import content as c

PLAN_ENDS = ("completed", "requires_action")
_ASSENT = (
    "yes yep yeah ok okay sure fine good great perfect lgtm approve approved approving confirm "
    "confirmed go ahead start begin proceed continue run do it that that's this is looks look "
    "sounds all right alright please thanks thank you the plan research now and let's lets"
)
ASSENT = frozenset(_ASSENT.split())
# words of an amendment that say how to change the plan, not what it is about
_CHANGE = frozenset(
    [
        "narrow",
        "widen",
        "broaden",
        "focus",
        "limit",
        "restrict",
        "include",
        "exclude",
        "only",
        "instead",
        "also",
        "add",
        "drop",
        "remove",
        "change",
        "skip",
        "cover",
        "covering",
    ]
)


@dataclass(frozen=True)
class Plan:
    """A research plan: the question, the amendments so far, and what this turn does with it."""

    topic: str
    amendments: tuple[str, ...] = ()
    stage: str = "propose"  # propose: this turn shows the plan; execute: it runs the research
    ends: str = "completed"  # the status a plan turn ends in

    @property
    def subject(self) -> str:
        """What the research is about, amendments included (its keywords steer the searches)."""
        return "\n".join((self.topic, *self.amendments))

    def keywords(self, limit: int = 5) -> list[str]:
        """The telling words of the research, an amendment's first ("europe" before "queues")."""
        changed = [w for w in c.keywords(" ".join(self.amendments), limit) if w not in _CHANGE]
        if not self.amendments:
            changed = []
        return list(dict.fromkeys([*changed, *c.keywords(self.topic, limit)]))[:limit]


def wants_plan(body: dict[str, Any]) -> bool:
    """A Deep Research create asking for a plan first."""
    config = body.get("agent_config")
    return (
        "deep-research" in str(body.get("agent", ""))
        and isinstance(config, dict)
        and config.get("collaborative_planning") is True
    )


def confirms(text: str) -> bool:
    """Whether a reply to a plan is plain assent ("Yes, go ahead!"), with nothing to change."""
    words = re.findall(r"[a-z']+", text.lower())
    return bool(words) and all(word in ASSENT for word in words)


def start(body: dict[str, Any], topic: str, ends: str) -> Plan | None:
    """The plan of a first turn, if it asks for one."""
    return Plan(topic=topic or "(no text)", ends=ends) if wants_plan(body) else None


def follow(previous: Plan, body: dict[str, Any], reply: str, ends: str) -> Plan:
    """The turn after a plan turn: research (confirmed, or amended and told to go) or a revised
    plan (amended)."""
    if confirms(reply):
        return replace(previous, stage="execute")
    amended = (*previous.amendments, c.excerpt(reply or "(no text)", 200))
    config = body.get("agent_config")
    go = isinstance(config, dict) and config.get("collaborative_planning") is False
    return replace(previous, amendments=amended, stage="execute" if go else "propose", ends=ends)


def steps(plan: Plan) -> list[str]:
    """The plan's steps, amendments first (so a reader sees at once what changed)."""
    k = (plan.keywords(3) * 3)[:3]
    out = [f"Scope, as you asked: {a}" for a in plan.amendments]
    out += [
        f'Break "{c.excerpt(plan.topic, 80)}" into sub-questions about {k[0]}, {k[1]} and {k[2]}.',
        f"Search for recent, authoritative sources on {k[0]} and {k[1]}.",
        f"Read and cross-check the strongest sources, noting where they disagree about {k[1]}.",
        f"Compare viewpoints on {k[2]}, and look for primary data where coverage is thin.",
        "Write the report: summary, findings with citations, analysis, open questions, sources.",
    ]
    return out


def plan_text(plan: Plan) -> str:
    """The Markdown a plan turn answers with."""
    title = " ".join(w.capitalize() for w in plan.keywords(4))
    revision = len(plan.amendments) + 1
    head = f"# Research plan: {title}" if revision == 1 else f"# Revised research plan (revision {revision}): {title}"  # fmt: skip
    lines = [head, "", f'Before I start, here is how I would research "{c.excerpt(plan.topic, 120)}":', ""]  # fmt: skip
    lines += [f"{n}. {step}" for n, step in enumerate(steps(plan), 1)]
    lines += ["", 'Reply "yes" (or "go ahead") to start the research, or tell me what to change.']
    return "\n".join(lines) + "\n"


def thought(index: int, plan: Plan) -> str:
    """A plan turn's thought summary."""
    topic = c.excerpt(plan.topic, 60)
    if index == 0 and not plan.amendments:
        return f'**Scoping the question**\n\nI\'m working out what "{topic}" covers and which parts of it matter most.'  # fmt: skip
    if index == 0:
        return f'**Revising the plan**\n\nI\'m folding in your change ("{c.excerpt(plan.amendments[-1], 60)}") and checking what it rules out.'  # fmt: skip
    return "**Drafting a research plan**\n\nI'm ordering the steps so the searches build on each other, and deciding what the report should cover."  # fmt: skip
