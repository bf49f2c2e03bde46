"""Benchmark suites (docs/RESULTS.md): jobs, a resumable parallel harness, summaries."""
