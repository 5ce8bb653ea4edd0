"""`nndsl tui`: the plan pane shows a chain's checkpoint segments in its memory section."""

from __future__ import annotations

import asyncio

from conftest import SPECS, screen_text, wait_for

from nndsl.tui.app import NndslApp


def test_plan_pane_lists_checkpoint_segments():
    app = NndslApp(str(SPECS / "memory_mlp_digits.yaml"))

    async def main() -> None:
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.pause()
            await pilot.press("4")
            await wait_for(pilot, lambda: app.query_one("#plan-memory").display, timeout=3)
            await pilot.press("end")
            await pilot.pause()
            text = screen_text(app)
            assert "memory: budget 1.65 MiB, policy optimal" in text
            assert (
                "wide1, drop1, narrow1" in text
                and "checkpoint" in text
                and "chain wide1 … out (9)" in text
            )

    asyncio.run(main())
