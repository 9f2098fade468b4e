"""docs/aws-behaviour.md and the tests stay in step: every row is decided (reproduced or declined
with a reason), every reproduced row names tests that exist, and every fidelity test is named
by a row (or says here why it proves no AWS behaviour of its own)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.settings import REPO_ROOT

CATALOGUE = REPO_ROOT / "docs" / "aws-behaviour.md"
NODE = re.compile(r"(tests/[\w/]+\.py)::(\w+)")

# The fidelity tests: every test in these files proves a documented AWS behaviour.
FIDELITY_FILES = (
    "tests/controlplane/test_plugin_accounts.py",
    "tests/controlplane/test_plugin_endpoints.py",
    "tests/controlplane/test_plugin_nlb.py",
    "tests/controlplane/test_plugin_services.py",
    "tests/controlplane/test_plugin_target_health.py",
    "tests/dataplane/test_fidelity_dataplane_root.py",
    "tests/dataplane/test_fidelity_plan.py",
    "tests/e2e/test_fidelity_dataplane.py",
    "tests/e2e/test_fidelity_corpus_variables.py",
)
# Tests in those files that check the kit itself, not an AWS behaviour.
KIT_ONLY = {
    "test_no_leftover_relay_once_proxy_protocol_is_off": "the relay's own cleanup",
    "test_a_saved_server_state_takes_the_new_address_and_keeps_its_health": "HAProxy reloads",
    "test_the_deployed_stack_relies_on_no_declined_behaviour": "make check's warnings",
    "test_a_socket_path_haproxy_would_refuse_is_an_error_before_it_starts": "HAProxy's own limit",
}


@dataclass(frozen=True)
class Row:
    id: str
    status: str
    tests: tuple[tuple[str, str], ...]


def rows() -> list[Row]:
    found = []
    for line in CATALOGUE.read_text().splitlines():
        if not line.startswith("| ") or line.startswith(("| id ", "|---")):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or cells[0] == "id":
            continue
        found.append(Row(cells[0], cells[3], tuple(NODE.findall(cells[4]))))
    return found


def _defines(path: str, name: str) -> bool:
    file = REPO_ROOT / path
    return (
        file.is_file() and re.search(rf"^(async )?def {name}\b", file.read_text(), re.M) is not None
    )


def test_the_catalogue_has_at_least_thirty_rows_with_unique_ids() -> None:
    ids = [r.id for r in rows()]
    assert len(ids) >= 30
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_every_row_is_reproduced_with_tests_or_declined_with_a_reason() -> None:
    undecided = [r.id for r in rows() if not r.status.startswith(("reproduced", "declined"))]
    assert undecided == [], "rows still TODO"
    bare = [r.id for r in rows() if r.status.startswith("declined") and ":" not in r.status]
    assert bare == [], "a declined row says why after `declined:`"
    untested = [r.id for r in rows() if r.status.startswith("reproduced") and not r.tests]
    assert untested == [], "a reproduced row names the test that proves it"


def test_every_test_a_row_names_exists() -> None:
    missing = [f"{r.id}: {f}::{t}" for r in rows() for f, t in r.tests if not _defines(f, t)]
    assert missing == []


def test_every_fidelity_test_is_named_by_a_row() -> None:
    named = {node for r in rows() for node in r.tests}
    orphans = []
    for path in FIDELITY_FILES:
        text = (REPO_ROOT / path).read_text()
        for name in re.findall(r"^def (test_\w+)", text, re.M):
            if (path, name) not in named and name not in KIT_ONLY:
                orphans.append(f"{path}::{name}")
    assert orphans == []


def test_the_fidelity_files_exist() -> None:
    assert [p for p in FIDELITY_FILES if not Path(REPO_ROOT / p).is_file()] == []
