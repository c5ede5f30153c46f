"""Error replies a command raises, with Redis's exact texts.

A command function raises `CommandError(text)` with the whole text, error code included (`ERR ...`,
`WRONGTYPE ...`); the dispatcher turns it into `-text\\r\\n`.
"""


class CommandError(Exception):
    def __init__(self, msg: str):
        super().__init__(msg)
        self.msg = msg


WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
SYNTAX = "ERR syntax error"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
OVERFLOW = "ERR increment or decrement would overflow"
NO_SUCH_KEY = "ERR no such key"
OUT_OF_RANGE = "ERR index out of range"
TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
INVALID_EXPIRE = "ERR invalid expire time in '%s' command"
STRING_TOO_BIG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
DB_INDEX = "ERR DB index is out of range"
OOM = "OOM command not allowed when used memory > 'maxmemory'."
