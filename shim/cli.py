"""ecs-shim's command line: `ecs-shim serve` runs the ECS API server under gunicorn;
`ecs-shim registry-gate` the gate in front of the image registry (cluster/up starts it)."""

import argparse
import atexit
import ipaddress
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from flask import Flask
from gunicorn.app.base import BaseApplication

from shim import metrics
from shim.config import DEFAULT_ACCOUNT, DEFAULT_REGION, Config
from shim.memory import QuietCollector
from shim.protocol.worker import EcsThreadWorker
from shim.server import create_registry_gate_app, create_server_app, prepare_cluster
from shim.translate.access import team_access_manifests
from shim.translate.logs import log_destinations
from shim.translate.rehearsal import autoscaler_manifests, rollout_manifests, service_manifests, task_manifests

log = logging.getLogger(__name__)

SWITCH_INTERVAL_SECONDS = 0.0005
"""How long a worker thread may keep the GIL while another waits for it (Python's default is
5 ms). Requests spend most of their time waiting on the API server; a thread whose answer has
arrived should not wait that long behind one that is computing."""


class GunicornServer(BaseApplication):
    """gunicorn with the app built in each worker after the fork, so that every worker has its
    own API connections and watch-backed caches."""

    def __init__(self, create: Callable[[], Flask], options: dict[str, Any]) -> None:
        self.create = create
        self.options = {
            **options,
            "pre_request": self.request_started,
            "post_request": self.request_finished,
            "child_exit": lambda server, worker: metrics.worker_exited(worker.pid),
        }
        self.collector = QuietCollector()
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        self.collector.start()
        return self.create()

    def request_started(self, worker: Any, request: Any) -> None:
        self.collector.request_started()

    def request_finished(self, worker: Any, request: Any, environ: Any, response: Any) -> None:
        self.collector.request_finished()


def serve(args: argparse.Namespace) -> None:
    if args.credentials is None and not is_loopback(args.host):
        log.warning(OPEN_TO_THE_NETWORK, args.host)
    config = Config(
        region=args.region,
        account=args.account,
        kubeconfig=args.kubeconfig,
        credentials_file=args.credentials,
        registry_file=args.registry,
    )
    metrics_directory()  # first: prometheus_client picks its mode when first used (metrics.py)
    prepare_cluster(config)
    options = {
        "bind": f"{args.host}:{args.port}",
        "workers": args.workers,
        "worker_class": EcsThreadWorker,
        "threads": args.threads,
        "timeout": 120,
        "graceful_timeout": 5,
        # A request line or header field is a few hundred bytes in any ECS call (a SigV4
        # Authorization header the longest); bodies are bounded by the app (MAX_BODY_BYTES).
        "limit_request_line": 4094,
        "limit_request_fields": 50,
        "limit_request_field_size": 8190,
        # Nothing controls the server through gunicorn's control socket; left on, every server
        # on a host would share one path and the first to stop would remove it under the others.
        "control_socket_disable": True,
        "accesslog": None,
        "loglevel": "info",
    }
    GunicornServer(partial(create_server_app, config), options).run()


