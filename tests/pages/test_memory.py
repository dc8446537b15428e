"""A bounded version of `bench/bench_memory.py`: resident memory stays flat over reruns with uploads
and plots (the benchmark runs 200; this runs 45 after a warm-up)."""

from bench.bench_memory import measure

GROWTH_BOUND_MB = 60  # allocator noise is about +-20 MB here; a leak of 1 MB a rerun would cross it


def test_rss_stays_flat_over_reruns_with_uploads_and_plots():
    figures = measure(reruns=45, report_every=15, warmup=15)
    assert figures["growth_mb"] < GROWTH_BOUND_MB, figures
    assert figures["peak_mb"] - figures["start_mb"] < GROWTH_BOUND_MB, figures
