"""Benchmarks: ``python -m bench`` runs the JERP benchmark, then (as root) the data-plane one."""
