"""Serving benchmark over the REST channel: latency, throughput, memory and cold start.

Starts the action server and the Rasa server as `make run` does (SQLite tracker store,
in-memory lock store, one Sanic worker), then runs realistic multi-turn conversations
(bench/conversations.py) with 1, 8 and 50 concurrent users for a fixed time each and prints
p50/p95/p99 latency per message, messages per second, and the servers' resident memory.

    python -m bench.serve [--model models/retorno.tar.gz] [--seconds 20] [--users 1 8 50]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Dict, List

import aiohttp

from actions.services.yamlfiles import PROJECT_ROOT
from bench.conversations import CONVERSATIONS


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, from /proc (Linux)."""
    total = 0
    pids = [pid] + [int(p) for p in
                    Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def percentile(values: List[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def user(session: aiohttp.ClientSession, url: str, stop_at: float,
               latencies: List[float], offset: int) -> None:
    for conversation in itertools.islice(itertools.cycle(CONVERSATIONS), offset, None):
        sender = f"bench-{uuid.uuid4().hex}"
        for text in conversation:
            if time.monotonic() >= stop_at:
                return
            started = time.perf_counter()
            async with session.post(url, json={"sender": sender, "message": text}) as reply:
                await reply.read()
                if reply.status != 200:
                    raise RuntimeError(f"HTTP {reply.status}")
            latencies.append((time.perf_counter() - started) * 1000)


async def load(url: str, users: int, seconds: float) -> Dict[str, float]:
    latencies: List[float] = []
    connector = aiohttp.TCPConnector(limit=users)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        await asyncio.gather(*(user(session, url, started + seconds, latencies, i)
                               for i in range(users)))
        elapsed = time.monotonic() - started
    return {"messages": len(latencies), "msg_per_s": len(latencies) / elapsed,
            "p50": percentile(latencies, 0.50), "p95": percentile(latencies, 0.95),
            "p99": percentile(latencies, 0.99), "mean": statistics.mean(latencies)}


async def first_answer(url: str, process: subprocess.Popen, timeout: float = 300) -> float:
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while time.monotonic() - started < timeout:
            if process.poll() is not None:
                raise RuntimeError("the Rasa server exited during start-up")
            try:
                async with session.post(url, json={"sender": "warmup", "message": "hola"}) as r:
                    if r.status == 200 and await r.json():
                        return time.monotonic() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError("no answer from the Rasa server")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(PROJECT_ROOT / "models" / "retorno.tar.gz"))
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--users", type=int, nargs="+", default=[1, 8, 50])
    parser.add_argument("--rasa-port", type=int, default=5105)
    parser.add_argument("--action-port", type=int, default=5155)
    parser.add_argument("--production", action="store_true",
                        help="PostgreSQL tracker store, Redis lock store, 2 Sanic workers "
                             "(bot/endpoints.production.yml) instead of the local default")
    parser.add_argument("--memory", action="store_true",
                        help="in-memory tracker store (nothing persisted), one worker")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/retorno_bench")
    args = parser.parse_args()

    from actions.storage.crypto import generate_key

    workdir = Path(tempfile.mkdtemp(prefix="retorno-bench-"))
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
           "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{args.action_port}/webhook",
           "TRACKER_STORE_DIALECT": "sqlite",
           "TRACKER_STORE_URL": f"sqlite:///{workdir / 'tracker.db'}",
           "DATABASE_URL": f"sqlite:///{workdir / 'retorno.db'}",
           "RETORNO_DATA_KEYS": os.environ.get("RETORNO_DATA_KEYS") or generate_key(),
           "RETORNO_ID_KEY": os.environ.get("RETORNO_ID_KEY") or generate_key()}
    from actions.storage.migrate import upgrade

    upgrade(env["DATABASE_URL"])
    endpoints = "bot/endpoints.yml"
    if args.production:
        endpoints = "bot/endpoints.production.yml"
        database = args.postgres.rsplit("/", 1)[1]
        subprocess.run(["psql", args.postgres.rsplit("/", 1)[0] + "/postgres", "-qc",
                        f"DROP DATABASE IF EXISTS {database}"], check=True)
        subprocess.run(["psql", args.postgres.rsplit("/", 1)[0] + "/postgres", "-qc",
                        f"CREATE DATABASE {database}"], check=True)
        env.update(TRACKER_STORE_URL=args.postgres, REDIS_HOST="127.0.0.1", REDIS_PORT="6379",
                   REDIS_DB="3", SANIC_WORKERS="2")
    if args.memory:
        endpoints = str(workdir / "endpoints.yml")
        Path(endpoints).write_text("action_endpoint:\n  url: ${ACTION_ENDPOINT_URL}\n")
    print(f"setup: {endpoints}, SANIC_WORKERS={env.get('SANIC_WORKERS', '1')}")
    bin_dir = Path(sys.executable).parent
    actions = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port",
         str(args.action_port)], cwd=PROJECT_ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rasa = subprocess.Popen(
        [str(bin_dir / "rasa"), "run", "--model", args.model, "--endpoints",
         endpoints, "--credentials", "bot/credentials.yml", "--port",
         str(args.rasa_port)], cwd=PROJECT_ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{args.rasa_port}/webhooks/rest/webhook"
    try:
        cold = asyncio.run(first_answer(url, rasa))
        print(f"cold start to first answer: {cold:.1f} s (process start to first reply)")
        print(f"RSS after start: rasa {rss_mb(rasa.pid):.0f} MB, "
              f"action server {rss_mb(actions.pid):.0f} MB")
        print(f"\n{'users':>5} {'messages':>9} {'msg/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
              f"{'p99 ms':>7}")
        for users in args.users:
            r = asyncio.run(load(url, users, args.seconds))
            print(f"{users:>5} {r['messages']:>9} {r['msg_per_s']:>7.1f} {r['p50']:>7.1f} "
                  f"{r['p95']:>7.1f} {r['p99']:>7.1f}")
        print(f"\nRSS after load: rasa {rss_mb(rasa.pid):.0f} MB, "
              f"action server {rss_mb(actions.pid):.0f} MB")
    finally:
        for process in (rasa, actions):
            process.terminate()
            process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
