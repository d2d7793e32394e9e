"""Does the /ui page stay responsive under a live stream of 200 queries a second?

    python benchmarks/ui_stream_bench.py [--rate 200] [--seconds 20]

Starts ``dnsemu serve --http`` on the bundled estate (a process of its own, query log
off), opens ``/ui`` in headless Chromium (Debian's ``chromium`` and ``chromium-driver``),
and sends ``--rate`` queries a second with dnspython for ``--seconds`` (names and ECS
sources vary, so the view and answer kind change from row to row). Meanwhile it
measures, in the page:

* the main thread's lag: how late a 50 ms timer fires (p50, p95, max);
* how long the form takes to explain a name (click to answer shown), mid-stream;
* the time the page's script spends reading the stream and updating the table;

and prints them with the queries sent, shown in the live table, and dropped. The
target is a page that keeps its timers within a frame or two and answers the form
within a second; it is printed, never asserted.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import dns.edns
import dns.message
import dns.query

ROOT = Path(__file__).resolve().parent.parent

NAMES = [
    "mystorage.blob.core.windows.net",
    "fabrikamstore.blob.core.windows.net",
    "contoso-kv.vault.azure.net",
    "contoso-sql.database.windows.net",
    "contoso-web.azurewebsites.net",
    "hub-vm1.internal.cloudapp.net",
    "nosuch.privatelink.blob.core.windows.net",
]
SOURCES = [None, "10.0.2.4", "10.1.0.4", "10.2.0.4", "10.3.0.4"]

LAG_PROBE = """
window.__lags = [];
let last = performance.now();
setInterval(() => { const now = performance.now(); window.__lags.push(now - last - 50); last = now; }, 50);
"""


def start_server() -> tuple[subprocess.Popen[str], int, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dnsemu",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "--http-listen",
            "127.0.0.1:0",
            "--no-query-log",
            "--no-watch",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    udp = re.search(r"udp://127\.0\.0\.1:(\d+)", line)
    web = re.search(r"(http://127\.0\.0\.1:\d+)", line)
    if not udp or not web:
        proc.terminate()
        raise SystemExit(f"dnsemu did not start: {line!r}")
    return proc, int(udp.group(1)), web.group(1)


def send(port: int, rate: int, seconds: float, sent: list[int], stop: threading.Event) -> None:
    queries = []
    for name, source in itertools.product(NAMES, SOURCES):
        options = [dns.edns.ECSOption(source, 32)] if source else []
        queries.append(dns.message.make_query(name, "A", use_edns=0, options=options))
    start = time.perf_counter()
    for i, query in enumerate(itertools.cycle(queries)):
        if stop.is_set() or time.perf_counter() - start > seconds:
            return
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        try:
            dns.query.udp(query, "127.0.0.1", port=port, timeout=2)
            sent[0] += 1
        except Exception:  # a lost datagram is not the point here
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        raise SystemExit("needs headless Chromium: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    os.environ.setdefault("SE_OFFLINE", "true")
    proc, port, url = start_server()
    options = Options()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,800",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    stop = threading.Event()
    try:
        driver.get(url + "/ui")
        wait = WebDriverWait(driver, 60, poll_frequency=0.05)
        wait.until(lambda d: "Connected" in d.find_element(By.ID, "status").text)
        driver.execute_script(LAG_PROBE)
        sent = [0]
        sender = threading.Thread(target=send, args=(port, args.rate, args.seconds, sent, stop), daemon=True)
        sender.start()
        time.sleep(args.seconds / 2)
        driver.find_element(By.ID, "q-name").send_keys("mystorage.blob.core.windows.net")
        driver.find_element(By.ID, "q-from").send_keys("spoke2")
        clicked = time.perf_counter()
        driver.find_element(By.ID, "q-submit").click()
        wait.until(lambda d: "10.0.1.4" in d.find_element(By.ID, "dig").text)
        explain_s = time.perf_counter() - clicked
        sender.join()
        time.sleep(1.0)  # the last batch
        lags = driver.execute_script("return window.__lags")
        shown = driver.execute_script("return document.querySelectorAll('#queries tbody tr').length")
        counts = driver.find_element(By.ID, "live-count").text
        work = driver.execute_script("return window.dnsemuWork")
    finally:
        stop.set()
        driver.quit()
        proc.terminate()
        proc.wait(timeout=10)
    lags = sorted(max(0.0, lag) for lag in lags) or [0.0]
    p95 = lags[min(len(lags) - 1, int(len(lags) * 0.95))]
    print(
        f"stream: {sent[0]} queries sent in {args.seconds:g} s ({sent[0] / args.seconds:.0f}/s); page: {counts}; "
        f"{shown} rows kept"
    )
    print(
        f"main-thread lag of a 50 ms timer: p50 {statistics.median(lags):.1f} ms, p95 {p95:.1f} ms, "
        f"max {lags[-1]:.1f} ms ({len(lags)} ticks)"
    )
    print(f"explain from the form, mid-stream: {explain_s * 1000:.0f} ms from click to answer shown")
    print(
        f"the page's own work on the stream: {work['parseMs']:.0f} ms reading {work['batches']} batches, "
        f"{work['flushMs']:.0f} ms updating the table ({(work['parseMs'] + work['flushMs']) / args.seconds:.1f} "
        "ms per second of stream)"
    )


if __name__ == "__main__":
    main()
