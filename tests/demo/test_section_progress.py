"""A section is not silent between "start" and "done": each step says what it starts
on one stderr line, and its progress goes through csa's one bar (csa.progress)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from csa.progress import ProgressBar
from csa.tasks import evaluate_retrieval
from csa_demo import status, sweep
from synthetic import known_cca_pairs

pytestmark = pytest.mark.filterwarnings("ignore::csa.WeakFitWarning")


class RecordingBar(ProgressBar):
    """The library's bar, remembered so a test can read its totals afterwards."""

    made: ClassVar[list[RecordingBar]] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        RecordingBar.made.append(self)


def test_the_sweep_says_what_it_fits_and_counts_every_fit_on_the_library_bar(monkeypatch, capsys):
    RecordingBar.made = []
    monkeypatch.setattr(sweep, "ProgressBar", RecordingBar)
    a, b = known_cca_pairs(60, (0.9, 0.8), dim_a=6, dim_b=5, seed=1)

    def score(model, options, seed):
        return {"mAP": evaluate_retrieval(model, a[:20], b[:20], **options).mean_map}

    sweep.run_sweep(
        "exp", "data (test 20)", a, b,
        n_pairs=[30, 60],
        sample_index=lambda n, seed: np.arange(n),
        score=score,
        selection=sweep.Selection("map"),
        methods=("CSA", "LinearMap"),
    )  # fmt: skip
    (bar,) = RecordingBar.made
    assert bar.total == bar.completed == 2 * 2 * 2  # budgets x methods x (default + tuned)
    assert bar.unit == "fit" and not bar.visible
    err = capsys.readouterr().err
    # One status line, no bar: stderr here is not a terminal.
    assert err == "exp: fitting 2 methods x 2 budgets x 1 seeds on data (test 20): 8 fits\n"


def test_encoding_lines_name_the_section_and_the_count(capsys):
    status.encoding("news", 2225, "articles with their headlines")
    assert capsys.readouterr().err == "news: encoding 2,225 articles with their headlines\n"


def test_the_audio_encoders_draw_the_library_bar(capsys):
    pytest.importorskip("librosa")
    from csa.encoders.audio import MFCCEncoder

    waves = [np.sin(np.linspace(0, 400 * k, 4000)).astype(np.float32) for k in (1, 2, 3)]
    MFCCEncoder().encode(waves, batch_size=2)
    assert capsys.readouterr().err == ""  # automatic: no bar into a pipe
    MFCCEncoder().encode(waves, batch_size=2, show_progress=True)
    err = capsys.readouterr().err
    assert "mfcc" in err and "3/3" in err and "items" in err
