from __future__ import annotations

from pathlib import Path

import pytest

from tracemint.errors import ConfigError
from tracemint.strategies import builtin_names, load_strategy, split_sections


def test_cot_renders_question_and_answer_cue() -> None:
    s = load_strategy("cot")
    msgs = s.render({"question": "What is 2+3?", "choices": None})
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert "What is 2+3?" in msgs[-1]["content"]
    assert "The answer is" in msgs[-1]["content"]


def test_cot_lists_choices() -> None:
    msgs = load_strategy("cot").render({"question": "Q", "choices": ["A) 1", "B) 2"]})
    assert "A) 1\nB) 2" in msgs[-1]["content"]
    assert "letter" in msgs[-1]["content"]


def test_user_template_from_dir_and_hash_changes(tmp_path: Path) -> None:
    (tmp_path / "terse.jinja").write_text("[user]\nAnswer briefly: {{ question }}\n")
    s = load_strategy("terse", tmp_path)
    assert s.render({"question": "Q1"}) == ({"role": "user", "content": "Answer briefly: Q1"},)
    (tmp_path / "terse.jinja").write_text("[user]\nAnswer: {{ question }}\n")
    assert load_strategy("terse", tmp_path).template_hash != s.template_hash


def test_fewshot_sections() -> None:
    msgs = split_sections("[user]\nq1\n[assistant]\na1\n[user]\nq2")
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]


def test_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown strategy 'nope'; built-in: .*cot"):
        load_strategy("nope")
    with pytest.raises(ConfigError, match="last section must be"):
        split_sections("[user]\nq\n[assistant]\na")
    (tmp_path / "bad.jinja").write_text("[user]\n{{ missing_var }}")
    with pytest.raises(ConfigError, match="missing_var"):
        load_strategy("bad", tmp_path).render({"question": "q"})
    assert "cot" in builtin_names()
