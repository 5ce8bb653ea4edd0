"""TUI: the network as a tree — units, layers with shapes and parameter counts, cuts, states.

In: a `Graph`, the `Plan`'s cuts and the selected `PhaseStep`. Out: a textual `Tree`.
Repeated blocks fold as `nndsl show` folds them (`enc2..enc4 ×3`, the same grouping function)
and unfold into their units; a cut is a `── cut C2 ──` row after the layer it follows. Each layer
is coloured and marked by its state in the selected step: ● trainable, ❄ frozen, ↺ re-initialised.
Rebuilding after a reload or a phase step keeps which folds are open and where the cursor is.
"""

from __future__ import annotations

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


class NetworkTree(Tree[str]):
    """The graph tree; each node's data is a stable key (`fold:enc2`, `unit:enc1`, `layer:out`,
    `cut:C1`) so that open folds and the cursor survive a rebuild."""

    def __init__(self, *, id: str | None = None):
        super().__init__("network", id=id)
        self.show_root = True
        self.built = False

    def build(self, graph: Graph, plan: Plan | None, step: PhaseStep | None) -> None:
        """(Re)build the tree for `graph`, colouring layers by their state in `step`."""
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
        self.clear()
        self.root.set_label(
            Text.assemble(
                ("network", "bold"),
                f" — input {format_shape(graph.input_shape)} · "
                f"{graph.parameter_count:,} parameters",
            )
        )
        self.root.data = "root"
        for fold in fold_units(graph.units, graph):
            if len(fold) == 1:
                self._add_unit(self.root, fold[0], expand=True)
                self._add_cuts(self.root, fold[0].nodes[-1])
                continue
            fold_node = self.root.add(self._fold_label(fold), data=f"fold:{fold[0].name}")
            for member in fold:
                self._add_unit(fold_node, member, expand=True)
                if member is not fold[-1]:
                    self._add_cuts(fold_node, member.nodes[-1])
            self._add_cuts(self.root, fold[-1].nodes[-1])
        self.root.expand()
        for node in self._all_nodes():
            if node.allow_expand and opened is not None:
                (node.expand if node.data in opened else node.collapse)()
            elif node.allow_expand and node.data.startswith("unit:"):
                node.expand()
        self.built = True
        self._restore(cursor, cursor_line, scroll_y)

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
        """Open every folded repeat if any is closed, else close them all."""
        folds = [node for node in self.root.children if node.data.startswith("fold:")]
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
