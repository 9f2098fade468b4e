"""The harness command line: parses arguments, loads settings once, calls one function.

Errors the user can act on (:class:`HarnessError`) are printed with their fix and exit 2;
Ctrl-C exits 130 after the called function has cleaned up what it started.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from harness.errors import HarnessError
from harness.settings import HarnessSettings, load_settings

Command = Callable[[argparse.Namespace, HarnessSettings], int]


def _deploy(args: argparse.Namespace, settings: HarnessSettings) -> int:
    from harness.deploy import deploy, print_summary

    deployment = deploy(settings)
    print_summary(deployment, settings)
    return 0


def _destroy(args: argparse.Namespace, settings: HarnessSettings) -> int:
    from harness.deploy import destroy

    destroy(settings)
    return 0


def _plan(args: argparse.Namespace, settings: HarnessSettings) -> int:
    from harness.deploy import plan

    return 0 if plan(settings) is not None else 1


def _check(args: argparse.Namespace, settings: HarnessSettings) -> int:
    from harness.deploy import run_live_checks

    return 0 if run_live_checks(settings, junit_path=args.junit) else 1


def _status(args: argparse.Namespace, settings: HarnessSettings) -> int:
    from harness.deploy import status

    print(status(settings))
    return 0


def _exec(args: argparse.Namespace, settings: HarnessSettings) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise HarnessError(
            "no command given", hint="usage: harness exec <host> -- <command> [args...]"
        )
    from harness.dataplane.hostexec import exec_on_host

    return exec_on_host(settings, args.host, command)


def _graph(args: argparse.Namespace, settings: HarnessSettings) -> int:
    from harness.deploy import draw_graph

    print(draw_graph(settings, args.out))
    return 0


def _transcripts(args: argparse.Namespace, settings: HarnessSettings) -> int:
    from harness.deploy import seed_transcripts

    print(seed_transcripts(settings))
    return 0


def _preflight(args: argparse.Namespace, settings: HarnessSettings) -> int:
    from harness import preflight

    preflight.require(settings, args.purpose)
    print(f"preflight: everything `{args.purpose}` needs is here")
    return 0


def _lint(args: argparse.Namespace, settings: HarnessSettings) -> int:
    from harness.lint import run_lint

    return 1 if run_lint(settings.terraform_bin) else 0


def _localstack(args: argparse.Namespace, settings: HarnessSettings) -> int:
    from harness.controlplane import localstack

    if args.action == "install":
        print(localstack.ensure_localstack_venv(settings))
    elif args.action == "start":
        print(localstack.start_detached(settings))
    else:
        localstack.stop_detached(settings)
    return 0


def _dev(args: argparse.Namespace, settings: HarnessSettings) -> int:
    from harness.packaging.devenv import compose

    return compose(args.action, settings.state_dir)


def _image(args: argparse.Namespace, settings: HarnessSettings) -> int:
    import os

    from harness.packaging.docker_engine import DockerEngine
    from harness.packaging.images import TRIXIE_BASE, build_harness_image, debian_base_image

    with DockerEngine(settings.state_dir, existing_host=os.environ.get("DOCKER_HOST")) as engine:
        base = args.base_image
        if args.debootstrap_base:
            # No registry: a Debian base made here, with apt working inside the build.
            base = debian_base_image(engine, settings.state_dir / "images", TRIXIE_BASE)
        print(build_harness_image(engine, settings.state_dir, settings.terraform_bin, base))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Deploy JERP over AWS PrivateLink (LocalStack or AWS) and prove it works.",
        epilog="Settings come from the environment: STACK=local|aws, AWS_REGION, "
        "LOCALSTACK_ENDPOINT, ... (README, 'Configuration').",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    add("deploy", _deploy, "deploy the stack (local: LocalStack, Terraform, data plane)")
    add("destroy", _destroy, "tear the stack down and stop everything the harness started")
    add("plan", _plan, "show the Terraform plan for the stack")
    check = add("check", _check, "run the live checks against the deployed stack")
    check.add_argument("--junit", default="reports/checks.xml", help="JUnit XML output path")
    add("status", _status, "show what runs for the local stack")
    ex = add("exec", _exec, "run a command on an emulated host (instance id or Name tag)")
    ex.add_argument("host", help="instance id (i-...) or Name tag")
    ex.add_argument("command", nargs=argparse.REMAINDER, help="-- command [args...]")
    graph = add("graph", _graph, "draw the deployed topology with graphviz")
    graph.add_argument("--out", default="reports/topology.svg", help="output file (.svg/.png)")
    add("transcripts", _transcripts, "print the seed's nslookup and curl transcripts, live")
    pre = add("preflight", _preflight, "check every prerequisite at once, each with its fix")
    pre.add_argument("--for", dest="purpose", choices=["deploy", "test"], default="deploy")
    add("lint", _lint, "ruff, mypy, terraform fmt/validate, checkov")
    ls = add("localstack", _localstack, "install, start or stop the local LocalStack")
    ls.add_argument("action", choices=["install", "start", "stop"])
    dev = add("dev", _dev, "docker compose development setup")
    dev.add_argument("action", choices=["up", "down", "config"])
    image = add("image", _image, "build the all-in-one harness image")
    image.add_argument("action", choices=["build"])
    image.add_argument(
        "--base-image",
        default="python:3.13-slim-trixie",
        help="Debian trixie (Python 3.13) based image",
    )
    image.add_argument(
        "--debootstrap-base",
        action="store_true",
        help="make the base with debootstrap instead of pulling one (no registry needed)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        code: int = args.func(args, settings)
        return code
    except HarnessError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: everything this command started has been stopped", file=sys.stderr)
        return 130
