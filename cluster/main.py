"""`shoal-node`: the composition root. Builds a node from its configuration and runs it; in cluster mode
(`cluster-enabled yes`) it will also start the cluster bus and plug the router into the node."""
from __future__ import annotations

import logging
import os
import sys
import time

import trio

import shoal.cluster.commands  # noqa: F401  (CLUSTER: answers "cluster support disabled" when standalone)
import shoal.cluster.migration  # noqa: F401  (MIGRATE, RESTORE-ASKING: in standalone mode too, as Redis)
import shoal.cluster.routing_cmds  # noqa: F401  (ASKING, READONLY, READWRITE)
from shoal.cluster.bootstrap import build_cluster, start_bus
from shoal.node.config import Config, ConfigError
from shoal.node.persistence import install as install_persistence
from shoal.node.replication import install as install_replication
from shoal.node.server import Server, install_signal_handlers
from shoal.node.state import NodeState

USAGE = """Usage: shoal-node [/path/to/redis.conf] [--option value ...]
       shoal-node --port 7000
       shoal-node /etc/shoal/node.conf --loglevel verbose
Options are redis.conf directives (see README.md)."""


class RedisStyleFormatter(logging.Formatter):
    """`pid:M 24 Nov 2026 21:06:34.123 * message`, as Redis logs."""

    MARKS = {logging.DEBUG: ".", logging.INFO: "*", logging.WARNING: "#", logging.ERROR: "#",
             logging.CRITICAL: "#"}

    def format(self, record):
        t = time.localtime(record.created)
        ms = int(record.msecs)
        stamp = time.strftime("%d %b %Y %H:%M:%S", t) + f".{ms:03d}"
        msg = record.getMessage()
        if record.exc_info:
            msg += "\n" + self.formatException(record.exc_info)
        return f"{os.getpid()}:M {stamp} {self.MARKS.get(record.levelno, '*')} {msg}"


_LEVELS = {"debug": logging.DEBUG, "verbose": logging.INFO, "notice": logging.INFO, "warning": logging.WARNING,
           "nothing": logging.CRITICAL + 1}


def setup_logging(config: Config) -> None:
    logfile = config["logfile"]
    handler = logging.FileHandler(logfile) if logfile else logging.StreamHandler(sys.stdout)
    handler.setFormatter(RedisStyleFormatter())
    root = logging.getLogger("shoal")
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS.get(config["loglevel"], logging.INFO))
    root.propagate = False
    config.on_change("loglevel", lambda v, old: root.setLevel(_LEVELS.get(v, logging.INFO)))


def parse_args(argv: list[str]) -> Config:
    config = Config()
    args = list(argv)
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        raise SystemExit(0)
    if args and args[0] in ("-v", "--version"):
        print("shoal-node v=0.1.0 (redis_version:7.0.15 compatible)")
        raise SystemExit(0)
    if args and not args[0].startswith("--"):
        config.load_file(args.pop(0))
    config.load_args(args)
    return config


async def run_node(config: Config) -> None:
    state = NodeState(config)
    server = Server(state)
    server.bind()
    install_signal_handlers(server)
    log = logging.getLogger("shoal.node")
    log.info("Shoal node starting, pid=%d, port=%d", os.getpid(), server.port)
    cluster = build_cluster(state, server.port) if config["cluster-enabled"] else None
    persistence = install_persistence(state, server)
    replication = install_replication(state, server)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(persistence.load_and_attach)  # clients get -LOADING until the dataset is in
        nursery.start_soon(replication.run)  # the link to a primary (replicaof, REPLICAOF) lives there
        if cluster is not None:
            await nursery.start(start_bus(cluster, state).run)
        await server.serve()
        nursery.cancel_scope.cancel()
    log.warning("Shoal node is now ready to exit, bye bye...")


def main(argv: list[str] | None = None) -> int:
    try:
        config = parse_args(sys.argv[1:] if argv is None else argv)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 1
    setup_logging(config)
    try:
        trio.run(run_node, config)
    except OSError as e:
        logging.getLogger("shoal.node").critical("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
