"""`python -m monitoring validate | render | plan | apply`: monitoring as code for one project.

Exit codes: 0 success (plan: no error; with --detailed-exitcode, no change); 1 the command
line or the configuration is wrong (nothing was sent); 2 plan --detailed-exitcode found
changes; 3 an API call failed (apply: what was done before it stays done; run it again).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn, TextIO

import slo
from monitoring import plan as planning
from monitoring.api import METRIC_WAIT_SECONDS, MetricWait, ProjectApi
from monitoring.apply import apply_plan
from monitoring.clients import build_clients
from monitoring.config import PACKAGE_DIR
from monitoring.diff import as_dict
from monitoring.errors import ApiError, ConfigError, ConfigErrors
from monitoring.pipeline import Loaded, Sources, load
from monitoring.references import References
from monitoring.state import finalize, make_plan, read_state
from monitoring.variables import environment_files, resolve_environment_file

EXIT_OK, EXIT_CONFIG, EXIT_CHANGES, EXIT_API = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors exit 1 (2 means "changes")
        self.print_usage(sys.stderr)
        self.exit(EXIT_CONFIG, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", help="environment name (environments/NAME.yaml) or file path")
    common.add_argument(
        "--config-dir", type=Path, default=PACKAGE_DIR, help="definitions directory"
    )
    common.add_argument("--slos", type=Path, default=slo.DEFAULT_SLOS_PATH, help="SLO file")
    common.add_argument(
        "--alert-windows",
        type=Path,
        default=slo.DEFAULT_ALERT_WINDOWS_PATH,
        help="alert windows file",
    )
    online = argparse.ArgumentParser(add_help=False)
    online.add_argument("--endpoint", help="HOST:PORT of a local gRPC server (plain, anonymous)")
    online.add_argument(
        "--prune", action="store_true", help="delete managed objects not configured"
    )
    parser = _Parser(prog="python -m monitoring", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("validate", parents=[common], help="check every file; sends nothing")
    render = commands.add_parser("render", parents=[common], help="print the API payloads as JSON")
    render.add_argument("--output", type=Path, help="write to this file instead of stdout")
    plan = commands.add_parser(
        "plan", parents=[common, online], help="show what apply would change"
    )
    plan.add_argument(
        "--detailed-exitcode", action="store_true", help="exit 2 when there are changes"
    )
    apply = commands.add_parser("apply", parents=[common, online], help="make the planned changes")
    apply.add_argument(
        "--metric-wait",
        type=_seconds,
        default=METRIC_WAIT_SECONDS,
        metavar="SECONDS",
        help="how long to wait for new log-based metrics to become known (default: 600)",
    )
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"must be 0 to 3600 seconds, got {text!r}")
    return value


def main(
    argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    args = build_parser().parse_args(argv)
    sources = Sources(args.config_dir, args.slos, args.alert_windows)
    try:
        if args.command == "validate":
            return _validate(args, sources, out)
        if not args.env:
            raise ConfigErrors(
                [ConfigError("(command line)", "--env", f"is required by {args.command}")]
            )
        loaded = load(sources, resolve_environment_file(args.env, args.config_dir))
        if args.command == "render":
            return _render(loaded, args.output, out)
        return _online(args, loaded, out)
    except ConfigErrors as errors:
        for error in errors.errors:
            print(f"error: {error}", file=err)
        print(f"{len(errors.errors)} configuration error(s); nothing was sent.", file=err)
        return EXIT_CONFIG
    except ApiError as error:
        print(f"API error: {error}", file=err)
        if args.command == "apply":
            print("Changes made before the error stay; run apply again to finish.", file=err)
        return EXIT_API


def _validate(args: argparse.Namespace, sources: Sources, out: TextIO) -> int:
    files = (
        [resolve_environment_file(args.env, args.config_dir)]
        if args.env
        else environment_files(args.config_dir)
    )
    if not files:
        raise ConfigErrors(
            [ConfigError(args.config_dir / "environments", "(directory)", "no environment files")]
        )
    problems: dict[str, ConfigError] = {}
    summary = []
    for file in files:
        try:
            loaded = load(sources, file)
            summary.append(f"{loaded.environment.name} ({len(loaded.desired)} objects)")
        except ConfigErrors as errors:
            problems.update({str(error): error for error in errors.errors})
    if problems:
        raise ConfigErrors(list(problems.values()))
    print(f"Configuration valid for {', '.join(summary)}.", file=out)
    return EXIT_OK


def _render(loaded: Loaded, output: Path | None, out: TextIO) -> int:
    payloads = finalize(loaded.desired, References())  # offline: nothing is looked up
    document: dict[str, Any] = {
        "environment": loaded.environment.name,
        "project": loaded.environment.project,
        "objects": [
            {
                "kind": item.kind.value,
                "id": item.config_id,
                "type": item.kind.message_type.pb().DESCRIPTOR.full_name,
                **({"parent": item.parent} if item.parent else {}),
                **({"pending": list(item.pending)} if item.pending else {}),
                "payload": as_dict(item.message),
            }
            for item in payloads
        ],
    }
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        out.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"Wrote {len(payloads)} payloads to {output}.", file=out)
    return EXIT_OK


def _online(args: argparse.Namespace, loaded: Loaded, out: TextIO) -> int:
    project = loaded.environment.project
    clients = build_clients(args.endpoint)
    try:
        report = lambda line: print(line, file=out, flush=True)  # noqa: E731
        wait = MetricWait(getattr(args, "metric_wait", METRIC_WAIT_SECONDS), report=report)
        api = ProjectApi(clients, project, wait)
        state = read_state(api, loaded.desired)
        try:
            plan = make_plan(loaded.desired, state, args.prune)
        except ConfigError as error:  # e.g. a notification channel that does not exist
            raise ConfigErrors([error]) from None
        print(planning.describe(plan, project), file=out)
        if args.command == "plan":
            return EXIT_CHANGES if args.detailed_exitcode and not plan.empty else EXIT_OK
        if plan.empty:
            return EXIT_OK
        print("", file=out)
        done = apply_plan(api, loaded.desired, state, plan, args.prune, report)
        print(f"Apply complete: {done} change(s) made in {project}.", file=out)
        return EXIT_OK
    finally:
        clients.close()
