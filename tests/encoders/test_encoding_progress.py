"""Progress on encoding: drawn when asked, on a terminal for a wait, never in a pipe unasked."""

from __future__ import annotations

import time

import pytest

import csa.progress as progress
from counting_encoder import MANY, Counting
from csa.encoders import cached_encode
from csa.progress import ProgressBar


def test_a_bar_asked_for_is_drawn_on_stderr_even_in_a_pipe(capsys) -> None:
    with ProgressBar(10, "encoding things", show=True) as bar:
        assert bar.visible
        bar.advance(4)
        bar.advance(6)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "encoding things" in captured.err and "10/10" in captured.err


def test_automatic_bars_stay_off_when_stderr_is_not_a_terminal(capsys) -> None:
    with ProgressBar(10, "quiet", show=None, long=True) as bar:
        assert not bar.visible
        bar.advance(10)
    with ProgressBar(10, "off", show=False) as bar:
        assert not bar.visible
    assert capsys.readouterr().err == ""


def test_on_a_terminal_a_short_wait_is_silent_and_a_longer_one_shows(monkeypatch) -> None:
    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: True)
    monkeypatch.setattr(progress, "AUTO_DELAY_S", 0.05)
    with ProgressBar(3, "quick", show=None) as bar:
        bar.advance(3)
        assert not bar.visible  # done before the delay: no bar flashes
    with ProgressBar(3, "slow", show=None) as bar:
        deadline = time.monotonic() + 5
        while not bar.visible and time.monotonic() < deadline:
            time.sleep(0.01)
        assert bar.visible
    assert not bar.visible  # gone when the block ends
    with ProgressBar(3, "long", show=None, long=True) as bar:
        assert bar.visible  # a run known to be long shows at once


def test_cached_encode_shows_what_it_encodes_and_what_it_read(tmp_path, capsys) -> None:
    cached_encode(Counting(), MANY[:20], cache_dir=tmp_path, show_progress=False)
    assert capsys.readouterr().err == ""
    cached_encode(Counting(), MANY, cache_dir=tmp_path, batch_size=8, show_progress=True)
    err = capsys.readouterr().err
    assert "encoding (counting)" in err and "30/30" in err and "20 from cache" in err


def test_a_plain_encode_shows_its_bar_when_asked(capsys) -> None:
    Counting().encode(MANY, batch_size=8, show_progress_bar=True)
    assert "counting" in capsys.readouterr().err
    Counting().encode(MANY, batch_size=8)
    assert capsys.readouterr().err == ""  # not a terminal, not asked


@pytest.mark.parametrize("show", [True, None])
def test_a_bar_closes_when_the_pass_is_interrupted(monkeypatch, show) -> None:
    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: True)
    opened: list[ProgressBar] = []
    real_enter = ProgressBar.__enter__

    def spy(self):
        opened.append(self)
        return real_enter(self)

    monkeypatch.setattr(ProgressBar, "__enter__", spy)
    with pytest.raises(KeyboardInterrupt):
        Counting(fail_at_batch=2).encode(MANY, batch_size=5, show_progress=show)
    assert opened and not opened[0].visible
