"""Organizer YAML read with bounds, so that a hostile or mistaken file cannot hang the generator.

PyYAML's ``SafeLoader`` is safe against code execution but not against size: an alias is
composed as a *shared* node (``yaml.composer.Composer.compose_node`` returns
``self.anchors[anchor]``), so a "billion laughs" file of a few hundred bytes loads quickly into a
small graph of shared lists, and the blow-up comes later, when anything walks it as a tree
(hashing a model's settings, ``json.dumps``, ``repr``). A merge key ``<<`` is worse: the
constructor's ``SafeConstructor.flatten_mapping`` copies the merged pairs into the node itself.
Nesting is bounded too: the composer recurses once per level (``compose_node`` ->
``compose_sequence_node`` -> ``compose_node``), so a few hundred ``[`` hit Python's recursion
limit with a ``RecursionError`` that is not a ``YAMLError``.

:func:`load_bounded` therefore composes the document, measures it with every alias expanded
(without expanding it) and constructs Python objects only from a document that fits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode

# A preset is a few kilobytes (presets/mico.yaml: 3.5 KB, 306 values, 7 levels deep; demo.yaml:
# 4.2 KB, 348 values). These bounds are far beyond any real preset and far below what hurts.
MAX_BYTES = 1024 * 1024
MAX_VALUES = 100_000  # keys, values and list items, every alias expanded
MAX_DEPTH = 32


class BoundedYAMLError(ValueError):
    """A YAML file is too large, too deep, or expands beyond the bounds; the text is one line."""


def _where(path: Path, node_or_event: Any) -> str:
    mark = getattr(node_or_event, "start_mark", None)
    return f"{path}: line {mark.line + 1}" if mark is not None else str(path)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer stops at ``MAX_DEPTH`` levels and ``MAX_VALUES`` nodes.

    Both are checked as each node is composed, before recursing deeper or reading further, so a
    deep or long file costs no more than the bound (pure-Python PyYAML composes about 10,000
    values a second here).
    """

    def __init__(self, stream: str, path: Path) -> None:
        super().__init__(stream)
        self._path = path
        self._depth = 0
        self._composed = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise BoundedYAMLError(
                    f"{_where(self._path, self.peek_event())}: YAML nested more than "
                    f"{MAX_DEPTH} levels deep (a preset needs fewer than 10)"
                )
            if not self.check_event(AliasEvent):
                self._composed += 1
                if self._composed > MAX_VALUES:
                    raise BoundedYAMLError(
                        f"{_where(self._path, self.peek_event())}: more than {MAX_VALUES:,} YAML "
                        "values (a preset needs a few hundred)"
                    )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_expansion(root: Node, path: Path) -> tuple[int, int]:
    """Values and depth of the document with aliases expanded, computed on the shared graph.

    An iterative depth-first walk that sizes each distinct node once, so a billion laughs costs
    as many steps as it has lines; a node met again while it is still being sized is an alias to
    one of its own ancestors (``&a [*a]``), a structure without end, and is refused.
    """
    sizes: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            children = [sizes[id(child)] for child in _children(node)]
            values = 1 + sum(count for count, _ in children)
            depth = 1 + max((d for _, d in children), default=0)
            if values > MAX_VALUES:
                raise BoundedYAMLError(
                    f"{_where(path, node)}: YAML aliases expand this to more than "
                    f"{MAX_VALUES:,} values (an alias bomb?); a preset needs a few hundred"
                )
            if depth > MAX_DEPTH:
                raise BoundedYAMLError(
                    f"{_where(path, node)}: YAML aliases nest this more than {MAX_DEPTH} levels "
                    "deep (a preset needs fewer than 10)"
                )
            sizes[key] = (values, depth)
            open_nodes.discard(key)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise BoundedYAMLError(
                f"{_where(path, node)}: a YAML alias refers to a value that contains it "
                "(a recursive structure)"
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))
    return sizes[id(root)]


def load_bounded(path: Path) -> Any:
    """Parse one YAML document from ``path`` within the bounds above.

    Raises :class:`BoundedYAMLError` for a file beyond the bounds, ``yaml.YAMLError`` for
    malformed YAML, ``ValueError`` for a scalar Python cannot represent (an integer of more than
    4,300 digits: ``sys.get_int_max_str_digits``), ``OSError`` and ``UnicodeDecodeError`` for an
    unreadable file. Every message is one line or its first line is the one that matters.
    """
    with path.open("rb") as stream:
        data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise BoundedYAMLError(f"{path}: larger than {MAX_BYTES:,} bytes, too large for a preset")
    text = data.decode("utf-8")
    loader = _BoundedLoader(text, path)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        check_expansion(root, path)
        return loader.construct_document(root)
    finally:
        loader.dispose()
