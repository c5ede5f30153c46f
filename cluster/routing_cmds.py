"""ASKING, READONLY, READWRITE: the connection flags routing reads (cluster/routing.py).

Registered whenever this module is imported, cluster mode or not: a node without cluster support answers them
with Redis's error, as Redis does (checked against redis-server 7.0.15 with and without cluster-enabled).
"""
from __future__ import annotations

from shoal.node.commands.registry import command
from shoal.node.errors import CommandError
from shoal.node.resp import OK

CLUSTER_DISABLED = "ERR This instance has cluster support disabled"


def _require_cluster(c) -> None:
    if not c.state.config["cluster-enabled"]:
        raise CommandError(CLUSTER_DISABLED)


@command("asking")
def asking(c, argv):
    """The next command may touch a slot this node is IMPORTING (after an -ASK redirection)."""
    _require_cluster(c)
    # run from inside EXEC (queued in the MULTI) it changes nothing: the EXEC was routed already, and Redis clears
    # the flag after the EXEC
    if not c.in_multi:
        c.asking = True
    return OK


@command("readonly")
def readonly(c, argv):
    """Reads on a replica are served from it instead of redirected to its primary."""
    _require_cluster(c)
    c.readonly = True
    return OK


@command("readwrite")
def readwrite(c, argv):
    _require_cluster(c)
    c.readonly = False
    return OK
