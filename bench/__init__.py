"""Benchmarks: JERP against bare Starlette and HAProxy, and the data plane."""
