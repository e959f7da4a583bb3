"""`pixrescue serve` under load, on localhost.

    python benchmarks/web_load.py [--clients 50] [--single 3] [--timeout 600] [--workers N] [--queue N]

Protocol: a 1-megapixel JPEG (examples/meme.jpg enlarged to 1224x816 with Lanczos, saved at
quality 20) is fixed once by the command line (`pixrescue fix`, timed as a whole command);
that PNG is the reference.  Load + fix + save is also timed in this process, the model
loaded, in turn with the single jobs of step 1 (the median).  The server is started as
`pixrescue serve` on a free port in a subprocess (its default limits unless --workers /
--queue) and warmed by one job.  Then:

1. upload-to-result, --single times one after the other: POST the file, poll its status
   every 20 ms, GET the PNG (then wait for the facts that follow, before the next); the median;
2. --clients clients at once, each submitting the file once: a 429 counts as refused (no
   retry); an accepted job is polled every 250 ms (each status request timed) until it is
   done, and its PNG compared with the reference pixel for pixel.

The server's peak resident memory (VmHWM) is read from /proc at the end.  Everything is
bounded by --timeout seconds; the server is stopped (SIGINT) at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def picture(folder: Path) -> Path:
    path = folder / "meme-1mp.jpg"
    with Image.open(ROOT / "examples" / "meme.jpg") as source:
        source.convert("RGB").resize((1224, 816), Image.LANCZOS).save(path, quality=20)
    return path


def pixels(payload: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(payload)) as image:
        return np.asarray(image.convert("RGB"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def peak_memory_gb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def run_job(client: httpx.Client, url: str, payload: bytes, every: float, latencies: list | None = None,
            facts: bool = False):
    """(status of the POST, PNG bytes or None, seconds from upload to result, the error);
    ``facts``: then wait for the facts that follow the result."""
    started = time.perf_counter()
    response = client.post(url + "/api/jobs", files={"file": ("meme.jpg", payload, "image/jpeg")})
    if response.status_code != 202:
        return response.status_code, None, None, response.json().get("error")
    job_id = response.json()["id"]
    while True:
        asked = time.perf_counter()
        status = client.get(f"{url}/api/jobs/{job_id}")
        if latencies is not None:
            latencies.append(time.perf_counter() - asked)
        body = status.json()
        if status.status_code != 200 or body["status"] not in ("checking", "queued", "running"):
            break
        time.sleep(every)
    if body.get("status") != "done":
        return 202, None, None, body.get("error")
    result = client.get(url + body["result"]).content
    seconds = time.perf_counter() - started
    while facts and client.get(f"{url}/api/jobs/{job_id}").json()["facts"] is None:
        time.sleep(every)
    return 202, result, seconds, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--single", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--queue", type=int, default=None)
    args = parser.parse_args()
    end = time.time() + args.timeout
    python = [sys.executable, "-m", "pixrescue"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    with tempfile.TemporaryDirectory() as folder:
        source = picture(Path(folder))
        payload = source.read_bytes()
        started = time.perf_counter()
        subprocess.run([*python, "fix", str(source), "-o", f"{folder}/cli.png"], check=True, env=env,
                       capture_output=True, timeout=args.timeout)
        cli_seconds = time.perf_counter() - started
        reference = pixels(Path(f"{folder}/cli.png").read_bytes())

        import pixrescue

        fix = pixrescue.restorer()
        fix(pixrescue.load(source))  # warm
        in_process = []

        port = free_port()
        command = [*python, "serve", "--port", str(port)]
        command += ["--workers", str(args.workers)] if args.workers else []
        command += ["--queue", str(args.queue)] if args.queue is not None else []
        server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(timeout=max(1.0, end - time.time())) as client:
                while True:
                    try:
                        limits = client.get(url + "/api/limits").json()
                        break
                    except httpx.TransportError:
                        if time.time() > end or server.poll() is not None:
                            raise SystemExit("the server did not start")
                        time.sleep(0.2)
                run_job(client, url, payload, 0.02, facts=True)  # loads the models
                singles = []
                for _ in range(args.single):  # in turn, so that both meet the same load on the machine
                    started = time.perf_counter()
                    pixrescue.save(fix(pixrescue.load(source)), f"{folder}/api.png", overwrite=True)
                    in_process.append(time.perf_counter() - started)
                    code, result, seconds, error = run_job(client, url, payload, 0.02, facts=True)
                    if result is None:
                        raise SystemExit(f"a single job failed: {code} {error}")
                    singles.append(seconds)

            outcomes, latencies = [], []
            lock = threading.Lock()

            def one_client():
                with httpx.Client(timeout=max(1.0, end - time.time())) as own:
                    mine: list[float] = []
                    try:
                        outcome = run_job(own, url, payload, 0.25, mine)
                    except httpx.HTTPError as exc:
                        outcome = (None, None, None, f"{type(exc).__name__}: {exc}")
                    with lock:
                        outcomes.append(outcome)
                        latencies.extend(mine)

            load_started = time.perf_counter()
            clients = [threading.Thread(target=one_client) for _ in range(args.clients)]
            for thread in clients:
                thread.start()
            for thread in clients:
                thread.join(max(0.0, end - time.time()))
            load_seconds = time.perf_counter() - load_started
            memory = peak_memory_gb(server.pid)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()

    done = [o for o in outcomes if o[1] is not None]
    same = sum(np.array_equal(pixels(o[1]), reference) for o in done)
    refused = sum(o[0] == 429 for o in outcomes)
    other = len(outcomes) - len(done) - refused
    lost = args.clients - len(outcomes)
    print(f"server: {limits['workers']} workers, capacity {limits['capacity']} jobs; {os.cpu_count()} CPUs; "
          f"1224x816 JPEG q20 ({len(payload):,} bytes)")
    print("| measure | value |")
    print("|---|---|")
    print(f"| `pixrescue fix` command, wall | {cli_seconds:.2f} s |")
    print(f"| load + fix + save in one process, model loaded (median of {len(in_process)}) | "
          f"{statistics.median(in_process):.2f} s |")
    print(f"| upload-to-result, one job at a time (median of {len(singles)}) | {statistics.median(singles):.2f} s |")
    print(f"| {args.clients} clients at once: completed / identical to the CLI's pixels | {len(done)} / {same} |")
    print(f"| refused with 429 | {refused} |")
    print(f"| failed otherwise / lost (no answer in time) | {other} / {lost} |")
    print(f"| status requests while jobs ran: median / 95th percentile | "
          f"{1000 * statistics.median(latencies):.1f} / {1000 * np.percentile(latencies, 95):.1f} ms "
          f"({len(latencies)} requests) |")
    print(f"| load phase, wall | {load_seconds:.1f} s |")
    print(f"| server peak resident memory | {memory:.2f} GB |")
    failures = sorted({o[3] for o in outcomes if o[1] is None and o[0] != 429})
    for message in failures:
        print(f"failure: {message}")


if __name__ == "__main__":
    main()
