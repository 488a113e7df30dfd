"""A whole run with the calculator and contrastive strategies (needs the two calls in
``runner/mint.py::draw``: ``stages.calculate`` after sampling, ``stages.check_refutations``
after verifying): the shards hold the spliced completion, the raw one, the tool calls and
the refutations, typed; export and report take the new columns."""

from __future__ import annotations

import json
from pathlib import Path

import tracemint
from conftest_server import server_recipe, start_test_server
from test_strategies_tools import OVENS_REPLY, SHOP, SHOP_REPLY, TRADER_REPLY, aqua


def test_a_calculator_run_and_a_contrastive_run(tmp_path: Path) -> None:
    trader, ovens = aqua(4), aqua(17)
    book, problems = tmp_path / "book.jsonl", tmp_path / "problems.jsonl"
    with book.open("w") as f:
        for q, reply in (
            (SHOP, SHOP_REPLY),
            (trader["question"], TRADER_REPLY),
            (ovens["question"], OVENS_REPLY),
        ):
            f.write(json.dumps({"question": q, "answer": "0", "reply": reply}) + "\n")
    with problems.open("w") as f:
        f.write(json.dumps({"id": "shop", "question": SHOP, "answer": "81"}) + "\n")
    mc = tmp_path / "mc.jsonl"
    with mc.open("w") as f:
        for p in (trader, ovens):
            row = {
                "id": p["problem_id"],
                "question": p["question"],
                "answer": p["reference"],
                "options": p["choices"],
            }
            f.write(json.dumps(row) + "\n")
    with start_test_server(answers=book) as (url, _):
        calc = server_recipe(
            tmp_path / "calc.toml",
            base_url=url,
            problems=problems,
            name="calc",
            strategy={"name": "calculator"},
            budget={"samples": 1},
        )
        run = tracemint.run(calc)
        (t,) = run.traces().to_pylist()
        assert t["completion_raw"] == SHOP_REPLY and "3 * 7 = 21 beads" in t["completion"]
        assert [c["written"] for c in t["tool_calls"]] == [None, "20", None, None]
        assert t["verdict"] == "correct" and t["n_claims_wrong"] == 0

        con = server_recipe(
            tmp_path / "con.toml",
            base_url=url,
            problems=mc,
            name="con",
            strategy={"name": "contrastive"},
            budget={"samples": 1},
        )
        rows = {r["problem_id"]: r for r in tracemint.run(con).traces().to_pylist()}
        by = {r["option"]: r for r in rows["aqua4"]["contrastive_refutations"]}
        assert by["A"]["checked"] and by["D"]["wrong"] and not by["D"]["checked"]
        assert rows["aqua17"]["verdict"] == "correct"
