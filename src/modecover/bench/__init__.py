"""Benchmark suites (DESIGN.md §9): jobs, a resumable parallel harness, summaries."""