def metrics_directory() -> None:
    """Where every worker keeps its metrics, read by whichever worker answers /metrics
    (metrics.py): PROMETHEUS_MULTIPROC_DIR emptied, or a directory of this server's own,
    removed when it stops."""
    given = os.environ.get(metrics.MULTIPROCESS_DIR)
    if given:
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return
    directory = tempfile.mkdtemp(prefix="ecs-shim-metrics-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    os.environ[metrics.MULTIPROCESS_DIR] = directory


def registry_gate(args: argparse.Namespace) -> None:
    config = Config(account=args.account, kubeconfig=args.kubeconfig, registry_file=args.upstream)
    options = {
        "bind": args.listen,
        "workers": 1,  # its per-repository locks order the pushes of a tag within this one process
        "worker_class": "gthread",
        "threads": args.threads,
        # A layer may take minutes to upload on a slow link.
        "timeout": 600,
        "graceful_timeout": 5,
        "certfile": args.certfile,
        "keyfile": args.keyfile,
        "control_socket_disable": True,
        "accesslog": None,
        "loglevel": "info",
    }
    GunicornServer(partial(create_registry_gate_app, config), options).run()


OPEN_TO_THE_NETWORK = """
**********************************************************************************************
WARNING: ecs-shim listens on %s without a credentials file: anyone who reaches this address
can run, stop and delete anything, with this server's Kubernetes permissions. Give it
--credentials (keys mapped to Kubernetes users: see the README's "Access keys and teams"), or
bind to 127.0.0.1.
**********************************************************************************************"""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def team_access(args: argparse.Namespace) -> None:
    print(
        yaml.safe_dump_all(team_access_manifests(args.team, args.cluster, args.execute_command), sort_keys=False),
        end="",
    )


def translate(args: argparse.Namespace) -> None:
    register_input = json.loads(Path(args.task_definition).read_text())
    where = {"cluster_name": args.cluster, "region": args.region, "account": args.account}
    stages: list[tuple[str, list[Any]]] = []
    if args.service:
        service_input = json.loads(Path(args.service).read_text())
        manifests = service_manifests(register_input, service_input, **where)
        stages = rollout_manifests(register_input, service_input, **where)
        if args.scalable_target:
            target_input = json.loads(Path(args.scalable_target).read_text())
            policy_inputs = [json.loads(Path(policy).read_text()) for policy in args.scaling_policy]
            manifests += autoscaler_manifests(register_input, service_input, target_input, policy_inputs, **where)
    else:
        manifests = task_manifests(register_input, **where)
    for destination in log_destinations(register_input):
        print(f"# {destination}")
    print(yaml.safe_dump_all(manifests, sort_keys=False), end="")
    for stage, changed in stages:
        print(f"---\n# During a deployment, {stage}:")
        print(yaml.safe_dump_all(changed, sort_keys=False), end="")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="ecs-shim", description="The AWS ECS API, served on Kubernetes.")
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the ECS API server")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8080)
    run.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="default: $KUBECONFIG, ~/.kube/config, else the in-cluster configuration",
    )
    run.add_argument("--region", default=os.environ.get("ECS_SHIM_REGION", DEFAULT_REGION))
    run.add_argument("--account", default=os.environ.get("ECS_SHIM_ACCOUNT", DEFAULT_ACCOUNT))
    run.add_argument(
        "--credentials",
        default=os.environ.get("ECS_SHIM_CREDENTIALS"),
        help="an AWS credentials file; when given, every request must be SigV4-signed by one of its keys",
    )
    run.add_argument(
        "--registry",
        metavar="FILE",
        default=os.environ.get("ECS_SHIM_REGISTRY"),
        help="the image registry behind the ECR API (JSON: endpoint, ca, username, password; the local cluster's "
        "is .cluster/registry/shim.json); without it ECR is not served",
    )
    run.add_argument("--workers", type=int, default=int(os.environ.get("ECS_SHIM_WORKERS", "2")))
    run.add_argument("--threads", type=int, default=int(os.environ.get("ECS_SHIM_THREADS", "8")))
    run.set_defaults(action=serve)
    rehearse = commands.add_parser(
        "translate", help="print the Kubernetes manifests ECS definitions become (no server, no cluster)"
    )
    rehearse.add_argument(
        "--task-definition",
        required=True,
        metavar="FILE",
        help="a RegisterTaskDefinition input, as for `aws ecs register-task-definition --cli-input-json`",
    )
    rehearse.add_argument("--service", metavar="FILE", help="a CreateService input: print the service's manifests")
    rehearse.add_argument(
        "--scalable-target",
        metavar="FILE",
        help="with --service, a RegisterScalableTarget input: print the service's HorizontalPodAutoscaler",
    )
    rehearse.add_argument(
        "--scaling-policy",
        metavar="FILE",
        action="append",
        default=[],
        help="with --scalable-target, a PutScalingPolicy input (repeatable)",
    )
    rehearse.add_argument("--cluster", default="default")
    rehearse.add_argument("--region", default=DEFAULT_REGION)
    rehearse.add_argument("--account", default=DEFAULT_ACCOUNT)
    rehearse.set_defaults(action=translate)
    gate = commands.add_parser(
        "registry-gate",
        help="stand in front of the image registry and refuse the pushes ECR refuses (cluster/up runs it)",
    )
    gate.add_argument("--listen", default="127.0.0.1:5000", help="host:port OCI clients push to and pull from")
    gate.add_argument(
        "--upstream", required=True, metavar="FILE", help="the registry behind the gate (JSON, as for serve --registry)"
    )
    gate.add_argument("--certfile", required=True, help="the gate's TLS certificate")
    gate.add_argument("--keyfile", required=True)
    gate.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    gate.add_argument("--account", default=os.environ.get("ECS_SHIM_ACCOUNT", DEFAULT_ACCOUNT))
    gate.add_argument("--threads", type=int, default=16)
    gate.set_defaults(action=registry_gate)
    access = commands.add_parser(
        "team-access", help="print RBAC that confines a team's keys (a Kubernetes group) to its ECS clusters"
    )
    access.add_argument("--team", required=True, help="the Kubernetes group the team's keys map to")
    access.add_argument("--cluster", required=True, action="append", help="an ECS cluster of the team (repeatable)")
    access.add_argument(
        "--execute-command",
        action="store_true",
        help="also let the team open ECS Exec sessions (aws ecs execute-command) in its tasks",
    )
    access.set_defaults(action=team_access)
    return root


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parser().parse_args(argv)
    args.action(args)
