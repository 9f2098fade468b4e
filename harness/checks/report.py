"""Presenting check results: a table for the terminal and JUnit XML for CI."""

from __future__ import annotations

import shutil
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from harness.checks.checks import CheckResult

SUITE_NAME = "jerp-privatelink.live-checks"


def format_table(results: Sequence[CheckResult], width: int = 100) -> str:
    """Status and name per check; under each failure: expected, observed and the fix."""
    name_width = max((len(r.name) for r in results), default=10)
    name_width = min(name_width, max(20, width - 16))
    lines = [f"{'STATUS':<6}  {'CHECK':<{name_width}}  TIME", "-" * min(width, name_width + 16)]
    wrap = max(40, width - 18)
    for r in results:
        lines.append(f"{r.status:<6}  {r.name:<{name_width}}  {r.duration_s:5.1f}s")
        if r.skipped:
            lines.extend(_field("why", r.observed, wrap))
        elif not r.passed:
            lines.extend(_field("expected", r.expected, wrap))
            lines.extend(_field("observed", r.observed, wrap))
            lines.extend(_field("fix", r.hint, wrap))
    failed = sum(1 for r in results if not r.passed)
    skipped = sum(1 for r in results if r.skipped)
    ok = len(results) - failed - skipped
    lines.append("-" * min(width, name_width + 16))
    lines.append(f"{ok} passed, {failed} failed, {skipped} skipped")
    return "\n".join(lines)


def _field(label: str, text: str, width: int) -> list[str]:
    wrapped = textwrap.wrap(text, width=width, break_on_hyphens=False) or [""]
    head = f"        {label + ':':<10}"
    return [head + wrapped[0]] + [" " * len(head) + line for line in wrapped[1:]]


def print_table(results: Sequence[CheckResult], stream: TextIO | None = None) -> None:
    width = shutil.get_terminal_size((100, 20)).columns
    print(format_table(results, width=min(max(width, 60), 160)), file=stream or sys.stdout)


def junit_xml(results: Sequence[CheckResult], suite: str = SUITE_NAME) -> str:
    """A JUnit ``testsuite``: each failure's message is the hint, its text expected/observed."""
    failures = sum(1 for r in results if not r.passed)
    skips = sum(1 for r in results if r.skipped)
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        skipped=str(skips),
        time=f"{sum(r.duration_s for r in results):.3f}",
    )
    for r in results:
        case = ET.SubElement(
            root, "testcase", classname=suite, name=r.name, time=f"{r.duration_s:.3f}"
        )
        if r.skipped:
            ET.SubElement(case, "skipped", message=r.observed)
        elif not r.passed:
            node = ET.SubElement(case, "failure", message=r.hint or "check failed", type="check")
            node.text = f"expected: {r.expected}\nobserved: {r.observed}\nfix: {r.hint}\n"
        else:
            out = ET.SubElement(case, "system-out")
            out.text = f"expected: {r.expected}\nobserved: {r.observed}\n"
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(results: Sequence[CheckResult], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(results), encoding="utf-8")
    return path
