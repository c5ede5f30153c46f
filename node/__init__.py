"""shoal.node: a standalone Redis-compatible server.

Importing the package registers every command first: command modules import the dispatcher (for `call`), and
the dispatcher imports the command table, so loading the commands before anything else keeps that cycle in an
order that works whichever module a caller imports first."""
from . import commands  # noqa: F401
