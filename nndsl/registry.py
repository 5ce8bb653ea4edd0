"""Registries of named records that plugins extend: layer types and data sources.

In: record classes, registered under a name by a class decorator (`@layer_type("linear")`,
`@data_source("digits")`) or found through an entry-point group on the first lookup that needs
them. Out: one record (the class instantiated once, `name` set to the registered name) per name,
looked up by `get`, listed by `names` and iteration.

Both registries behave alike, since a user meets both in the same spec:

* an unknown name raises `UnknownName` (a KeyError) carrying the close matches for "did you
  mean", every known name, and the plugins that failed to load; `name in registry` asks without
  raising;
* a name is registered once (a second registration is a ValueError unless `replace=True`), and a
  class lacking part of the registry's protocol is refused when it registers;
* built-in modules are imported on first lookup (a built-in name imports its own module only),
  entry points once, when a name is not found among the built-ins; a plugin that fails to load
  is recorded in `plugin_failures` and reported with the unknown name, never raised, so one
  broken plugin does not break every other lookup.

Pure Python: `importlib.metadata` and `difflib` are imported only when needed (start-up time).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

Record = TypeVar("Record")
RecordClass = TypeVar("RecordClass", bound=type)


class UnknownName(KeyError):
    """A name nobody registered.

    Attributes:
        kind: what the registry holds, such as "layer type".
        name: the name that was asked for.
        matches: registered names close to it, best first (for "did you mean").
        known: every registered name, sorted.
        plugin_failures: entry points that failed to load, as "name (target): reason" lines.
    """

    def __init__(self, kind: str, name: str, matches: tuple[str, ...], known: tuple[str, ...],
                 plugin_failures: tuple[str, ...] = ()) -> None:
        super().__init__(name)
        self.kind = kind
        self.name = name
        self.matches = matches
        self.known = known
        self.plugin_failures = plugin_failures

    def __str__(self) -> str:
        # KeyError's own __str__ shows repr(name); a sentence reads better in diagnostics.
        message = f"unknown {self.kind} {self.name!r}"
        if self.matches:
            message += f"; did you mean {' or '.join(repr(match) for match in self.matches)}?"
        else:
            message += f"; known {self.kind.split()[-1]}s: {', '.join(self.known)}"
        for failure in self.plugin_failures:
            message += f"\n(plugin that failed to load: {failure})"
        return message


class Registry(Generic[Record]):
    """Records by name: built-ins, decorator registrations and entry-point plugins.

    Args:
        kind: what the records are, for messages ("layer type", "data source").
        protocol: attributes every registered class must have (checked when it registers).
        builtin_modules: modules imported on first lookup; their decorators register records.
        builtin_names: built-in name -> the one module that registers it, so that looking up a
            built-in imports that module alone.
        entry_point_group: the `importlib.metadata` group searched when a name is not found.
        unknown: the error raised for an unknown name (`UnknownName` or a subclass).
    """

    def __init__(self, kind: str, protocol: tuple[str, ...] = (),
                 builtin_modules: tuple[str, ...] = (),
                 builtin_names: Mapping[str, str] | None = None,
                 entry_point_group: str | None = None,
                 unknown: Callable[..., UnknownName] | None = None) -> None:
        self.kind = kind
        self.plugin_failures: list[str] = []
        self._records: dict[str, Record] = {}
        self._protocol = protocol
        self._builtin_modules = builtin_modules
        self._builtin_names = dict(builtin_names or {})
        self._entry_point_group = entry_point_group
        self._unknown = unknown or (lambda *arguments: UnknownName(kind, *arguments))
        self._discovered = False
        self._discovering = False

    def register(self, name: str, record_class: type, *, replace: bool = False) -> Record:
        """Register `record_class` (instantiated once, without arguments) under `name`.

        Raises:
            ValueError: the name is taken (unless `replace`) or the class lacks part of the
                registry's protocol.
        """
        if name in self._records and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        missing = [attribute for attribute in self._protocol
                   if not hasattr(record_class, attribute)]
        if missing:
            raise ValueError(f"{self.kind} {name!r} lacks {', '.join(missing)}")
        record = record_class()
        record.name = name
        self._records[name] = record
        return record

    def decorator(self, name: str) -> Callable[[RecordClass], RecordClass]:
        """Class decorator registering the class below it under `name`."""

        def decorate(record_class: RecordClass) -> RecordClass:
            self.register(name, record_class)
            return record_class

        return decorate

    def get(self, name: str) -> Record:
        """The record registered under `name`.

        Raises:
            UnknownName: nothing is registered under that name (or its kind's subclass).
        """
        self._find(name)
        try:
            return self._records[name]
        except KeyError:
            import difflib  # only on the error path

            known = self.names()
            matches = tuple(difflib.get_close_matches(name, known, n=3, cutoff=0.6))
            raise self._unknown(name, matches, known, tuple(self.plugin_failures)) from None

    def names(self) -> tuple[str, ...]:
        """Every registered name, sorted (what `nndsl ls` and "did you mean" offer)."""
        self._discover()
        return tuple(sorted(self._records))

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self._find(name)
        return name in self._records

    def __iter__(self) -> Iterator[Record]:
        """The records in name order."""
        return iter([self._records[name] for name in self.names()])

    def _find(self, name: str) -> None:
        """Make `name` registered if any module can register it: its built-in module alone when
        it is a built-in name, else every built-in module and the entry points."""
        if name in self._records:
            return
        module_name = self._builtin_names.get(name)
        if module_name is not None and module_name in self._builtin_modules:
            importlib.import_module(module_name)
        if name not in self._records:
            self._discover()

    def _discover(self) -> None:
        """Import the built-in modules and load the entry points, once."""
        # The guard covers re-entry: a built-in module's decorator runs while we import it.
        if self._discovered or self._discovering:
            return
        self._discovering = True
        try:
            for module_name in self._builtin_modules:
                importlib.import_module(module_name)
            if self._entry_point_group:
                self._load_entry_points(self._entry_point_group)
            self._discovered = True
        finally:
            self._discovering = False

    def _load_entry_points(self, group: str) -> None:
        # Imported here: importlib.metadata costs tens of milliseconds, and specs that use only
        # built-in records never need it (`nndsl validate` start-up time).
        from importlib.metadata import entry_points

        for entry_point in entry_points(group=group):
            try:
                loaded: Any = entry_point.load()
            except Exception as error:  # a broken plugin must not break every other lookup
                self.plugin_failures.append(f"{entry_point.name} ({entry_point.value}): {error}")
                continue
            # An entry point may name a module whose decorators registered its records already,
            # or a record class, which is registered under the entry point's name.
            if isinstance(loaded, type) and entry_point.name not in self._records:
                try:
                    self.register(entry_point.name, loaded)
                except ValueError as error:  # a class lacking part of the protocol
                    failure = f"{entry_point.name} ({entry_point.value}): {error}"
                    self.plugin_failures.append(failure)
