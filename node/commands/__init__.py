"""Command groups. Importing this package registers every command in `registry.TABLE`."""
import importlib
import pkgutil

_SKIP = {"registry"}

for _m in pkgutil.iter_modules(__path__):
    if _m.name not in _SKIP and not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")
