"""Latency, parity, metrics (AUC, DeLong) and the paper-style comparison suites."""
