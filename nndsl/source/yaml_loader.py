"""Source stage: YAML text -> located `Node` tree, safely.

Only YAML's plain data types are accepted: any tag that would construct a Python object (or any
custom tag) is refused, booleans are `true`/`false` only (YAML 1.1's `yes`/`on` stay strings),
timestamps stay strings, duplicate keys are errors, and alias expansion is bounded so a "billion
laughs" file fails fast instead of eating memory.
"""

from __future__ import annotations

import re

import yaml
from yaml.nodes import MappingNode as YamlMapping
from yaml.nodes import ScalarNode as YamlScalar
from yaml.nodes import SequenceNode as YamlSequence

from nndsl.diagnostics import DiagnosticList, Span
from nndsl.source.document import MappingNode, Node, ScalarNode, SequenceNode

#: Most nodes a document may expand to (aliases counted every time they are used).
MAX_EXPANDED_NODES = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"
_INVALID = object()  # a scalar whose explicit tag does not fit its text
_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


class _SpecResolver(yaml.resolver.Resolver):
    """YAML 1.2-like implicit typing: no timestamps, no yes/no/on/off booleans."""


_SpecResolver.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
    ]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_SpecResolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
# YAML 1.1 needs a dot in a float, so `lr: 1e-3` would be the string "1e-3"; YAML 1.2 (and
# every user) reads it as a number. Added after the default float resolver, so both apply.
_SpecResolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


class _PureSpecLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    yaml.constructor.SafeConstructor,
    _SpecResolver,
):
    def __init__(self, stream: str):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        _SpecResolver.__init__(self)


try:
    from yaml._yaml import CParser
except ImportError:  # PyYAML built without libyaml
    CParser = None

_SpecLoader: type = _PureSpecLoader
if CParser is not None:

    class _LibyamlSpecLoader(CParser, yaml.constructor.SafeConstructor, _SpecResolver):
        """libyaml scans, parses and composes the same nodes, with the same marks, several times
        faster than PyYAML's Python reader/scanner/parser (a share of `nndsl validate`'s time);
        typing and construction stay ours."""

        def __init__(self, stream: str):
            CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            _SpecResolver.__init__(self)

    _SpecLoader = _LibyamlSpecLoader


