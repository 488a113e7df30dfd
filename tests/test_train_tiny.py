"""The from-scratch tiny student: tokenizer, chat template, seeded init, a few real steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tracemint.synth.base import create_family, generate
from tracemint.train.tiny import init_student, texts_from_sft, token_batches, train_steps

SMALL = {"vocab_size": 500, "layers": 2, "d_model": 64, "heads": 4, "max_len": 128}


@pytest.fixture(scope="module")
def sft_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 modular problems with gold rationales as TRL ``messages`` rows (export/sft.py layout)."""
    path = tmp_path_factory.mktemp("sft") / "sft.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i, item in enumerate(generate(create_family("modular"), 200, seed=0)):
            row = {
                "messages": [
                    {"role": "user", "content": item.question},
                    {"role": "assistant", "content": item.rationale},
                ],
                "trace_id": f"t{i}",
                "answer": item.answer,
            }
            f.write(json.dumps(row) + "\n")
    return path


@pytest.fixture(scope="module")
def texts(sft_path: Path) -> list[str]:
    return texts_from_sft(sft_path)


@pytest.fixture(scope="module")
def student(texts: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_student(texts, tmp_path_factory.mktemp("student"), seed=0, **SMALL)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_texts_from_sft(texts: list[str]) -> None:
    assert len(texts) == 200
    assert texts[0].startswith("Compute ")
    assert "The answer is" in texts[0]


def test_saved_dir_loads_and_is_tiny(student: Path) -> None:
    tok = AutoTokenizer.from_pretrained(student)
    model = AutoModelForCausalLM.from_pretrained(student)
    assert model.config.vocab_size == len(tok) <= SMALL["vocab_size"]
    assert model.config.tie_word_embeddings
    assert tok.eos_token == "<|end|>" and tok.pad_token == "<|pad|>"
    assert model.config.eos_token_id == tok.eos_token_id
    assert n_params(model) < 300_000


def test_default_size_is_a_few_million(texts: list[str], tmp_path: Path) -> None:
    out = init_student(texts, tmp_path / "default")
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.num_hidden_layers == 4 and model.config.hidden_size == 256
    assert len(AutoTokenizer.from_pretrained(out)) <= 8000  # capped by the tiny corpus
    assert 1_000_000 < n_params(model) < 10_000_000


def test_chat_template(student: Path) -> None:
    tok = AutoTokenizer.from_pretrained(student)
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "2 + 3 = 5.\nThe answer is 5."},
    ]
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert text == (
        "<|system|>\nBe brief.<|end|>\n<|user|>\nWhat is 2 + 3?<|end|>\n"
        "<|assistant|>\n2 + 3 = 5.\nThe answer is 5.<|end|>\n"
    )
    prompt = tok.apply_chat_template(msgs[1:2], tokenize=False, add_generation_prompt=True)
    assert prompt == "<|user|>\nWhat is 2 + 3?<|end|>\n<|assistant|>\n"
    # the markers are single special tokens; assistant turns are maskable for TRL
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    assert tok.convert_tokens_to_ids("<|assistant|>") in ids
    enc = tok.apply_chat_template(
        msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    assert 0 < sum(enc["assistant_masks"]) < len(enc["input_ids"])


def test_digits_round_trip_one_per_token(student: Path) -> None:
    tok = AutoTokenizer.from_pretrained(student)
    s = "(388 - 21) mod 51 = 31; -485 mod 51 = 25. 1234567890 x 0.07"
    ids = tok(s, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == s
    pieces = tok.convert_ids_to_tokens(tok("1234567890", add_special_tokens=False)["input_ids"])
    assert pieces == list("1234567890")


def test_same_seed_same_weights(texts: list[str], student: Path, tmp_path: Path) -> None:
    again = init_student(texts, tmp_path / "again", seed=0, **SMALL)
    other = init_student(texts, tmp_path / "other", seed=1, **SMALL)
    assert (again / "tokenizer.json").read_text() == (student / "tokenizer.json").read_text()
    a = AutoModelForCausalLM.from_pretrained(student).state_dict()
    b = AutoModelForCausalLM.from_pretrained(again).state_dict()
    c = AutoModelForCausalLM.from_pretrained(other).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_training_steps_reduce_loss(texts: list[str], student: Path) -> None:
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(student)
    model = AutoModelForCausalLM.from_pretrained(student)
    batch = token_batches(tok, texts, batch=2, seq=48)
    losses = train_steps(model, batch, 5, lr=3e-3, bf16=False)
    assert losses[-1] < losses[0] - 0.5
