"""`nndsl tui` stays responsive while a spec revalidates: compiles after the first run in a
worker thread, and a compile overtaken by a newer one is dropped."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time

from conftest import SPECS, screen_text, wait_for
from textual.widgets import TabbedContent

from nndsl.api import compile_spec
from nndsl.tui import app as app_module
from nndsl.tui.app import NndslApp


def test_keys_work_while_a_slow_revalidation_runs(tmp_path, monkeypatch):
    spec = tmp_path / "quickstart.yaml"
    shutil.copy(SPECS / "quickstart.yaml", spec)
    release = threading.Event()
    started = threading.Event()
    threads: list[str] = []

    def slow_compile(path, *arguments, **keywords):
        threads.append(threading.current_thread().name)
        if len(threads) > 1:  # the first compile (before the screen is up) runs at full speed
            started.set()
            release.wait(timeout=20)  # a large spec: seconds of work
        return compile_spec(path, *arguments, **keywords)

    monkeypatch.setattr(app_module, "compile_spec", slow_compile)
    app = NndslApp(str(spec))

    async def main() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert "✓ valid" in screen_text(app) and "reloaded" not in screen_text(app)
            spec.write_text(spec.read_text().replace("units: 64", "units: 48"))
            await wait_for(pilot, started.is_set, timeout=5)  # the watcher noticed; compiling
            began = time.monotonic()
            await pilot.press("3")  # the graph tab, while the compile is blocked
            await pilot.pause()
            assert app.query_one(TabbedContent).active == "graph-tab"
            await pilot.press("4")
            await pilot.pause()
            assert app.query_one(TabbedContent).active == "plan-tab"
            assert time.monotonic() - began < 10  # answered long before the compile could end
            assert not release.is_set() and app.reloads == 0  # the old result is still shown
            release.set()
            await wait_for(pilot, lambda: app.reloads == 1, timeout=10)
            assert app.compiled.graph.node("hidden1.linear").output_shape == (48,)

    asyncio.run(main())
    assert threads[0] == threading.main_thread().name and threads[1] != threading.main_thread().name


def test_a_compile_overtaken_by_a_newer_one_is_dropped(tmp_path, monkeypatch):
    spec = tmp_path / "quickstart.yaml"
    shutil.copy(SPECS / "quickstart.yaml", spec)
    good = spec.read_text()
    first_release = threading.Event()
    calls: list[str] = []

    def compile_in_order(path, *arguments, **keywords):
        text = spec.read_text()
        calls.append(text)
        if len(calls) == 2:  # the first revalidation is slow and finishes last
            first_release.wait(timeout=20)
        return compile_spec(path, *arguments, text=text, **keywords)

    monkeypatch.setattr(app_module, "compile_spec", compile_in_order)
    app = NndslApp(str(spec))

    async def main() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            spec.write_text(good.replace("units: 64", "units: 48"))
            await wait_for(pilot, lambda: len(calls) == 2, timeout=5)
            spec.write_text(good.replace("units: 64", "units: 40"))
            await wait_for(pilot, lambda: app.reloads == 1, timeout=10)  # the newer one, drawn
            first_release.set()
            await pilot.pause(1.0)
            assert app.reloads == 1  # the overtaken compile's result never replaced it
            assert app.compiled.graph.node("hidden1.linear").output_shape == (40,)

    asyncio.run(main())
