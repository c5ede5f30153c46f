"""Fixtures shared by the node tests (defined in tests/node/helpers.py): `raw` (a raw RESP connection to the
module's node), `node` (an in-process node recording events and propagation), `srv` (runs a test against both
shoal-node and redis-server)."""
from tests.node.helpers import node, raw, srv  # noqa: F401
