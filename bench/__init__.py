"""Benchmarks: each script prints numbers (quality, latency, throughput, memory, training time)."""
