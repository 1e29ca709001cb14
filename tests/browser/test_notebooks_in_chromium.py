"""Real-browser checks: JupyterLab serves a notebook on 127.0.0.1, headless Chromium (Debian's) runs it,
the widgets and plotly charts render, a click changes them, and a screenshot is saved.

Slow (~20 s per notebook). Skips without /usr/bin/chromium, except under CI=true where it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
NOTEBOOKS = HERE.parent.parent / "notebooks"
SCREENSHOTS = Path(os.environ.get("WFKIT_SCREENSHOTS", "")) if os.environ.get("WFKIT_SCREENSHOTS") else None


@pytest.fixture(autouse=True)
def _need_chromium() -> None:
    if not os.access("/usr/bin/chromium", os.X_OK):
        if os.environ.get("CI"):
            pytest.fail("CI needs /usr/bin/chromium: .ci/run installs Debian's chromium package")
        pytest.skip("no /usr/bin/chromium")


def _check(notebook: str, tmp_path: Path, *args: str) -> Path:
    work = tmp_path / notebook
    shutil.copy(NOTEBOOKS / notebook, work)
    shot = tmp_path / f"{work.stem}.png"
    command = [sys.executable, str(HERE / "browser_check.py"), str(work), "--mode", "lab", "--screenshot", str(shot), "--timeout", "240", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    assert shot.stat().st_size > 20_000
    if SCREENSHOTS is not None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SCREENSHOTS / shot.name)
    return shot


def test_replay_debugger_steps_breaks_and_forks_in_jupyterlab(tmp_path: Path) -> None:
    # The first debugger (a failed activity) shows "event 0 of N"; ▶ moves it (and the highlighted event) to 1.
    steps = ["--click", "▶", "--expect-text", "event 1 of"]
    # The last one (a bug in the workflow code): with "break on workflow exception" off, a click on line 11 of
    # the code tab sets a breakpoint that "run to breakpoint" stops at; with it on again, the next run stops
    # where the code raised; "fork from here" forks the run with the fixed code the notebook defined since.
    steps += ["--toggle-last", "break on workflow exception", "--tab-last", "code", "--select-last", "vs_target = total / TARGETS[month]"]
    steps += ["--expect-text", "breakpoints: line", "--click-last", "run to breakpoint", "--expect-text", "stopped at line breakpoint 11"]
    steps += ["--toggle-last", "break on workflow exception", "--click-last", "run to breakpoint", "--expect-text", "the workflow code raised KeyError"]
    steps += ["--click-last", "fork from here", "--expect-text", "forked at its latest resume point as run"]
    # The what-if fork's comparison, rendered.
    steps += ["--expect-text", "1 edited"]
    _check("02_replay_debugging.ipynb", tmp_path, *steps, "--expect-selector", ".js-plotly-plot")


def test_quickstart_form_starts_a_run_in_jupyterlab(tmp_path: Path) -> None:
    # The notebook itself starts run 1 through the form; the click on Start must start run 2.
    _check("01_quickstart.ipynb", tmp_path, "--click", "Start", "--expect-text", "(run 2 from this form)", "--expect-selector", ".js-plotly-plot")


def test_schedules_panel_triggers_a_schedule_in_jupyterlab(tmp_path: Path) -> None:
    # The monitor lists the notebook's two schedules; the first row's trigger button fires fast-demo once.
    _check("05_schedules.ipynb", tmp_path, "--click", "trigger", "--expect-text", "fast-demo triggered", "--expect-selector", ".js-plotly-plot")
