"""Connection commands: PING ECHO QUIT SELECT."""
from __future__ import annotations

from ..errors import CommandError
from ..resp import OK, PONG, Push
from .registry import command


@command("ping")
def ping(c, argv):
    if len(argv) > 2:
        raise CommandError("ERR wrong number of arguments for 'ping' command")
    if c.proto == 2 and c.in_pubsub_context():
        return [b"pong", argv[1] if len(argv) == 2 else b""]
    return argv[1] if len(argv) == 2 else PONG


@command("echo")
def echo(c, argv):
    return argv[1]


@command("quit")
def quit_(c, argv):
    c.close_after_reply = True
    return OK
