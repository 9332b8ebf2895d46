"""Benchmarks: make bench."""
