"""Training throughput of the from-scratch tiny student (tokens/s), CPU.

Builds the default student (4 layers, d=256) with a tokenizer trained on procedural
problems, then times plain AdamW steps (``tracemint.train.tiny.measure_tokens_per_s``) for:
vocab 8k with bf16 autocast, vocab 8k in fp32, and vocab 49k with bf16 autocast. The
procedural corpus is too small to fill an 8k or 49k vocabulary, so the embedding is
resized to the target size: only the size matters for speed. Threads default to 2 (the
budget the student is meant for).

Run: ``python benchmarks/student_speed.py [--steps 10] [--batch 8] [--seq 256] [--threads 2]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from tracemint.synth.base import create_family, generate
from tracemint.train.tiny import init_student, measure_tokens_per_s

FAMILIES = ("modular", "word_problems", "linear_equations")


def corpus(n_per_family: int) -> list[str]:
    texts = []
    for name in FAMILIES:
        for item in generate(create_family(name), n_per_family, seed=0):
            texts.append(f"{item.question}\n{item.rationale}")
    return texts


def student_with_vocab(texts: list[str], out: Path, vocab: int) -> Path:
    init_student(texts, out, vocab_size=vocab)
    model = AutoModelForCausalLM.from_pretrained(out)
    if model.config.vocab_size < vocab:
        model.resize_token_embeddings(vocab, mean_resizing=False)
        model.save_pretrained(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=500, help="problems per family for the corpus")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts = corpus(args.n)
    runs = [("vocab 8k, bf16 autocast", 8000, True), ("vocab 8k, fp32", 8000, False)]
    runs.append(("vocab 49k, bf16 autocast", 49152, True))
    print(f"threads={args.threads} batch={args.batch} seq={args.seq} steps={args.steps}")
    print(f"{'student (4 layers, d=256)':<28} {'params':>10} {'tokens/s':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, vocab, bf16 in runs:
            out = student_with_vocab(texts, Path(tmp) / f"v{vocab}", vocab)
            params = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(out).parameters())
            tps = measure_tokens_per_s(
                out, texts, steps=args.steps, batch=args.batch, seq=args.seq, bf16=bf16
            )
            print(f"{label:<28} {params / 1e6:>9.2f}M {tps:>10,.0f}", flush=True)


if __name__ == "__main__":
    main()
