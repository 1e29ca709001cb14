#!/usr/bin/env python3
"""browser_check.py - prove that a notebook's ipywidgets / plotly FigureWidget views
render (and optionally respond to clicks) in a REAL headless Chromium.

It starts its own Voila (default) or JupyterLab server on 127.0.0.1 with a free
port, drives Debian's /usr/bin/chromium through the Python `playwright` package,
waits (bounded) for every widget view to render, optionally clicks buttons by
their text, saves a screenshot, and always kills the server it started (by PID,
plus the kernel processes that server spawned, also by PID).

Exit codes:
  0  widgets rendered (and all --expect-* checks passed)
  1  check failed: a cell raised, widgets did not render, a click/expectation failed
  2  setup problem: bad arguments, chromium/voila/jupyterlab missing, server did not start
  3  overall time budget (--timeout) exceeded (watchdog)
  130 interrupted (SIGINT/SIGTERM); the server is still stopped

Examples:
  python browser_check.py demo.ipynb --screenshot out.png
  python browser_check.py demo.ipynb --mode lab --click Increment \
      --expect-text "Clicks: 1" --expect-plot-change --expect-selector .js-plotly-plot
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

# Flags needed for Debian chromium as root, without network, in CI.
CHROMIUM_FLAGS = [
    "--no-sandbox",  # running as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # small /dev/shm in containers; Debian's wrapper check is buggy
    # Loopback only: every non-loopback request goes to a dead proxy and fails at once
    # (Chromium bypasses proxies for localhost/127.0.0.0/8/[::1] by default), and no
    # hostname other than localhost resolves. Voila's page asks a CDN for font-awesome.
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]

T0 = time.monotonic()
VERBOSE = False


def log(msg: str) -> None:
    print(f"[browser_check {time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def vlog(msg: str) -> None:
    if VERBOSE:
        log(msg)


class CheckFailed(Exception):
    """The notebook/widgets misbehaved (exit 1)."""


class SetupError(Exception):
    """The environment is not usable (exit 2)."""


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """PIDs of all live descendants of pid (kernels run in their own session, so a
    process-group kill does not reach them)."""
    try:
        import psutil  # installed with ipykernel

        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except Exception:
        pass
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # zombie?
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Server:
    def __init__(self, mode: str, notebook: str, workdir: str):
        self.mode, self.notebook, self.workdir = mode, notebook, workdir
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.logpath = os.path.join(workdir, f"{mode}-server.log")
        self.known_children: set[int] = set()
        self._lock = threading.Lock()

    # Isolate from the user's Jupyter config/settings/workspaces (not from the data dir:
    # kernelspecs installed with --user live there).
    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=os.path.join(self.workdir, "jupyter-config"),
            JUPYTER_RUNTIME_DIR=os.path.join(self.workdir, "jupyter-runtime"),
            JUPYTERLAB_SETTINGS_DIR=os.path.join(self.workdir, "lab-settings"),
            JUPYTERLAB_WORKSPACES_DIR=os.path.join(self.workdir, "lab-workspaces"),
            PYTHONUNBUFFERED="1",
        )
        env.pop("JUPYTER_TOKEN", None)
        return env

    def write_lab_settings(self) -> None:
        base = os.path.join(self.workdir, "lab-settings", "@jupyterlab")
        settings = {
            # no "get notified about Jupyter news?" toast over the page, no update check
            "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
            # attach every cell to the DOM (default windowing may skip off-screen cells)
            "notebook-extension/tracker": {"windowingMode": "none"},
            # never write the user's notebook back to disk
            "docmanager-extension/plugin": {"autosave": False},
        }
        for name, value in settings.items():
            path = os.path.join(base, name + ".jupyterlab-settings")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                json.dump(value, f)

    def command(self) -> list[str]:
        nbdir = os.path.dirname(self.notebook)
        if self.mode == "voila":
            return [
                sys.executable,
                "-m",
                "voila",
                self.notebook,
                "--no-browser",
                "--Voila.ip=127.0.0.1",
                f"--Voila.port={self.port}",
                "--Voila.port_retries=0",
                "--Voila.token=",
                "--VoilaConfiguration.show_tracebacks=True",
                f"--Voila.root_dir={nbdir}",
            ]
        return [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={nbdir}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.expose_app_in_browser=True",
            # opening a notebook writes a checkpoint; keep it out of the user's tree
            f"--FileCheckpoints.checkpoint_dir={os.path.join(self.workdir, 'checkpoints')}",
        ]

    def start(self, timeout: float) -> None:
        if self.mode == "lab":
            self.write_lab_settings()
        for attempt in range(3):  # a free port can be taken between bind() and the server
            self.port = free_port()
            logf = open(self.logpath, "ab")
            self.proc = subprocess.Popen(
                self.command(),
                env=self.env(),
                cwd=os.path.dirname(self.notebook),
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            logf.close()
            log(f"started {self.mode} server pid={self.proc.pid} on 127.0.0.1:{self.port}")
            if self._wait_ready(timeout):
                return
            tail = self.log_tail()
            self.stop()
            if "address already in use" in tail.lower() and attempt < 2:
                log("port was taken, retrying on another port")
                continue
            raise SetupError(f"{self.mode} server did not come up within {timeout:.0f}s; log tail:\n{tail}")

    def _wait_ready(self, timeout: float) -> bool:
        # Voila renders (and executes!) the notebook on GET /, so probe a harmless URL;
        # any HTTP answer, even 403/404, means tornado is listening.
        probe = "/api/status" if self.mode == "lab" else "/voila/static/__probe__"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            self.snapshot_children()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}{probe}", timeout=2).close()
                return True
            except urllib.error.HTTPError:
                return True
            except (urllib.error.URLError, OSError):
                time.sleep(0.25)
        return False

    def snapshot_children(self) -> None:
        if self.proc and self.proc.poll() is None:
            with self._lock:
                self.known_children.update(descendants(self.proc.pid))

    def log_tail(self, n: int = 4000) -> str:
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")[-n:]
        except OSError:
            return ""

    def read_log(self) -> str:
        return self.log_tail(10**8)

    def stop(self) -> None:
        """SIGTERM the server's process group (jupyter shuts its kernels down), then
        SIGKILL whatever is left of it and of the children it had, each by PID."""
        proc = self.proc
        if proc is None:
            return
        self.snapshot_children()
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # group id == our child's PID
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log(f"server pid={proc.pid} ignored SIGTERM, sending SIGKILL")
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        left = [p for p in self.known_children if pid_alive(p)]
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = [p for p in left if pid_alive(p)]
        for pid in left:
            log(f"killing leftover server child pid={pid}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        vlog(f"server pid={proc.pid} stopped (rc={proc.returncode})")
        self.proc = None


# --------------------------------------------------------------------------- page JS

# Classify widget output nodes: a jupyterlab_widgets WidgetRenderer is a Lumino Panel
# (.jp-OutputArea-output, no data-mime-type) that shows "Loading widget..." until the
# view is attached, "Error displaying widget..." on failure, or is hidden once closed.
JS_WIDGET_STATUS = r"""() => {
  const res = {rendered: 0, loading: 0, errors: [], hidden: 0, textReprs: [], plotly: 0,
               plotlyEmpty: 0};
  for (const el of document.querySelectorAll('.jp-OutputArea-output')) {
    const mime = el.getAttribute('data-mime-type');
    const text = (el.textContent || '').trim();
    if (mime === null) {
      if (el.classList.contains('lm-mod-hidden')) { res.hidden++; continue; }
      if (text.startsWith('Error displaying widget')) { res.errors.push(text.slice(0, 200)); continue; }
      if (el.querySelector(':scope > .lm-Widget')) { res.rendered++; continue; }
      if (text.startsWith('Loading widget')) { res.loading++; continue; }
    } else if (mime === 'text/plain' && /^[A-Z]\w*\((\{|\w+=|\))/.test(text)) {
      res.textReprs.push(text.slice(0, 120));   // e.g. "VBox(children=..." = no widget renderer
    }
  }
  for (const p of document.querySelectorAll('.js-plotly-plot')) {
    res.plotly++;
    if (!p.querySelector('svg.main-svg')) res.plotlyEmpty++;
  }
  return res;
}"""

JS_PLOT_SIGNATURE = r"""() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(p => {
  const d = (p.data || []).map(t => JSON.stringify([t.x, t.y, t.z, t.type]));
  const svg = p.querySelector('.main-svg');
  return d.join('|') + '#' + (svg ? svg.innerHTML.length : 0);
})"""

JS_LAB_STATUS = r"""() => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return {app: false};
  const panel = app.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model || !panel.sessionContext) return {app: true, panel: false};
  const sc = panel.sessionContext;
  const kernel = sc.session && sc.session.kernel;
  const st = {app: true, panel: true, kernel: kernel ? kernel.status : null,
              kernelName: sc.kernelDisplayName, code: 0, executed: 0, running: 0,
              expected: 0, plotly: 0, errors: [], dialog: !!document.querySelector('.jp-Dialog')};
  const cells = panel.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    const src = c.sharedModel ? c.sharedModel.getSource() : (c.value ? c.value.text : 'x');
    if (!src.trim()) continue;               // JupyterLab does not execute empty cells
    st.code++;
    if (c.executionCount !== null && c.executionCount !== undefined) st.executed++;
    if (c.executionState === 'running') st.running++;
    for (let j = 0; j < c.outputs.length; j++) {
      const o = c.outputs.get(j);
      const js = o.toJSON();
      if (js.output_type === 'error') st.errors.push({cell: i, ename: js.ename, evalue: js.evalue,
        traceback: (js.traceback || []).join('\n').replace(/\x1b\[[0-9;]*m/g, '').slice(-1500)});
      if (o.data && o.data['application/vnd.jupyter.widget-view+json']) {
        st.expected++;
        if (String(o.data['text/plain'] || '').startsWith('FigureWidget(')) st.plotly++;
      }
    }
  }
  st.domRunning = Array.from(document.querySelectorAll('.jp-InputArea-prompt'))
                       .filter(e => e.textContent.includes('*')).length;
  return st;
}"""


# --------------------------------------------------------------------------- checks


def poll(fn, timeout: float, what: str, interval: float = 0.25, settle: int = 1):
    """Call fn() until it returns a truthy value `settle` times in a row."""
    deadline = time.monotonic() + timeout
    ok_in_row, last = 0, None
    while True:
        last = fn()
        ok_in_row = ok_in_row + 1 if last else 0
        if ok_in_row >= settle:
            return last
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def voila_expected_views(html: str) -> tuple[int, int, list[str]]:
    """Count widget-view outputs in Voila's streamed HTML (outputs are embedded as
    <script type="application/vnd.voila.cell-output+json"> blocks)."""
    expected = plotly = 0
    for m in re.finditer(r'<script type="application/vnd\.voila\.cell-output\+json">(.*?)</script>', html, re.S):
        try:
            out = json.loads(m.group(1))
        except ValueError:
            continue
        if WIDGET_MIME in out.get("data", {}):
            expected += 1
            plotly += str(out["data"].get("text/plain", "")).startswith("FigureWidget(")
    errors = re.findall(r"There was an error when executing cell \[\d+\]", html)
    return expected, plotly, errors


def voila_cell_errors(server_log: str, page) -> list[str]:
    msgs = []
    if "CellExecutionError" in server_log or "There was an error when executing cell" in server_log:
        # the DOM has the traceback (show_tracebacks=True); keep its last line
        for text in page.eval_on_selector_all('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]', "els => els.map(e => e.innerText)"):
            if "Traceback" in text or "Error" in text:
                lines = [ln for ln in text.strip().splitlines() if ln.strip()]
                msgs.append(lines[-1] if lines else text[:200])
        if not msgs:
            m = re.search(r"CellExecutionError: (.*?)\n-{5,}\n(.*?)\n-{5,}", server_log, re.S)
            msgs.append("cell raised (see server log): " + (m.group(2).strip()[:300] if m else "?"))
    return msgs


def wait_widgets(page, expected: int, args, plotly_expected: int = 0) -> dict:
    if expected < args.min_widgets:
        st = page.evaluate(JS_WIDGET_STATUS)
        raise CheckFailed(
            f"the notebook displayed {expected} widget outputs; --min-widgets wants >= "
            f"{args.min_widgets}" + (f" (text reprs on page: {st['textReprs'][:3]})" if st["textReprs"] else "")
        )

    def ready():
        st = page.evaluate(JS_WIDGET_STATUS)
        ready.last = st
        if st["errors"]:
            return st
        done = st["rendered"] + st["hidden"] >= max(expected, args.min_widgets) and st["loading"] == 0
        if done and args.expect_selector:
            done = all(page.locator(sel).count() > 0 for sel in args.expect_selector)
        if done and (st["plotlyEmpty"] or st["plotly"] < plotly_expected):
            done = False  # every displayed FigureWidget must have drawn its SVG
        return st if done else None

    ready.last = {}
    try:
        st = poll(ready, args.render_timeout, "widget views to render", settle=2)
    except TimeoutError:
        st = ready.last
        missing = [s for s in args.expect_selector if page.locator(s).count() == 0]
        raise CheckFailed(
            f"widgets did not render within {args.render_timeout:.0f}s: widget views rendered "
            f"{st.get('rendered')} of {max(expected, args.min_widgets)} expected, still 'Loading widget...' "
            f"{st.get('loading')}; plotly charts drawn {st.get('plotly', 0) - st.get('plotlyEmpty', 0)} of "
            f"{plotly_expected} FigureWidgets displayed"
            + (f"; missing selectors {missing}" if missing else "")
            + (f"; outputs shown as plain text reprs (widget front-end missing?): {st['textReprs'][:3]}" if st.get("textReprs") else "")
        )
    if st["errors"]:
        raise CheckFailed(f"widget front-end error: {st['errors'][:3]}")
    return st


def _pick(loc, last: bool, what: str, page, listing: str):
    n = loc.count()
    if n == 0:
        labels = page.eval_on_selector_all(listing, "els => els.map(e => e.textContent.trim()).slice(0, 60)")
        raise CheckFailed(f"no {what}; on page: {labels}")
    if n > 1:
        log(f"{n} elements match {what}; using the {'last' if last else 'first'}")
    return loc.last if last else loc.first


def _wait_kernel(page, args, mode: str) -> None:
    if mode == "lab":  # let the kernel handle the comm message
        try:
            poll(lambda: page.evaluate(JS_LAB_STATUS).get("kernel") == "idle", args.step_timeout, "kernel idle after click", settle=3, interval=0.2)
        except TimeoutError as e:
            raise CheckFailed(str(e))


def do_step(page, args, mode: str, kind: str, text: str) -> None:
    """One step: click a button (first or last match), toggle a checkbox by its label, choose a tab by its
    title, choose an option of a list box by a substring, or wait for a text in the outputs."""
    timeout = args.step_timeout * 1000
    last = kind.endswith("-last")
    kind = kind.removesuffix("-last")
    if kind == "expect":
        try:
            # only inside outputs: in JupyterLab the cell sources are on the page too
            page.locator(".jp-OutputArea").get_by_text(text).first.wait_for(state="visible", timeout=timeout)
        except Exception:
            raise CheckFailed(f"text {text!r} did not appear within {args.step_timeout:.0f}s after the steps before it")
        log(f"found expected text {text!r}")
        return
    if kind == "click":
        buttons = "button.jupyter-button, .widget-button"
        loc = page.locator(buttons).filter(has_text=re.compile(r"^\s*" + re.escape(text) + r"\s*$"))
        _pick(loc, last, f"widget button with text {text!r}", page, buttons).click(timeout=timeout)
    elif kind == "toggle":
        boxes = ".widget-checkbox"
        loc = page.locator(boxes).filter(has_text=text).locator("input[type=checkbox]")
        _pick(loc, last, f"checkbox labelled {text!r}", page, boxes).click(timeout=timeout)
    elif kind == "tab":
        tabs = ".lm-TabBar-tab"
        loc = page.locator(tabs).filter(has_text=re.compile(r"^\s*" + re.escape(text) + r"\s*$"))
        _pick(loc, last, f"tab titled {text!r}", page, tabs).click(timeout=timeout)
    elif kind == "select":
        selects = ".widget-select select"
        loc = page.locator(selects).filter(has=page.locator("option", has_text=text))
        box = _pick(loc, last, f"list box with an option containing {text!r}", page, selects)
        label = box.locator("option", has_text=text).first.text_content()
        box.select_option(label=label, timeout=timeout)
    else:
        raise CheckFailed(f"unknown step {kind!r}")
    log(f"{kind} {'(last) ' if last else ''}{text!r}")
    _wait_kernel(page, args, mode)


def do_clicks_and_expectations(page, args, mode: str) -> None:
    if not (args.steps or args.expect_plot_change):
        return
    before = page.evaluate(JS_PLOT_SIGNATURE)
    for kind, text in args.steps:
        do_step(page, args, mode, kind, text)
    if args.expect_plot_change:
        try:
            poll(lambda: page.evaluate(JS_PLOT_SIGNATURE) != before, args.step_timeout, "a plotly chart to change")
        except TimeoutError:
            raise CheckFailed(f"no plotly chart changed within {args.step_timeout:.0f}s after the clicks")
        log("a plotly chart changed")
    if not any(kind == "expect" for kind, _ in args.steps) and not args.expect_plot_change:
        time.sleep(1.0)  # give the front-end a moment to re-render before the screenshot


def run_voila(page, server: Server, args, rel: str) -> dict:
    url = f"http://127.0.0.1:{server.port}/"
    # Voila executes all cells while streaming the HTML; "load" fires after the last cell.
    resp = page.goto(url, wait_until="load", timeout=args.exec_timeout * 1000)
    if resp is None or resp.status >= 400:
        raise CheckFailed(f"voila answered HTTP {resp.status if resp else '?'} for {url}")
    expected, plotly, html_errors = voila_expected_views(resp.text())
    log(f"voila page loaded (cells executed); {expected} widget views in the outputs ({plotly} top-level FigureWidgets)")
    errs = voila_cell_errors(server.read_log(), page)
    if errs or html_errors:
        raise CheckFailed("a notebook cell raised: " + "; ".join(errs or html_errors))
    st = wait_widgets(page, expected, args, plotly)
    log(f"widgets rendered: {st['rendered']} views, {st['plotly']} plotly charts")
    do_clicks_and_expectations(page, args, "voila")
    return {"expected_views": expected, **st}


def run_lab(page, server: Server, args, rel: str) -> dict:
    url = f"http://127.0.0.1:{server.port}/lab/tree/{urllib.parse.quote(rel)}?reset"
    page.goto(url, wait_until="domcontentloaded", timeout=args.step_timeout * 1000)

    def kernel_ready():
        st = page.evaluate(JS_LAB_STATUS)
        if st.get("dialog"):  # e.g. "Select Kernel" when the kernelspec is unknown
            log("a dialog is open (kernel selection?); accepting its default")
            page.locator(".jp-Dialog .jp-mod-accept").first.click()
            return None
        return st if st.get("panel") and st.get("kernel") == "idle" and st.get("kernelName") not in (None, "No Kernel") else None

    try:
        st = poll(kernel_ready, args.exec_timeout, "JupyterLab to open the notebook with an idle kernel", settle=2)
    except TimeoutError as e:
        raise CheckFailed(f"{e}; last status: {page.evaluate(JS_LAB_STATUS)}")
    log(f"notebook open, kernel {st['kernelName']!r} idle; {st['code']} non-empty code cells")
    # Start from a clean slate so stale saved outputs/prompts cannot fake success.
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    try:  # "Run > Run All Cells" through the menu, as a person would
        page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click(timeout=10000)
        item = page.locator(".lm-Menu-item[data-command='runmenu:run-all'], .lm-Menu-item[data-command='notebook:run-all-cells']").first
        item.click(timeout=10000)
        log("clicked Run > Run All Cells")
    except Exception as e:  # menu layout changed: fall back to the command
        log(f"menu click failed ({type(e).__name__}); executing notebook:run-all-cells directly")
        page.keyboard.press("Escape")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

    def finished():
        s = page.evaluate(JS_LAB_STATUS)
        finished.last = s
        busy = s.get("kernel") != "idle" or s.get("running") or s.get("domRunning")
        if not s.get("panel"):
            return None
        return s if not busy and (s["executed"] >= s["code"] or s["errors"]) else None

    finished.last = {}
    try:
        st = poll(finished, args.exec_timeout, "all cells to finish executing", settle=3, interval=0.3)
    except TimeoutError as e:
        raise CheckFailed(f"{e}; last status: {finished.last}")
    if st["errors"]:
        e = st["errors"][0]
        raise CheckFailed(f"notebook cell {e['cell'] + 1} (counting markdown cells) raised {e['ename']}: {e['evalue']}\n{e['traceback']}")
    log(f"executed {st['executed']}/{st['code']} code cells; {st['expected']} widget views in the outputs ({st['plotly']} top-level FigureWidgets)")
    wst = wait_widgets(page, st["expected"], args, st["plotly"])
    log(f"widgets rendered: {wst['rendered']} views, {wst['plotly']} plotly charts")
    do_clicks_and_expectations(page, args, "lab")
    return {"expected_views": st["expected"], **wst}


def lab_prepare_screenshot(page) -> None:
    """The notebook scrolls inside its panel: hide the side bars and make the viewport
    tall enough to show every cell."""
    try:
        page.evaluate("() => { const s = window.jupyterapp.shell; s.collapseLeft(); s.collapseRight(); }")
        # page y of the last cell's bottom edge, with the notebook scrolled to the top
        h = page.evaluate("""() => { const el = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer');
                                     const cells = document.querySelectorAll('.jp-NotebookPanel .jp-Cell');
                                     if (!el || !cells.length) return 0;
                                     el.scrollTop = 0;
                                     return cells[cells.length - 1].getBoundingClientRect().bottom; }""")
        vp = page.viewport_size or {"width": 1280, "height": 900}
        if h:
            page.set_viewport_size({"width": vp["width"], "height": int(min(max(vp["height"], h + 80), 8000))})
        page.wait_for_timeout(600)
    except Exception as e:
        log(f"could not enlarge the lab view for the screenshot: {e}")


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("notebook", help="path to the .ipynb to check")
    p.add_argument("--mode", choices=["voila", "lab"], default="voila", help="serve with Voila (default: faster, fewer moving parts) or JupyterLab")
    p.add_argument("--screenshot", default="browser_check.png", help="PNG path (default: %(default)s)")

    def step(kind: str):
        return lambda text: (kind, text)

    p.add_argument(
        "--click",
        dest="steps",
        action="append",
        default=[],
        type=step("click"),
        metavar="TEXT",
        help="click the first widget button whose whole (trimmed) text is TEXT",
    )
    p.add_argument("--click-last", dest="steps", action="append", type=step("click-last"), metavar="TEXT", help="the same, the last such button on the page")
    p.add_argument("--toggle-last", dest="steps", action="append", type=step("toggle-last"), metavar="LABEL", help="click the last checkbox labelled LABEL")
    p.add_argument("--tab-last", dest="steps", action="append", type=step("tab-last"), metavar="TITLE", help="open the last tab titled TITLE")
    p.add_argument(
        "--select-last",
        dest="steps",
        action="append",
        type=step("select-last"),
        metavar="TEXT",
        help="in the last list box with an option containing TEXT, choose it",
    )
    p.add_argument(
        "--expect-text", dest="steps", action="append", type=step("expect"), metavar="TEXT",
        help="wait for TEXT (substring) to be visible in a cell output; steps run in the order given",
    )  # fmt: skip
    p.add_argument("--expect-plot-change", action="store_true", help="after the clicks, wait for a plotly chart's data/SVG to change")
    p.add_argument(
        "--expect-selector", action="append", default=[], metavar="CSS", help="require CSS to match before widgets count as rendered, e.g. .js-plotly-plot"
    )
    p.add_argument("--allow-page-errors", action="store_true", help="do not fail on uncaught JavaScript errors in the page")
    p.add_argument("--min-widgets", type=int, default=1, help="fail unless at least N widget views render (default: %(default)s)")
    p.add_argument(
        "--chromium",
        default=os.environ.get("BROWSER_CHECK_CHROMIUM") or "/usr/bin/chromium",
        help="browser binary (default: $BROWSER_CHECK_CHROMIUM or %(default)s)",
    )
    p.add_argument("--timeout", type=float, default=300, help="overall budget in s (default: %(default)s)")
    p.add_argument("--server-timeout", type=float, default=90, help="server start budget (default: %(default)s)")
    p.add_argument("--exec-timeout", type=float, default=180, help="page load + cell execution budget (default: %(default)s)")
    p.add_argument("--render-timeout", type=float, default=60, help="widget render budget (default: %(default)s)")
    p.add_argument("--step-timeout", type=float, default=30, help="budget for each click/expectation (default: %(default)s)")
    p.add_argument("--viewport", default="1280x900", help="WIDTHxHEIGHT (default: %(default)s)")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (server log, profile)")
    p.add_argument("--json", metavar="PATH", help="also write a JSON summary (timings, counts) to PATH")
    p.add_argument("-v", "--verbose", action="store_true", help="log browser console errors and blocked requests")
    return p.parse_args(argv)


def main(argv=None) -> int:
    global VERBOSE
    args = parse_args(argv)
    VERBOSE = args.verbose
    nb = os.path.abspath(args.notebook)
    if not os.path.isfile(nb) or not nb.endswith(".ipynb"):
        print(f"browser_check: ERROR: {args.notebook!r} is not an .ipynb file", file=sys.stderr)
        return 2
    chromium = shutil.which(args.chromium) or args.chromium
    if not os.access(chromium, os.X_OK):
        print(f"browser_check: ERROR: chromium not found at {args.chromium!r} (apt-get install -y chromium, or pass --chromium)", file=sys.stderr)
        return 2
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("browser_check: ERROR: python package 'playwright' missing (pip install playwright)", file=sys.stderr)
        return 2
    try:
        __import__("voila" if args.mode == "voila" else "jupyterlab")
    except ImportError:
        print(f"browser_check: ERROR: {'voila' if args.mode == 'voila' else 'jupyterlab'} is not installed in {sys.executable}", file=sys.stderr)
        return 2
    vw, vh = (int(x) for x in args.viewport.lower().split("x"))
    shot = os.path.abspath(args.screenshot)
    os.makedirs(os.path.dirname(shot), exist_ok=True)

    workdir = tempfile.mkdtemp(prefix="browser_check-")
    server = Server(args.mode, nb, workdir)
    timings: dict[str, float] = {}
    summary: dict = {"notebook": nb, "mode": args.mode, "screenshot": shot, "ok": False}
    rc = 1

    # Watchdog: if everything else hangs, kill our server (by PID) and exit 3.
    expired = threading.Event()

    def watchdog():
        expired.set()
        log(f"FAIL: overall timeout of {args.timeout:.0f}s exceeded; killing server and browser, exiting")
        try:
            server.stop()
            # the Playwright driver and Chromium are our own descendants: kill them by PID
            for pid in reversed(descendants(os.getpid())):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            if not args.keep_tmp:
                shutil.rmtree(workdir, ignore_errors=True)
            os._exit(3)

    dog = threading.Timer(args.timeout, watchdog)
    dog.daemon = True
    dog.start()

    # SIGTERM/SIGINT (e.g. CI cancel) -> normal exception path, so `finally` cleans up.
    def _sig(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _sig)

    try:
        t = time.monotonic()
        server.start(args.server_timeout)
        timings["server_start_s"] = round(time.monotonic() - t, 2)
        # Playwright's driver and Chromium make temp dirs of their own; keep them in workdir so
        # they go away with it even if the watchdog has to SIGKILL the browser.
        os.makedirs(os.path.join(workdir, "tmp"), exist_ok=True)
        os.environ["TMPDIR"] = os.path.join(workdir, "tmp")
        with sync_playwright() as pw:
            t = time.monotonic()
            ctx = pw.chromium.launch_persistent_context(
                user_data_dir=os.path.join(workdir, "chromium-profile"),  # fresh profile every run
                executable_path=chromium,
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={"width": vw, "height": vh},
                timeout=60000,
            )
            timings["browser_launch_s"] = round(time.monotonic() - t, 2)
            try:
                page = ctx.pages[0] if ctx.pages else ctx.new_page()
                page.set_default_timeout(args.step_timeout * 1000)
                page_errors: list[str] = []
                page.on("pageerror", lambda e: page_errors.append(str(e)[:300]))
                page.on("console", lambda m: vlog(f"console.{m.type}: {m.text[:300]}") if m.type in ("error", "warning") else None)
                page.on("requestfailed", lambda r: vlog(f"request failed: {r.url[:120]} {r.failure}"))
                t = time.monotonic()
                rel = os.path.basename(nb)
                try:
                    result = (run_voila if args.mode == "voila" else run_lab)(page, server, args, rel)
                    summary.update(result)
                    rc = 0
                finally:
                    timings["notebook_s"] = round(time.monotonic() - t, 2)
                    server.snapshot_children()
                    try:
                        if args.mode == "lab":
                            lab_prepare_screenshot(page)
                        page.screenshot(path=shot, full_page=True, timeout=30000)
                        log(f"screenshot saved: {shot}")
                    except Exception as e:
                        log(f"screenshot failed: {e}")
                    if page_errors:
                        log(f"uncaught JavaScript errors in the page: {page_errors[:3]}")
                if page_errors and rc == 0 and not args.allow_page_errors:
                    rc = 1
                    raise CheckFailed(
                        f"uncaught JavaScript errors in the page (a widget's front-end code failed?): {page_errors[:3]}; use --allow-page-errors to ignore"
                    )
            finally:
                ctx.close()
    except CheckFailed as e:
        print(f"browser_check: FAIL: {e}", file=sys.stderr)
        summary["error"] = str(e)
        rc = 1
    except SetupError as e:
        print(f"browser_check: ERROR: {e}", file=sys.stderr)
        summary["error"] = str(e)
        rc = 2
    except KeyboardInterrupt as e:
        print(f"browser_check: interrupted ({e})", file=sys.stderr)
        rc = 130
    except Exception as e:  # playwright timeouts etc.
        if not expired.is_set():  # else: the watchdog closed the browser under us
            print(f"browser_check: FAIL: {type(e).__name__}: {str(e)[:1500]}", file=sys.stderr)
        summary["error"] = f"{type(e).__name__}: {e}"
        rc = 1
    finally:
        t = time.monotonic()
        server.stop()
        timings["server_stop_s"] = round(time.monotonic() - t, 2)
        dog.cancel()
        if rc != 0:
            tail = server.log_tail(2500)
            if tail:
                print(f"--- last lines of the {args.mode} server log ---\n{tail}", file=sys.stderr)
        if args.keep_tmp or rc != 0 and VERBOSE:
            log(f"temp dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if expired.is_set():
        rc = 3
        summary["error"] = f"overall timeout of {args.timeout:.0f}s exceeded"
    timings["total_s"] = round(time.monotonic() - T0, 2)
    summary.update(ok=rc == 0, rc=rc, timings=timings)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    if rc == 0:
        print(
            f"browser_check: OK: {summary.get('rendered')} widget views rendered "
            f"({summary.get('plotly')} plotly) in {args.mode}; timings {timings}; screenshot {shot}"
        )
    else:
        print(f"browser_check: timings {timings}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
