"""TUI: the network as a tree — units, layers with shapes and parameter counts, cuts, states.

In: a `Graph`, the `Plan`'s cuts and the selected `PhaseStep`. Out: a textual `Tree`.
Repeated blocks fold as `nndsl show` folds them (`enc2..enc4 ×3`, the same grouping function)
and unfold into their units; a cut is a `── cut C2 ──` row after the layer it follows. Each layer
is coloured and marked by its state in the selected step: ● trainable, ❄ frozen, ↺ re-initialised.
Rebuilding after a reload or a phase step keeps which folds are open and where the cursor is.
A level with more than `CHUNK` entries (a network of thousands of separate layers) is split into
closed chunks (`layer1..layer100 · 100 units`, with its state counts and cuts), and the rows of
a chunk or of a fold of more than CHUNK layers are made when it first opens, so a rebuild stays
fast however large the network.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from nndsl.cli.show import _folds as fold_units
from nndsl.ir import Graph, Unit
from nndsl.layers import format_shape
from nndsl.plan import Plan
from nndsl.tui.panes import STATE_MARKS, STATE_STYLES, PhaseBar
from nndsl.tui.phase_steps import PhaseStep

MIXED = "◐"
CHUNK = 100  # entries per tree level beyond which a level is split into closed chunks


def _chunk_size(entries: int) -> int:
    """How many entries each chunk of a level holds: 1 (no chunks) up to CHUNK entries, else
    the smallest power of CHUNK that leaves at most CHUNK chunks."""
    size = 1
    while -(-entries // size) > CHUNK:
        size *= CHUNK
    return size


class NetworkTree(Tree[str]):
    """The graph tree; each node's data is a stable key (`fold:enc2`, `unit:enc1`, `layer:out`,
    `cut:C1`) so that open folds and the cursor survive a rebuild."""

    def __init__(self, *, id: str | None = None):
        super().__init__("network", id=id)
        self.show_root = True
        self.built = False

    def build(self, graph: Graph, plan: Plan | None, step: PhaseStep | None) -> None:
        """(Re)build the tree for `graph`, colouring layers by their state in `step`.

        Only what is open gets nodes: a fold's units and a chunk's entries are added when it
        is first expanded (by the user, or here to restore what was open), so a rebuild costs
        time in what is shown, not in the size of the network.
        """
        opened = (
            {node.data for node in self._all_nodes() if node.is_expanded} if self.built else None
        )
        cursor = self.cursor_node.data if self.cursor_node is not None else None
        cursor_line, scroll_y = self.cursor_line, self.scroll_y
        self.graph, self.step = graph, step
        self.cut_after: dict[str, list[str]] = {}
        for cut in plan.cuts if plan is not None else ():
            self.cut_after.setdefault(cut.extractor[-1], []).append(cut.name)
        self.name_width = min(22, max(len(node.name) for node in graph.nodes))
        self.pending: dict[str, Callable[[TreeNode[str]], None]] = {}
        self.clear()
        self.root.set_label(
            Text.assemble(
                ("network", "bold"),
                f" — input {format_shape(graph.input_shape)} · "
                f"{graph.parameter_count:,} parameters",
            )
        )
        self.root.data = "root"
        self._add_entries(self.root, fold_units(graph.units, graph), cuts_after_last=True)
        self.root.expand()
        self._open_as_before(self.root, opened)
        self.built = True
        self._restore(cursor, cursor_line, scroll_y)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        """A fold or chunk opened by the user gets its children now."""
        self._fill(event.node)

    def _fill(self, node: TreeNode[str]) -> None:
        fill = self.pending.pop(node.data, None) if node.data is not None else None
        if fill is not None:
            fill(node)

    def _open_as_before(self, node: TreeNode[str], opened: set[str] | None) -> None:
        """Open below `node` what was open before the rebuild (the first time: every unit)."""
        for child in node.children:
            if not child.allow_expand:
                continue
            if (child.data in opened) if opened is not None else child.data.startswith("unit:"):
                self._fill(child)
                child.expand()
                self._open_as_before(child, opened)
            else:
                child.collapse()

    def _lazy(self, parent: TreeNode[str], label: Text, key: str,
              fill: Callable[[TreeNode[str]], None]) -> None:
        """A closed node whose children `fill` adds when it first opens."""
        parent.add(label, data=key, allow_expand=True)
        self.pending[key] = fill

    def _add_entries(self, parent: TreeNode[str], folds: list[list[Unit]],
                     cuts_after_last: bool) -> None:
        """Folds (a lone unit is a fold of one) with the cut rows after each; more than
        `CHUNK` of them are split into chunks of CHUNK (or CHUNK², ...) entries. The cuts
        after the last fold are left to the caller unless `cuts_after_last`."""
        size = _chunk_size(len(folds))
        if size > 1:
            for start in range(0, len(folds), size):
                part, last = folds[start:start + size], start + size >= len(folds)
                key = f"chunk:{size}:{part[0][0].name}..{part[-1][-1].name}"
                self._lazy(parent, self._chunk_label(part), key,
                           lambda node, part=part, last=last: self._add_entries(
                               node, part, cuts_after_last or not last))
            return
        for position, fold in enumerate(folds):
            if len(fold) == 1:
                self._add_unit(parent, fold[0], expand=True)
            else:
                key = f"fold:{fold[0].name}"
                self._lazy(parent, self._fold_label(fold), key,
                           lambda node, fold=fold: self._add_entries(
                               node, [[member] for member in fold], cuts_after_last=False))
                if sum(len(member.nodes) for member in fold) <= CHUNK:
                    self._fill(parent.children[-1])  # small: its rows now, closed
            if cuts_after_last or position < len(folds) - 1:
                self._add_cuts(parent, fold[-1].nodes[-1])

    def _restore(self, cursor: str | None, cursor_line: int, scroll_y: float) -> None:
        def restore() -> None:
            target = next((node for node in self._all_nodes() if node.data == cursor), None)
            if target is not None and target.line >= 0:
                self.cursor_line = target.line
            else:
                self.cursor_line = max(0, min(cursor_line, self.last_line))
            self.scroll_to(y=scroll_y, animate=False)

        self.call_after_refresh(restore)

    def toggle_folds(self) -> None:
        """Open every folded repeat if any is closed, else close them all (those inside closed
        chunks of a large network stay as they are)."""
        folds = [node for node in self._all_nodes() if node.data.startswith("fold:")]
        opening = any(not node.is_expanded for node in folds)
        for node in folds:
            (node.expand if opening else node.collapse)()

    def _all_nodes(self) -> list[TreeNode[str]]:
        nodes, pending = [], [self.root]
        while pending:
            node = pending.pop()
            nodes.append(node)
            pending.extend(node.children)
        return nodes

    def _add_unit(self, parent: TreeNode[str], unit: Unit, expand: bool) -> None:
        if len(unit.nodes) == 1 and unit.block is None:
            self._add_layer(parent, unit.nodes[0])
            return
        unit_node = parent.add(self._unit_label(unit), data=f"unit:{unit.name}", expand=expand)
        for name in unit.nodes:
            self._add_layer(unit_node, name)
            if name != unit.nodes[-1]:
                self._add_cuts(unit_node, name)

    def _add_layer(self, parent: TreeNode[str], name: str) -> None:
        node = self.graph.node(name)
        state = self.step.state(name) if self.step else None
        style = STATE_STYLES[state] if state else ""
        label = Text.assemble(
            (f"{STATE_MARKS[state]} " if state else "", style),
            (f"{name:<{self.name_width}}", style),
            f" {node.type:<9}",
            f" {format_shape(node.output_shape):<11}",
            (f"{node.parameter_count:>10,}", "dim"),
        )
        if state:
            label.append(f"  {state}", style=style)
        parent.add_leaf(label, data=f"layer:{name}")

    def _add_cuts(self, parent: TreeNode[str], layer: str) -> None:
        for cut in self.cut_after.get(layer, []):
            current = self.step is not None and self.step.cut == cut
            label = Text(f"──── cut {cut} ────", style="bold reverse cyan" if current else "cyan")
            if current:
                label.append("  ◀ this phase's cut", style="bold cyan")
            parent.add_leaf(label, data=f"cut:{cut}")

    def _summary(self, units: list[Unit]) -> Text:
        """A state mark per unit (◐ where its layers differ)."""
        text = Text()
        if self.step is None:
            return text
        for unit in units:
            states = {self.step.state(name) for name in unit.nodes}
            state = states.pop() if len(states) == 1 else None
            text.append(
                STATE_MARKS[state] if state else MIXED, style=STATE_STYLES[state] if state else ""
            )
        text.append(" ")
        return text

    def _unit_label(self, unit: Unit) -> Text:
        parameters = sum(self.graph.node(name).parameter_count for name in unit.nodes)
        return Text.assemble(
            self._summary([unit]),
            (unit.name, "bold"),
            f" · {unit.block or 'group'} · ",
            (f"{parameters:,} params", "dim"),
        )

    def _chunk_label(self, part: list[list[Unit]]) -> Text:
        """`● 40 ❄ 60  layer1..layer100 · 100 units · 3,300 params · cuts C1..C100`."""
        units = [unit for fold in part for unit in fold]
        layers = [name for unit in units for name in unit.nodes]
        text = Text()
        if self.step is not None:
            states = Counter(self.step.state(name) for name in layers)
            for state, count in states.items():
                text.append(f"{STATE_MARKS[state]} {count} ", style=STATE_STYLES[state])
            text.append(" ")
        parameters = sum(self.graph.node(name).parameter_count for name in layers)
        text.append(f"{units[0].name}..{units[-1].name}", style="bold")
        text.append(f" · {len(units)} units · ")
        text.append(f"{parameters:,} params", style="dim")
        cuts = [cut for name in layers for cut in self.cut_after.get(name, [])]
        if cuts:
            text.append(f" · cuts {cuts[0]}..{cuts[-1]}" if len(cuts) > 1 else f" · cut {cuts[0]}",
                        style="cyan")
        if self.step is not None and self.step.cut in cuts:
            text.append(f"  ◀ this phase's cut {self.step.cut}", style="bold cyan")
        return text

    def _fold_label(self, fold: list[Unit]) -> Text:
        parameters = sum(self.graph.node(name).parameter_count for name in fold[0].nodes)
        inside = [cut for unit in fold[:-1] for cut in self.cut_after.get(unit.nodes[-1], [])]
        label = Text.assemble(
            self._summary(fold),
            (f"{fold[0].name}..{fold[-1].name} ×{len(fold)}", "bold"),
            f" · {fold[0].block} · ",
            (f"{parameters:,} each", "dim"),
        )
        if inside:
            label.append(
                f" · cut{'s' if len(inside) > 1 else ''} {', '.join(inside)}", style="cyan"
            )
        return label


class GraphPane(Vertical):
    """The phase bar over the network tree, or a note saying why there is no graph."""

    def compose(self) -> ComposeResult:
        yield PhaseBar(id="graph-phase")
        yield Static(id="graph-empty", classes="empty")
        yield NetworkTree(id="graph-tree")

    def show(
        self,
        graph: Graph | None,
        plan: Plan | None,
        steps: list[PhaseStep],
        position: int,
        reason: str | None,
        plan_reason: str | None,
    ) -> None:
        """Draw `graph` for `steps[position]`; the reasons say why graph or plan is missing."""
        tree, empty = self.query_one(NetworkTree), self.query_one("#graph-empty", Static)
        bar = self.query_one(PhaseBar)
        bar.show(steps, position, plan_reason if graph is None else None)
        if graph is not None and plan is None:
            bar.update(Text(f"Layer states need the plan. {plan_reason or ''}", style="italic"))
        tree.display, empty.display = graph is not None, graph is None
        if graph is None:
            empty.update(Text(reason or "no graph", style="italic"))
            return
        tree.build(graph, plan, steps[position] if steps else None)
