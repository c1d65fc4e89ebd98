"""Rule packs and payer registries that other Python distributions install (entry points).

A distribution declares, in its ``pyproject.toml``::

    [project.entry-points."scrubber.packs"]
    example = "scrubber_example_pack"            # a package whose folder holds pack.yaml

    [project.entry-points."scrubber.payers"]
    example = "scrubber_example_pack:registry"   # a function returning the registry file's path

An entry point may resolve to a module (its folder is the pack, or holds ``registry.yaml``), a
function returning a path, or a path. Plugins are found with ``importlib.metadata`` once per
process and load as ordinary packs and registry layers: ``scrubber rules`` names the distribution,
and ``--disable`` works on their edits as on built-in ones.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

PACKS = "scrubber.packs"
PAYERS = "scrubber.payers"
BUILT_IN = "built-in"


class PluginError(Exception):
    """A plugin cannot be loaded; the message names the distribution and the entry point."""


@dataclass(frozen=True, slots=True)
class Plugin:
    """One entry point resolved to a path on disk, with the distribution it comes from."""

    name: str  # the entry point's name
    distribution: str  # "name version"
    path: Path

    @property
    def origin(self) -> str:
        return f"plugin {self.distribution}"


def packs() -> tuple[Plugin, ...]:
    """Folders of installed rule packs (each holds pack.yaml)."""
    return _found(PACKS)


def registries() -> tuple[Plugin, ...]:
    """Installed payer registry files."""
    return _found(PAYERS)


@cache
def _found(group: str) -> tuple[Plugin, ...]:
    found = []
    for ep in metadata.entry_points(group=group):
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "unknown distribution"
        where = f"plugin {dist}, entry point {ep.name!r} in {group}"
        try:
            target = ep.load()
        except Exception as exc:  # a broken third-party package must not crash with a traceback
            raise PluginError(f"{where}: cannot be imported ({_said(exc)})") from None
        found.append(Plugin(ep.name, dist, _path(target, group, where)))
    # Entry points come in sys.path order; sort so every process layers them the same way.
    return tuple(sorted(found, key=lambda p: (p.distribution, p.name)))


def _path(target: Any, group: str, where: str) -> Path:
    if isinstance(target, types.ModuleType):
        if not getattr(target, "__file__", None):
            raise PluginError(f"{where}: module {target.__name__} has no folder")
        folder = Path(target.__file__).resolve().parent
        path = folder if group == PACKS else folder / "registry.yaml"
    elif callable(target):
        try:
            path = Path(target())
        except Exception as exc:
            raise PluginError(f"{where}: the function failed ({_said(exc)})") from None
    elif isinstance(target, (str, Path)):
        path = Path(target)
    else:
        raise PluginError(f"{where}: expected a module, a function or a path, not {type(target).__name__}")
    wanted = path / "pack.yaml" if group == PACKS else path
    if not wanted.is_file():
        raise PluginError(f"{where}: {wanted} does not exist")
    return path


def _said(exc: Exception) -> str:
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
