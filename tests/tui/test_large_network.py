"""`nndsl tui` on a network of 2000 separate layers with a cut after each and a top-down search:
the graph tree makes rows only for what is open (closed chunks of 100 units, filled when
opened), so paging through phases, which rebuilds the tree, answers a key promptly."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import screen_text, wait_for

from nndsl.tui.app import NndslApp
from nndsl.tui.graph_view import CHUNK, NetworkTree, _chunk_size

LAYERS = 2000


def large_spec(layers: int) -> str:
    lines = [f"    - {{name: layer{index}, type: linear, units: 8, activation: tanh}}"
             for index in range(1, layers)]
    return ("nndsl: 1\nname: large\nseed: 1\ndata: {source: digits}\n"
            "network:\n  layers:\n" + "\n".join(lines)
            + "\n    - {name: out, type: linear, units: 10}\n"
            "cuts: units\nloss: {type: cross_entropy}\noptimizer: {type: sgd, lr: 0.1}\n"
            "schedule:\n  - {phase: joint}\n  - {phase: top_down}\n")


def test_chunk_sizes():
    entries = (1, CHUNK, CHUNK + 1, CHUNK * CHUNK, CHUNK * CHUNK + 1)
    assert [_chunk_size(count) for count in entries] == [1, 1, CHUNK, CHUNK, CHUNK**2]


@pytest.mark.slow  # compiles a 2000-layer spec: seconds on a loaded machine
def test_a_2000_layer_spec_pages_phases_promptly_and_opens_chunks_on_demand(tmp_path):
    spec = tmp_path / "large.yaml"
    spec.write_text(large_spec(LAYERS))
    app = NndslApp(str(spec))

    async def main() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("3")
            await pilot.pause()
            tree = app.query_one(NetworkTree)
            # 2000 units: 20 closed chunks, not 2000 layer rows and 1999 cut rows.
            assert [node.data for node in tree.root.children][:2] == [
                "chunk:100:layer1..layer100", "chunk:100:layer101..layer200"]
            assert len(tree._all_nodes()) == 1 + LAYERS // CHUNK
            began = time.monotonic()
            await pilot.press("n")  # the first top-down attempt: cut C1999, under the top
            await wait_for(pilot, lambda: "attempt 1/" in screen_text(app), timeout=10)
            assert time.monotonic() - began < 3.0  # was seconds of tree building per key
            assert len(tree._all_nodes()) == 1 + LAYERS // CHUNK
            last = tree.root.children[-1]
            assert "◀ this phase's cut C1999" in last.label.plain
            assert "❄ 1" in last.label.plain and "↺ 99" in last.label.plain
            assert "layer1901..out · 100 units" in last.label.plain
            # Opening a chunk makes its rows: 100 layers and the cuts after all but its last.
            tree.move_cursor(last)
            await pilot.press("enter")
            await wait_for(pilot, lambda: len(last.children) == 2 * CHUNK - 1, timeout=5)
            assert last.children[-1].data == "layer:out" and last.children[-2].data == "cut:C1999"
            assert "re-init" in last.children[0].label.plain
            # A phase step rebuilds the tree and keeps the chunk open, coloured for the step.
            await pilot.press("p")
            await wait_for(pilot, lambda: "phase 1/2 · joint" in screen_text(app), timeout=10)
            last = tree.root.children[-1]
            assert last.is_expanded and len(last.children) == 2 * CHUNK - 1
            assert "trainable" in last.children[-1].label.plain

    asyncio.run(main())