def parse_yaml(text: str, file: str, origin: str, diagnostics: DiagnosticList) -> Node | None:
    """Parse YAML text into a located node tree.

    Args:
        text: the YAML source.
        file: the file name used in spans.
        origin: provenance recorded in every span ("spec", "std:blocks/x", "--set", ...).
        diagnostics: problems are appended here (E101-E109).

    Returns:
        The root node, or None when the text is empty or unusable.
    """
    # Checked here rather than by the parser: PyYAML's and libyaml's readers place the error
    # differently; this names the character where it stands.
    forbidden = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if forbidden is not None:
        line, column = _line_column(text, forbidden.start())
        diagnostics.add("E101", f"YAML syntax error: character {ord(forbidden.group()):#06x} is "
                        f"not allowed in YAML text", _span_at(file, origin, line, column),
                        "remove the control character")
        return None
    loader = _SpecLoader(text)
    try:
        documents = []
        while loader.check_node():
            documents.append(loader.get_node())
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        span = (_span_at(file, origin, *_within_text(text, mark.line + 1, mark.column + 1))
                if mark else None)
        problem = error.problem or error.context or "invalid YAML"
        context = error.context_mark
        if error.problem and error.context and context is not None and context is not mark:
            # PyYAML reports where it gave up; where the broken construct began is often the clue.
            problem += f" ({error.context} that starts at line {context.line + 1}, " \
                f"column {context.column + 1})"
        diagnostics.add("E101", f"YAML syntax error: {problem}", span,
                        "check indentation, colons and quotes around this place")
        return None
    except yaml.YAMLError as error:
        diagnostics.add("E101", f"YAML syntax error: {error}", _span_at(file, origin, 1, 1))
        return None
    finally:
        if "loader" in locals():
            loader.dispose()
    if not documents:
        diagnostics.add("E104", "the file is empty", _span_at(file, origin, 1, 1),
                        "a spec starts with `nndsl: 1`; see `nndsl ls` for examples")
        return None
    if len(documents) > 1:
        second = documents[1]
        diagnostics.add("E108", "the file holds more than one YAML document",
                        _node_span(second, file, origin), "keep one document per spec file (remove "
                                                          "`---`)")
        return None
    if _expanded_size(documents[0], {}) > MAX_EXPANDED_NODES:
        diagnostics.add("E106", f"the document expands to more than {MAX_EXPANDED_NODES} values "
                        "through aliases", _span_at(file, origin, 1, 1),
                        "aliases (`*name`) that refer to each other multiply; write the values out")
        return None
    return _Converter(loader, file, origin, diagnostics).convert(documents[0])


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values `node` becomes once aliases are expanded, memoised per shared node.

    Aliases make PyYAML reuse one node object, so the memo keeps this linear in the text size
    even for a "billion laughs" document whose expansion is exponential.
    """
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = MAX_EXPANDED_NODES + 1  # in progress: an alias to itself is infinite
    if isinstance(node, YamlSequence):
        size = 1 + sum(_expanded_size(item, sizes) for item in node.value)
    elif isinstance(node, YamlMapping):
        size = 1 + sum(_expanded_size(key, sizes) + _expanded_size(value, sizes)
                       for key, value in node.value)
    else:
        size = 1
    sizes[id(node)] = min(size, MAX_EXPANDED_NODES + 1)
    return sizes[id(node)]


class _Converter:
    """Walks PyYAML's node graph, checking tags, keys and size while building `Node`s."""

    def __init__(self, loader: _SpecLoader, file: str, origin: str, diagnostics: DiagnosticList):
        self.loader = loader
        self.file = file
        self.origin = origin
        self.diagnostics = diagnostics

    def convert(self, node: yaml.Node) -> Node:
        span = _node_span(node, self.file, self.origin)
        if node.tag not in _PLAIN_TAGS:
            self._refuse_tag(node.tag, span)
            return ScalarNode(None, span)
        if isinstance(node, YamlScalar):
            value = self._construct(node, span)
            return ScalarNode(None if value is _INVALID else value, span)
        if isinstance(node, YamlSequence):
            return SequenceNode(tuple(self.convert(item) for item in node.value), span)
        assert isinstance(node, YamlMapping)
        own_keys = {id(key_node) for key_node, _ in node.value if key_node.tag != _MERGE_TAG}
        try:
            # applies `<<:` merge keys: merged pairs first, own last
            self.loader.flatten_mapping(node)
        except yaml.constructor.ConstructorError as error:  # `<<: 3`: nothing to merge
            mark = error.problem_mark
            where = (_span_at(self.file, self.origin, mark.line + 1, mark.column + 1) if mark
                     else span)
            self.diagnostics.add("E303", "a merge key `<<` takes a mapping or a list of mappings "
                                 "(`<<: *anchor`)", where, "refer to an anchored mapping")
            node.value = [(key, value) for key, value in node.value if key.tag != _MERGE_TAG]
        entries: dict[str, Node] = {}
        key_spans: dict[str, Span] = {}
        written: set[str] = set()  # keys written in this mapping itself (not merged in)
        for key_node, value_node in node.value:
            key_span = _node_span(key_node, self.file, self.origin)
            key = self._key(key_node, key_span)
            if key is None:
                continue
            own = id(key_node) in own_keys
            if own and key in written:
                first = key_spans[key]
                self.diagnostics.add("E102", f"duplicate key `{key}` (first at line {first.line})",
                                     key_span, "remove one of the two; YAML would silently keep "
                                               "the last")
                continue
            # A written key overrides a merged one, and later merged pairs override earlier ones
            # (flatten_mapping orders them so), as YAML's merge-key rules say.
            entries[key] = self.convert(value_node)
            key_spans[key] = key_span
            if own:
                written.add(key)
        return MappingNode(entries, span, key_spans)

    def _construct(self, node: YamlScalar, span: Span) -> object:
        """The scalar's value; `_INVALID` with E303 when an explicit tag does not fit it
        (`!!int sgd`)."""
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, KeyError, IndexError, TypeError, yaml.YAMLError):
            self.diagnostics.add("E303", f"`{node.value}` is not a valid `{_tag_text(node.tag)}`",
                                 span, "remove the tag, or write a value of that type")
            return _INVALID

    def _refuse_tag(self, tag: str, span: Span) -> None:
        self.diagnostics.add("E105", f"YAML tag `{_tag_text(tag)}` is not allowed in a spec", span,
                             "specs hold plain data only; remove the tag")

    def _key(self, key_node: yaml.Node, key_span: Span) -> str | None:
        """The key as a string, or None with E105 (a refused tag) or E109 (not a string)."""
        if key_node.tag not in _PLAIN_TAGS:
            self._refuse_tag(key_node.tag, key_span)
            return None
        if not isinstance(key_node, YamlScalar):
            kind = "a list" if isinstance(key_node, YamlSequence) else "a mapping"
            self.diagnostics.add("E109", f"a mapping key must be a string, not {kind}", key_span,
                                 "keys are names such as `units`; quote the key")
            return None
        key = self._construct(key_node, key_span)
        if key is _INVALID:
            return None
        if not isinstance(key, str):
            self.diagnostics.add("E109", f"mapping key {key!r} is not a string", key_span,
                                 "quote the key")
            return None
        return key


def _node_span(node: yaml.Node, file: str, origin: str) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(file, start.line + 1, start.column + 1, end.line + 1, end.column + 1, origin)


def _tag_text(tag: str) -> str:
    """A tag as written in YAML: `!!python/name:x`, not `tag:yaml.org,2002:python/name:x`."""
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag.removeprefix(prefix) if tag.startswith(prefix) else tag


def _line_column(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def _within_text(text: str, line: int, column: int) -> tuple[int, int]:
    """The place itself, or the end of the last line when a parser reports the end of the input
    as the start of a line after it (libyaml does), so the code frame has a line to show."""
    lines = text.splitlines()
    if line > len(lines) and lines:
        return len(lines), len(lines[-1]) + 1
    return line, column


def _span_at(file: str, origin: str, line: int, column: int) -> Span:
    return Span(file, line, column, line, column + 1, origin)
