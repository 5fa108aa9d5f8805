"""The same deterministic texts for both stores of compare_llm.py (importable from either venv:
standard library only)."""

from __future__ import annotations

import random

SYLLABLES = [
    "ka", "lo", "mi", "ren", "tor", "sa", "vel", "qui", "dun", "pha", "ro", "zen", "bal", "cor",
    "fi", "gra", "hel", "jo", "nor", "pel", "sti", "tra", "ul", "wen",
]  # fmt: skip


def vocabulary(size: int = 3000, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


VOCABULARY = vocabulary()
# A word of middling frequency: in roughly 1 of 50 outputs.
SEARCH_WORD = VOCABULARY[400]


def texts(count: int, seed: int = 11):
    """(prompt, output) pairs: a 12-word prompt and a 60-word answer, Zipf-like word frequencies."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 10) for rank in range(len(VOCABULARY))]
    for _ in range(count):
        prompt = " ".join(rng.choices(VOCABULARY, weights, k=12))
        output = " ".join(rng.choices(VOCABULARY, weights, k=60))
        yield prompt.capitalize() + "?", output.capitalize() + "."
