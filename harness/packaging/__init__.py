"""Packaging: the wheelhouse, container images, the private Docker engine and compose."""
