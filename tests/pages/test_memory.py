"""A bounded version of `bench/bench_memory.py`: resident memory stays flat over reruns with uploads
and plots (the benchmark runs 200; this runs 45 after a warm-up).

It measures in a fresh Python process, as the benchmark does: a pytest-xdist worker that ran other
test files first holds gigabytes of their models and traced graphs (3.5 GB once), and their
allocator churn is not this app's leak."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

GROWTH_BOUND_MB = 60  # allocator noise is about +-20 MB here; a leak of 1 MB a rerun would cross it
MEASURE = (
    "import json; from bench.bench_memory import measure; "
    "print(json.dumps(measure(reruns=45, report_every=15, warmup=15)))"
)


@pytest.mark.slow
def test_rss_stays_flat_over_reruns_with_uploads_and_plots():
    finished = subprocess.run(
        [sys.executable, "-c", MEASURE], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    figures = json.loads(finished.stdout.strip().splitlines()[-1])
    assert figures["growth_mb"] < GROWTH_BOUND_MB, figures
    assert figures["peak_mb"] - figures["start_mb"] < GROWTH_BOUND_MB, figures
