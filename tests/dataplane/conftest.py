from __future__ import annotations

import pytest

from harness.dataplane.topology import Topology

from .seed_topology import make_topology


@pytest.fixture
def topology() -> Topology:
    return make_topology()
