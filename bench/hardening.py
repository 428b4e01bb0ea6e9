"""Nothing before auth, under a flood: 1,000 concurrent unauthenticated POSTs with 1 MB bodies and random
``Idempotency-Key``s against a real server process (SQLite, loopback only).

Each client opens its own connection, sends the request head and its 1 MB body, and reads the answer. The
server must answer 401 from the head alone: its memory stays flat (RSS before and after the flood, and the
peak, from /proc) and no row is written (idempotency records and messages counted in the database).

Baseline, same run: the same flood with empty bodies (what 1,000 connections cost the server anyway).
Printed: answers by outcome ("closed" = the server answered 401 and closed before the client could read
it, its body unsent), server RSS before / after / peak in MiB for the baseline and two 1 MB floods, the
growth as a ratio of the baseline's; rows written. ``BENCH_FLOOD_REQUESTS`` (default 1000), ``BENCH_FLOOD_BYTES``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from desk.db import make_engine, migrate
from desk.models import IdempotencyRecord, Message
from testkit.live import ROOT, free_port, make_settings, process_env, wait_for

REQUESTS = int(os.environ.get("BENCH_FLOOD_REQUESTS", "1000"))
BODY_BYTES = int(os.environ.get("BENCH_FLOOD_BYTES", str(1_000_000)))
_SERVER = (
    "import logging, uvicorn; from api.app import create_app; from ground.settings import Settings; "
    "logging.basicConfig(level=logging.WARNING); "
    "uvicorn.run(create_app(Settings()), host='127.0.0.1', port={port}, log_level='warning', access_log=False, "
    "backlog=2048)"
)


def _rss(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process, MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def _one(port: int, body: bytes, gate: asyncio.Semaphore) -> str:
    head = (f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nIdempotency-Key: {uuid.uuid4()}\r\n\r\n").encode()
    async with gate:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 60)
        except (OSError, TimeoutError) as exc:
            return f"connect failed ({type(exc).__name__})"
        try:
            writer.write(head + body)
            line = await asyncio.wait_for(reader.readline(), 60)
            return line.decode().split(" ")[1] if line else "closed before answering"
        except (OSError, TimeoutError, IndexError) as exc:
            return f"closed ({type(exc).__name__})"
        finally:
            writer.close()


async def _flood(port: int, body: bytes) -> Counter[str]:
    gate = asyncio.Semaphore(REQUESTS)  # all at once: the point is concurrency
    return Counter(await asyncio.gather(*(_one(port, body, gate) for _ in range(REQUESTS))))


def _rows(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        return (int(session.exec(select(func.count()).select_from(IdempotencyRecord)).one()),
                int(session.exec(select(func.count()).select_from(Message)).one()))


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="replydesk-bench-flood-"))
    settings = make_settings(workdir, worker_enabled=False, relay_enabled=False)
    migrate(settings)
    engine = make_engine(settings)
    port = free_port()
    env = process_env(settings, worker_enabled="false", relay_enabled="false")
    server = subprocess.Popen([sys.executable, "-c", _SERVER.replace("{port}", str(port))], cwd=ROOT, env=env)
    try:
        wait_for(lambda: _up(port), timeout=120, interval=0.2)
        start, _ = _rss(server.pid)
        print(f"flood: {REQUESTS} concurrent unauthenticated POST /v1/messages, random Idempotency-Key each; "
              f"server RSS at start {start:.1f} MiB; load {os.getloadavg()[0]:.2f}")
        results = {}
        big = b"x" * BODY_BYTES
        for label, body in (("baseline (empty bodies)", b""), (f"{BODY_BYTES / 1e6:g} MB bodies", big),
                            (f"{BODY_BYTES / 1e6:g} MB bodies again", big)):
            before, _ = _rss(server.pid)
            outcomes = asyncio.run(_flood(port, body))
            after, peak = _rss(server.pid)
            results[label] = after - before
            print(f"    {label:<24} answers {dict(outcomes)}  RSS {before:.1f} -> {after:.1f} MiB "
                  f"(+{after - before:.1f}), peak so far {peak:.1f} MiB")
        base, flood, again = results.values()
        records, messages = _rows(engine)
        print(f"    RSS growth: 1 MB flood {flood:+.1f} MiB, a second one {again:+.1f} MiB, vs the empty-body baseline "
              f"{base:+.1f} MiB (ratio {(flood + again) / 2 / max(base, 1.0):.2f}x baseline); rows written: {records} "
              f"idempotency records, {messages} messages; load {os.getloadavg()[0]:.2f}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


def _up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
