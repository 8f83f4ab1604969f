"""`python -m release COMMAND --env ENV` (`nox -s release -- ...`): release to Cloud Run.

Exit codes: 0 done (canary: promoted); 1 the release failed (rolled back, gate failed, revision
did not start); 2 cannot judge (not enough data within the limit) or refused (another release
is running, the service changed meanwhile, a wrong file or flag).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import NoReturn, TextIO

from google.protobuf import json_format

from release import deploy as deploying
from release import environment, rollout, spec
from release.clients import build_clients
from release.cloudrun import CloudRun, Refused
from release.context import EXIT_CANNOT, EXIT_OK, Context, Stop
from release.metrics import Metrics
from release.state import StateError

ENDPOINT_ENV = "RELEASE_ENDPOINT"
DEFAULT_REPORTS = Path("reports/release")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # a wrong command line is "refused": 2
        self.print_usage(sys.stderr)
        self.exit(EXIT_CANNOT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", help="environment: release/environments/NAME.yaml, or a path")
    common.add_argument("--slo-file", type=Path, help="SLO file (default: slo/slos.yaml)")
    online = argparse.ArgumentParser(add_help=False)
    online.add_argument(
        "--endpoint",
        default=os.environ.get(ENDPOINT_ENV),
        help=f"HOST:PORT of a local gRPC server: plain channel, anonymous credentials "
        f"(tests; default ${ENDPOINT_ENV}, else Google with Application Default Credentials)",
    )
    online.add_argument(
        "--reports", type=Path, default=DEFAULT_REPORTS, help="decision records go in DIR/<id>/"
    )
    sha = argparse.ArgumentParser(add_help=False)
    sha.add_argument("--sha", required=True, help="the commit's short SHA ($SHORT_SHA)")
    image = argparse.ArgumentParser(add_help=False)
    image.add_argument(
        "--image", required=True, help="REGION-docker.pkg.dev/PROJECT/REPO/IMAGE:TAG"
    )
    parser = _Parser(prog="python -m release", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser(
        "render",
        parents=[common, image, sha],
        help="print the run_v2.Service as JSON; sends nothing",
    )
    commands.add_parser(
        "validate", parents=[common], help="check the environment file(s) (all without --env)"
    )
    commands.add_parser(
        "deploy",
        parents=[common, online, image, sha],
        help="the new revision <service>-<sha> at 0%% with tag c-<sha>, in one call",
    )
    gate = commands.add_parser(
        "gate",
        parents=[common, online, sha],
        help="the load test (python -m loadtest) against the tag URL; 1 or 2 stop the release",
    )
    gate.add_argument("loadtest_args", nargs="*", help="more loadtest flags, after --")
    canary = commands.add_parser(
        "canary",
        parents=[common, online, sha],
        help="every traffic step with its analysis, then promote (0) or roll back (1)",
    )
    canary.add_argument("--no-gate", action="store_true", help="canary without a passed gate")
    commands.add_parser(
        "promote", parents=[common, online, sha], help="the canary to 100%% (stable), now"
    )
    commands.add_parser(
        "rollback", parents=[common, online], help="the recorded stable revision back to 100%%"
    )
    commands.add_parser("status", parents=[common, online], help="traffic and release state")
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args, out)
        if not args.env:
            raise Stop(EXIT_CANNOT, f"--env is required by {args.command}")
        env = environment.load(args.env, args.slo_file)
        if args.command == "render":
            return _render(env, args, out)
        return _online(env, args, out)
    except (environment.ConfigError, spec.SpecError, StateError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CANNOT
    except Refused as error:
        print(f"refused: {error}", file=sys.stderr)
        return EXIT_CANNOT
    except Stop as stop:
        print(f"release: {stop.message}", file=sys.stderr)
        return stop.code


def _validate(args: argparse.Namespace, out: TextIO) -> int:
    files = [environment.resolve(args.env)] if args.env else environment.environment_files()
    for file in files:
        env = environment.load(str(file), args.slo_file)
        steps = ", ".join(f"{s.percent}%" for s in env.canary.steps)
        print(f"{file}: valid ({env.service_name}; steps {steps})", file=out)
    return EXIT_OK


def _render(env: environment.Environment, args: argparse.Namespace, out: TextIO) -> int:
    service = spec.build_service(env, args.image, args.sha)
    document = json_format.MessageToDict(
        type(service).pb(service), preserving_proto_field_name=True
    )
    out.write(
        json.dumps({"parent": env.parent, "service_id": env.service, "service": document}, indent=2)
        + "\n"
    )
    return EXIT_OK


def _online(env: environment.Environment, args: argparse.Namespace, out: TextIO) -> int:
    clients = build_clients(args.endpoint)
    try:
        poll_s = min(1.0, env.canary.poll.total_seconds())
        ctx = Context(
            env, CloudRun(clients, env, poll_s), Metrics(clients.metrics, env), args.reports, out
        )
        command = args.command
        if command == "deploy":
            return deploying.deploy(ctx, args.image, args.sha)
        if command == "gate":
            return deploying.gate(ctx, args.sha, args.loadtest_args)
        if command == "canary":
            return rollout.canary(ctx, args.sha, args.no_gate)
        if command == "promote":
            return rollout.promote(ctx, args.sha)
        if command == "rollback":
            return rollout.rollback(ctx)
        return rollout.status(ctx)
    finally:
        clients.close()
