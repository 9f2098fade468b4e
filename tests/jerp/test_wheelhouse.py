"""The wheelhouse the JERP image and EC2 user_data install from, with no index."""

from __future__ import annotations

import platform
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from harness.errors import PrerequisiteError
from harness.packaging.wheelhouse import STAMP, build_wheelhouse

AL2023 = {"platform": "manylinux2014_x86_64", "python_version": "3.11"}


def test_unreachable_index_is_a_named_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # nothing listens on this port (the JERP range is 18000-18999, this test uses none of it)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    with pytest.raises(PrerequisiteError) as caught:
        build_wheelhouse(tmp_path / "wh", **AL2023)
    assert "building the wheelhouse failed" in str(caught.value)
    assert "PyPI" in caught.value.hint
    assert not (tmp_path / "wh" / STAMP).exists()


@pytest.mark.integration
def test_al2023_wheelhouse_installs_jerp_offline(tmp_path: Path) -> None:
    """Needs PyPI (or a PIP_INDEX_URL mirror): run with ``pytest -m integration``."""
    target = build_wheelhouse(tmp_path / "wh", **AL2023)
    wheels = {p.name for p in target.glob("*.whl")}
    names = {w.split("-")[0].lower() for w in wheels}
    assert {"jerp_privatelink", "fastapi", "uvicorn", "pydantic_core", "uvloop"} <= names
    # binary wheels are for CPython 3.11 on manylinux x86_64, whatever the host runs
    binary = [w for w in wheels if "none-any" not in w]
    assert binary
    assert all("x86_64" in w and ("cp311" in w or "abi3" in w) for w in binary), binary
    # a second build with nothing changed reuses the directory as it is
    stamp_before = (target / STAMP).stat().st_mtime_ns
    assert build_wheelhouse(target, **AL2023) == target
    assert (target / STAMP).stat().st_mtime_ns == stamp_before

    if not (
        sys.version_info[:2] == (3, 11)
        and platform.machine() == "x86_64"
        and sys.platform == "linux"
    ):
        pytest.skip("installing the AL2023 wheelhouse needs CPython 3.11 on Linux x86_64")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run(
        [*pip, "--no-index", "--find-links", str(target), "jerp-privatelink"],
        check=True,
        timeout=300,
    )
    greeting = subprocess.run(
        [
            str(env_dir / "bin" / "python"),
            "-c",
            "from jerp.app import greeting; print(greeting('yundream'))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert greeting.stdout == "Hello yundream!. How are you\n"
    assert (env_dir / "bin" / "jerp").exists()
