"""Benchmarks of fbh and of the peers a user would pick instead (see docs/benchmarks.md)."""
