"""Which tokens SFT trains on (``TrainConfig.loss_on``): the rows TRL is given for each layout.

No torch needed: ``sft_layout`` runs before the ``[train]`` extra is looked for.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tracemint.cli import app
from tracemint.errors import ConfigError
from tracemint.train.config import TrainConfig
from tracemint.train.rows import sft_layout

SYSTEM = {"role": "system", "content": "Be brief."}
USER = {"role": "user", "content": "What is 2 + 3?"}
ASSISTANT = {"role": "assistant", "content": "2 + 3 = 5. The answer is 5."}


def test_completion_only_is_the_default() -> None:
    assert TrainConfig().loss_on == "completion"


def test_prompt_completion_rows_go_to_trl_as_they_are() -> None:
    rows = [{"prompt": [SYSTEM, USER], "completion": [ASSISTANT]}]
    assert sft_layout(rows, "completion") == rows
    assert sft_layout(rows, "all") == rows


def test_messages_rows_are_split_at_the_last_assistant_turn() -> None:
    rows = [{"messages": [SYSTEM, USER, ASSISTANT]}]
    assert sft_layout(rows, "completion") == [{"prompt": [SYSTEM, USER], "completion": [ASSISTANT]}]
    assert sft_layout(rows, "all") == rows  # every token: the conversation as it is


def test_rows_with_nothing_to_mask_are_refused_not_trained_on_everything() -> None:
    with pytest.raises(ConfigError, match="--loss-on all"):
        sft_layout([{"text": "2 + 3 = 5"}], "completion")
    with pytest.raises(ConfigError, match="row 2: the last message is not the assistant"):
        sft_layout([{"messages": [USER, ASSISTANT]}, {"messages": [USER]}], "completion")
    assert sft_layout([{"text": "2 + 3 = 5"}], "all") == [{"text": "2 + 3 = 5"}]


def test_cli_names_a_bad_loss_on(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["train", "x.jsonl", "--out", str(tmp_path), "--loss-on", "prompt"]
    )
    assert res.exit_code == 2 and "--loss-on" in res.output, res.output
