"""A scripted teacher for unit tests of pure stages (integration tests use the real
shipped HTTP server instead). Its replies depend only on the request, like a real
deterministic server, and it counts calls so tests can check the cache."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict

from tracemint.records import stable_hash
from tracemint.teachers.base import Completion, GenerationRequest, Teacher, teachers


class ScriptedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = "scripted"


def default_script(question: str, sample_index: int) -> str:
    """Answers "What is A+B?" right on even samples and off by one on odd ones."""
    m = re.search(r"(\d+)\s*\+\s*(\d+)", question)
    total = int(m.group(1)) + int(m.group(2)) if m else 0
    answer = total if sample_index % 2 == 0 else total + 1
    return f"Add the numbers.\nThe answer is {answer}."


class ScriptedTeacher(Teacher):
    name = "scripted"
    config_class = ScriptedConfig

    def __init__(
        self,
        config: ScriptedConfig | None = None,
        script: Callable[[str, int], str] = default_script,
    ) -> None:
        self.config = config or ScriptedConfig()
        self.script = script
        self.calls: list[str] = []

    @property
    def model(self) -> str:
        return "scripted-1"

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        out = []
        for r in requests:
            self.calls.append(stable_hash(list(r.messages), r.sampling()))
            text = self.script(r.messages[-1]["content"], r.sample_index)
            words = text.split()
            finish = "length" if len(words) > r.max_tokens else "stop"
            out.append(
                Completion(
                    text=" ".join(words[: r.max_tokens]) if finish == "length" else text,
                    finish_reason=finish,
                    prompt_tokens=10,
                    completion_tokens=min(len(words), r.max_tokens),
                    model=self.model,
                )
            )
        return out


if "scripted" not in teachers:
    teachers.register("scripted")(ScriptedTeacher)
