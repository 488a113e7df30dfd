"""A from-scratch tiny student: a few-million-parameter Llama with a tokenizer trained on the data.

``init_student`` trains a byte-level BPE tokenizer (digits split one per token, so arithmetic
stays exact), gives it a chat template that renders TRL SFT ``messages`` rows, builds a fresh
seeded ``LlamaForCausalLM`` with tied embeddings sized to that vocabulary, and saves both with
``save_pretrained``: the directory then loads with ``AutoTokenizer``/``AutoModelForCausalLM``
and can be handed to TRL's ``SFTTrainer`` as is. ``measure_tokens_per_s`` times a few plain
torch training steps (the student benchmark). Defaults (4 layers, d=256, vocab <= 8k) train
on 2 CPU cores in minutes; see docs/student.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

PAD = "<|pad|>"
END = "<|end|>"
ROLE_TOKENS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
SPECIAL_TOKENS = [PAD, END, *ROLE_TOKENS.values()]

# One turn: "<|role|>\n<content><|end|>\n". The assistant turn is wrapped in
# {% generation %} so TRL's assistant_only_loss / return_assistant_tokens_mask work;
# a generation prompt is the bare "<|assistant|>\n" the model continues from.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('unsupported role: ' + message['role']) }}"
    "{% endif %}"
    "{{ '<|' + message['role'] + '|>\\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}"
    "{{ message['content'] + '<|end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 8000) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``texts``, digits split one per token.

    The vocabulary is at most ``vocab_size``; a small corpus yields fewer tokens (BPE stops
    when no pair is left to merge), never an error. Every byte is in the alphabet, so any
    text round-trips exactly.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=END,
        pad_token=PAD,
        additional_special_tokens=list(ROLE_TOKENS.values()),
        clean_up_tokenization_spaces=False,
        model_max_length=None,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def student_config(
    vocab_size: int,
    *,
    layers: int = 4,
    d_model: int = 256,
    heads: int = 4,
    max_len: int = 512,
    pad_token_id: int = 0,
    eos_token_id: int = 1,
) -> LlamaConfig:
    """The tiny Llama: tied embeddings, MLP width 4*d, full multi-head attention."""
    if d_model % heads:
        raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=d_model,
        intermediate_size=4 * d_model,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_len,
        tie_word_embeddings=True,
        pad_token_id=pad_token_id,
        eos_token_id=eos_token_id,
        bos_token_id=None,
    )


def init_student(
    texts: list[str],
    out_dir: Path,
    *,
    vocab_size: int = 8000,
    layers: int = 4,
    d_model: int = 256,
    heads: int = 4,
    max_len: int = 512,
    seed: int = 0,
) -> Path:
    """Train the tokenizer on ``texts``, build a fresh seeded student, save both to ``out_dir``."""
    if not texts:
        raise ValueError("init_student needs at least one text to train the tokenizer on")
    out_dir = Path(out_dir)
    tokenizer = train_tokenizer(texts, vocab_size)
    tokenizer.model_max_length = max_len
    config = student_config(
        len(tokenizer),
        layers=layers,
        d_model=d_model,
        heads=heads,
        max_len=max_len,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    if model.generation_config is not None:
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.bos_token_id = None
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def texts_from_sft(path: Path | str) -> list[str]:
    """Plain texts from an SFT JSONL (TRL ``messages`` rows, as ``export/sft.py`` writes them).

    One text per row: the messages' contents joined by newlines (the chat markers are
    special tokens and need no training). Rows with ``prompt``/``completion`` or ``text``
    fields are read too; blank lines are skipped.
    """
    texts: list[str] = []
    with Path(path).open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not JSON: {e}") from e
            parts = _row_parts(row)
            text = "\n".join(p for p in parts if p)
            if text:
                texts.append(text)
    return texts


def _row_parts(row: dict[str, Any]) -> list[str]:
    if isinstance(row.get("messages"), list):
        return [str(m.get("content") or "") for m in row["messages"] if isinstance(m, dict)]
    parts: list[str] = []
    for key in ("prompt", "completion"):
        value = row.get(key)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts.extend(str(m.get("content") or "") for m in value if isinstance(m, dict))
    if not parts and isinstance(row.get("text"), str):
        parts.append(row["text"])
    return parts


def token_batches(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], *, batch: int, seq: int
) -> torch.Tensor:
    """Texts (each ended by eos) packed into one ``(batch, seq)`` block, repeated if short."""
    ids: list[int] = []
    for text in texts:
        ids.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        ids.append(tokenizer.eos_token_id)
    if not ids:
        raise ValueError("no tokens to train on")
    need = batch * seq
    ids = (ids * (need // len(ids) + 1))[:need]
    return torch.tensor(ids, dtype=torch.long).view(batch, seq)


def train_steps(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    steps: int,
    *,
    lr: float = 1e-3,
    bf16: bool = True,
    optimizer: torch.optim.Optimizer | None = None,
) -> list[float]:
    """``steps`` plain AdamW steps of next-token loss on ``input_ids``; the losses."""
    model.train()
    opt = optimizer or torch.optim.AdamW(model.parameters(), lr=lr)
    losses: list[float] = []
    for _ in range(steps):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=input_ids, labels=input_ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    return losses


def measure_tokens_per_s(
    model_dir: Path | str,
    texts: Sequence[str],
    steps: int = 10,
    batch: int = 8,
    seq: int = 256,
    bf16: bool = True,
) -> float:
    """Training throughput (tokens/s) of the student in ``model_dir`` on ``texts``.

    One untimed warm-up step, then ``steps`` timed AdamW steps on ``(batch, seq)`` blocks.
    """
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    input_ids = token_batches(tokenizer, texts, batch=batch, seq=seq)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    train_steps(model, input_ids, 1, bf16=bf16, optimizer=opt)
    start = time.perf_counter()
    train_steps(model, input_ids, steps, bf16=bf16, optimizer=opt)
    return steps * batch * seq / (time.perf_counter() - start)
