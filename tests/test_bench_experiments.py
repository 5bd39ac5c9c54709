"""The experiment-scale benchmark, small: it fills a store, checks the look's totals against the
rows it wrote, and prints its figures (both databases)."""

from __future__ import annotations

from benchmarks.experiment_scale import main


def test_the_benchmark_checks_and_prints_its_figures(store_url: str, capsys) -> None:
    figures = main(rows=30_000, database_url=store_url)
    assert figures["rows"] == 30_000 and figures["other_rows"] == 3_000
    assert 0 < figures["best_look_seconds"] <= figures["first_look_seconds"]
    assert figures["look_python_peak_mb"] < 5  # only per-bucket groups come back
    printed = capsys.readouterr().out
    assert '"best_look_seconds"' in printed
