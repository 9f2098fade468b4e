"""The wheelhouse: JERP's wheel and its pinned runtime dependencies, as files.

The JERP Docker image and the EC2 user_data both install from it with ``--no-index``, so
neither needs the internet. ``python -m harness.packaging.wheelhouse DIR [--platform P
--python-version V]`` builds one; for Amazon Linux 2023 with python3.11 on x86_64 use
``--platform manylinux2014_x86_64 --python-version 3.11``.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from harness.errors import PrerequisiteError
from harness.settings import REPO_ROOT

CONSTRAINTS = REPO_ROOT / "constraints.txt"
RUNTIME_REQUIREMENTS = ("fastapi", "uvicorn[standard]", "pydantic-settings")
STAMP = ".wheelhouse-stamp"


def _fingerprint(platform: str | None, python_version: str | None) -> str:
    digest = hashlib.sha256()
    digest.update(f"{platform}|{python_version}".encode())
    for path in [CONSTRAINTS, REPO_ROOT / "pyproject.toml", *sorted(REPO_ROOT.glob("jerp/*.py"))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _pip(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise PrerequisiteError(
            f"building the wheelhouse failed: pip {' '.join(args[:2])}: "
            f"{result.stderr.strip()[-1500:]}",
            hint="pip needs PyPI (or a PIP_INDEX_URL mirror) the first time; rerun when online",
        )


def build_wheelhouse(
    target: Path, *, platform: str | None = None, python_version: str | None = None
) -> Path:
    """Build (or reuse, when nothing changed) the wheelhouse in ``target``."""
    fingerprint = _fingerprint(platform, python_version)
    stamp = target / STAMP
    if stamp.exists() and stamp.read_text() == fingerprint:
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    _pip(["wheel", "--quiet", "--no-deps", "--wheel-dir", str(target), str(REPO_ROOT)])
    deps = ["--constraint", str(CONSTRAINTS), *RUNTIME_REQUIREMENTS]
    if platform or python_version:
        cross = ["--only-binary=:all:"]
        if platform:
            cross += ["--platform", platform]
        if python_version:
            cross += ["--python-version", python_version]
        _pip(["download", "--quiet", "--dest", str(target), *cross, *deps])
    else:
        _pip(["wheel", "--quiet", "--wheel-dir", str(target), *deps])
    stamp.write_text(fingerprint)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("target", type=Path)
    parser.add_argument("--platform", help="pip platform tag, e.g. manylinux2014_x86_64")
    parser.add_argument("--python-version", help="target Python, e.g. 3.11")
    args = parser.parse_args(argv)
    try:
        path = build_wheelhouse(
            args.target, platform=args.platform, python_version=args.python_version
        )
    except PrerequisiteError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{path}: {len(list(path.glob('*.whl')))} wheels")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
