"""Take the README's two screenshots from a real sweep: ablate's live view in a terminal
(tmux, captured mid-sweep and rendered to an image) and MLflow's UI comparing necks with
"group by", from a real ``mlflow server`` on 127.0.0.1, in headless Chromium.

Run: ``python bench/screenshots.py`` (needs tmux and chromium). Writes
``docs/images/live-view.png`` and ``docs/images/mlflow-group-by-neck.png``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SWEEP = f"""
name: necks
_base_: {ROOT / "configs" / "digits_resnet.yaml"}
model:
  backbone: {{base_channels: 8}}
data:
  batch_size: 64
train: {{epochs: 4, num_threads: 1}}
search:
  model.neck:
    - {{type: GlobalAveragePooling}}
    - {{type: GeneralizedMeanPooling, p: 3.0}}
    - {{type: GeneralizedMeanPooling, p: 1.5}}
  seeds: [0, 1, 2]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float = 600) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


def _tmux(sock: str, *args: str) -> str:
    done = subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True, check=False)
    return done.stdout


def _live_capture(work: Path, uri: str, sock: str) -> str:
    """Run the sweep in a 104x24 tmux pane; the last capture showing running trials."""
    cmd = f"cd {work} && {sys.executable} -m ablate.cli run sweep.yaml --tracking-uri {uri}; sleep 600"
    _tmux(sock, "new-session", "-d", "-s", "shot", "-x", "104", "-y", "24", cmd)
    best, score = "", 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1200:
        pane = _tmux(sock, "capture-pane", "-p", "-e", "-t", "shot")
        plain = _tmux(sock, "capture-pane", "-p", "-t", "shot")
        if "mlflow: " in plain:
            break
        # Mid-sweep is best: trials running, a few done, the best cell known.
        running = plain.count(" s0 ") + plain.count(" s1 ") + plain.count(" s2 ")
        done = plain.count(" done ")
        now = (2 * min(running - done, 2) + min(done, 4)) if "running" in plain else 0
        if now >= score:
            best, score = pane, now
        time.sleep(1.0)
    return best


def _png_of_text(ansi: str, out: Path) -> None:
    """The captured pane (ANSI text) as an SVG by rich, then a PNG by Chromium."""
    from rich.console import Console
    from rich.text import Text

    console = Console(record=True, width=104, force_terminal=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(Text.from_ansi(ansi.rstrip("\n")))
    svg = out.with_suffix(".svg")
    svg.write_text(console.export_svg(title="ablate run"))
    _chromium_shot(svg.as_uri(), out, "1300,700")
    svg.unlink()


def _chromium_shot(url: str, out: Path, size: str) -> None:
    subprocess.run(
        [
            shutil.which("chromium") or "chromium",
            *CHROMIUM,
            f"--window-size={size}",
            "--virtual-time-budget=20000",
            f"--screenshot={out}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )


def main() -> None:
    from mlflow.tracking import MlflowClient

    from ablate.tracking.view import view_url

    IMAGES.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ablate-shots-"))
    (work / "sweep.yaml").write_text(textwrap.dedent(SWEEP))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)),
            *("--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}", "--workers", "1"),
        ],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    sock = f"ablate-shots-{os.getpid()}"
    try:
        _wait_http(f"{base}/health")
        ansi = _live_capture(work, base, sock)
        if not ansi:
            raise RuntimeError("no capture of the live view showed running trials")
        _png_of_text(ansi, IMAGES / "live-view.png")
        exp = MlflowClient(tracking_uri=base).get_experiment_by_name("necks")
        url = view_url(base, exp.experiment_id, "by-neck")
        _chromium_shot(url, IMAGES / "mlflow-group-by-neck.png", "1800,800")
        print(f"wrote {IMAGES / 'live-view.png'} and {IMAGES / 'mlflow-group-by-neck.png'} ({url})")
    finally:
        _tmux(sock, "kill-server")
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
