"""Build a simonw/llm logs database of N logged prompts, through llm's own logging code.

Run it with the Python of a SEPARATE venv that has `pip install llm` (never the project's):
    /path/to/llm-venv/bin/python benchmarks/build_llm_logs.py LOGS_DB N [COPIES]
A fake model (no network) answers with the texts of benchmarks/corpus.py, and each response is
logged with `Response.log_to_db`, exactly as `llm prompt` logs it (about 10-30 ms a log here).
With COPIES > 1, the N logged turns are then copied COPIES-1 more times in SQL (new thread and
turn ids, the same content-addressed messages, one more search row each): N * COPIES logs in a
fraction of the time. compare_llm.py builds the jobs store from the same N texts, COPIES times.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import llm
import sqlite_utils
from llm.migrations import migrate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import texts  # noqa: E402


class Fake(llm.Model):
    model_id = "gemini-3-flash-preview"
    can_stream = False

    def execute(self, prompt, stream, response, conversation):
        response.set_usage(input=len(prompt.prompt) // 4, output=len(self.answer) // 4)
        return [self.answer]


def copy_turns(db: sqlite_utils.Database, copies: int) -> None:
    for k in range(1, copies):
        suffix = f"-{k:02d}"
        with db.conn:
            db.execute(
                "INSERT INTO threads (id, name, tip_message_hash, forked_from, datetime_utc)"
                " SELECT id || ?, name, tip_message_hash, forked_from, datetime_utc FROM threads"
                " WHERE id NOT LIKE '%-__'",
                [suffix],
            )
            db.execute(
                "INSERT INTO turns (id, thread_id, parent_message_hash, tip_message_hash, model,"
                " resolved_model, options_json, schema_id, input_tokens, output_tokens,"
                " token_details, duration_ms, datetime_utc, response_json)"
                " SELECT id || ?, thread_id || ?, parent_message_hash, tip_message_hash, model,"
                " resolved_model, options_json, schema_id, input_tokens, output_tokens,"
                " token_details, duration_ms, datetime_utc, response_json FROM turns"
                " WHERE id NOT LIKE '%-__'",
                [suffix, suffix],
            )
            db.execute(
                "INSERT INTO turn_search (turn_id, prompt, response)"
                " SELECT turn_id || ?, prompt, response FROM turn_search"
                " WHERE turn_id NOT LIKE '%-__'",
                [suffix],
            )


def main() -> None:
    path, count = Path(sys.argv[1]), int(sys.argv[2])
    copies = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    db = sqlite_utils.Database(path)
    migrate(db)
    # Building speed only: the benchmark reads the finished file with llm's own settings.
    db.execute("PRAGMA synchronous = OFF")
    model = Fake()
    start = time.time()
    for index, (prompt, output) in enumerate(texts(count)):
        model.answer = output
        response = model.prompt(prompt)
        response.text()
        response.log_to_db(db)
        if index and index % 10_000 == 0:
            print(f"{index} logged, {time.time() - start:.0f}s", flush=True)
    print(f"{count} logged in {time.time() - start:.0f}s", flush=True)
    if copies > 1:
        copy_turns(db, copies)
        print(f"copied to {count * copies} in {time.time() - start:.0f}s", flush=True)
    db.execute("PRAGMA synchronous = FULL")


if __name__ == "__main__":
    main()
