"""Loading an encoder draws no third-party bar: a log of `csa fit` shows csa's lines only."""

from __future__ import annotations

import pytest

pytest.importorskip("sentence_transformers")

from transformers.utils import logging as hf_logging

from csa.encoders import get
from csa.encoders._hub import quiet_weight_loading


def test_loading_the_bundled_text_encoder_prints_no_weight_loading_bar(capfd):
    hf_logging.enable_progress_bar()
    encoder = get("minilm-l6")
    assert encoder.encode(["a red square"]).shape == (1, encoder.dim)
    captured = capfd.readouterr()
    assert "Loading weights" not in captured.err + captured.out
    assert hf_logging.is_progress_bar_enabled()  # the user's setting is left as it was


@pytest.mark.parametrize("enabled", [True, False])
def test_the_quiet_block_restores_the_setting_even_on_error(enabled):
    (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
    with pytest.raises(RuntimeError), quiet_weight_loading():
        assert not hf_logging.is_progress_bar_enabled()
        raise RuntimeError("a failed load")
    assert hf_logging.is_progress_bar_enabled() is enabled
    hf_logging.enable_progress_bar()
