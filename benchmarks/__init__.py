"""Benchmarks: scripts that print measured figures beside a baseline measured in the same run."""
