"""Prediction-cache benchmark (#16): what a cache of scores would save against the compiled
scorer, measured before building one.

A cache hit skips :meth:`Predictor.score` and pays instead for a key (the record's feature
fields and the champion's version, canonical JSON hashed with blake2b) and a lookup. So this
measures, on the same rows (the bento's OpenAPI example with tenure and charges varied):

- in process: ``CompiledScorer.predict_proba([record])`` and ``Predictor.score`` for one
  record (the champion loaded from the bento's model folder by ``load_predictor``, as the
  service loads it); the key alone; key + ``dict`` hit; key + ``cachetools.LRUCache`` hit
  (cachetools is already in the lock as a dependency of a dependency; skipped if absent);
- networked: a Redis ``GET`` round trip if ``redis-server`` is on the PATH (started here on a
  free port, nothing saved); without it, the same RESP ``GET`` sent to a loopback TCP server
  that answers a fixed 8-byte value without doing any work: the floor of any networked cache,
  Redis included. Blocking client and ``asyncio`` client (the service's handler is async);
- over HTTP: ``/predict`` on the home's bento (``bentoml serve``, 1 worker,
  ``benchmarks/loadgen.py`` at concurrency 1), so the saving can be put against a request.

Then, for each ``--hit-rate`` h, the expected saving per request
``h * (score - lookup) - (1 - h) * lookup`` from the p50s. It is optimistic for the cache: a
miss also pays for storing the score (a second round trip for a networked cache).

Needs a home with a built bento (``make demo``)::

    uv run --frozen python benchmarks/prediction_cache.py --home .churn

Prints one JSON object on one line, then markdown tables.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LOADGEN = Path(__file__).resolve().parent / "loadgen.py"
HIT_RATES = (0.0, 0.1, 0.5, 0.9)
VALUE = b"0.123456"  # what a cache would hold: a score (8 bytes, as Redis would store it)

# A server that answers every RESP command with the same bulk string and does nothing else.
# Its own process, as a cache server would be (in this one it would share our GIL).
_NULL_CACHE = r"""
import socket, sys
reply = b"$8\r\n" + sys.argv[2].encode() + b"\r\n"
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(8)
while True:
    conn, _ = srv.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while conn.recv(65536):
        conn.sendall(reply)
    conn.close()
"""


# --------------------------------------------------------------------------- pure logic
def cache_key(record: Mapping[str, Any], feature_columns: Sequence[str], version: str) -> bytes:
    """The key a cache of scores needs: the fields the score depends on (not the customer
    id: it is echoed, not scored) and the model version, so a new champion misses instead of
    serving the old one's scores. Sorted keys: the client's field order does not matter."""
    import hashlib

    import orjson

    fields = {column: record.get(column) for column in feature_columns}
    canonical = orjson.dumps(
        {"model_version": version, "fields": fields}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.blake2b(canonical, digest_size=16).digest()


def expected_saving(hit_rate: float, score_cost: float, lookup_cost: float) -> float:
    """Time saved per request on average: a hit saves the score but pays the lookup, a miss
    pays the lookup on top of the score. Negative: the cache costs more than it saves."""
    if not 0.0 <= hit_rate <= 1.0:
        raise ValueError(f"hit_rate must be in [0, 1], got {hit_rate}")
    return hit_rate * (score_cost - lookup_cost) - (1.0 - hit_rate) * lookup_cost


def break_even_hit_rate(score_cost: float, lookup_cost: float) -> float | None:
    """The hit rate above which the cache saves time (``None``: never, at any hit rate)."""
    return lookup_cost / score_cost if score_cost > lookup_cost else None


def _resp_get(key: bytes) -> bytes:
    hexkey = key.hex().encode()
    return b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(hexkey), hexkey)


def _resp_set(key: bytes, value: bytes) -> bytes:
    hexkey = key.hex().encode()
    return b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
        len(hexkey),
        hexkey,
        len(value),
        value,
    )


# --------------------------------------------------------------------------- measuring
def _stats(name: str, seconds: list[float], note: str = "") -> dict[str, Any]:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "name": name,
        "calls": len(ordered),
        "p50_us": round(statistics.median(ordered) * 1e6, 2),
        "p99_us": round(p99 * 1e6, 2),
        "note": note,
    }


def _timed(fn: Callable[[Any], Any], args: Sequence[Any], calls: int) -> list[float]:
    """Seconds per call of ``fn(args[i % len(args)])``, after a warm-up pass over ``args``."""
    clock = time.perf_counter
    for a in args:
        fn(a)
    out = []
    n = len(args)
    for i in range(calls):
        a = args[i % n]
        started = clock()
        fn(a)
        out.append(clock() - started)
    return out


def _rows(example: dict[str, Any], n: int) -> list[dict[str, Any]]:
    return [
        {
            **example,
            "customerID": f"{i:07d}-CACHE",
            "tenure": i % 72,
            "MonthlyCharges": round(20 + (i * 0.37) % 100, 2),
            "TotalCharges": round((i % 72) * (20 + (i * 0.37) % 100), 2),
        }
        for i in range(n)
    ]


@contextlib.contextmanager
def _cache_server() -> Iterator[tuple[int, str]]:
    """A Redis on a free port if there is one on the PATH, else the null cache above."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    redis = shutil.which("redis-server")
    if redis:
        cmd = [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        cmd, kind = [*cmd, "no"], "Redis"
    else:
        cmd = [sys.executable, "-c", _NULL_CACHE, str(port), VALUE.decode()]
        kind = "null TCP server"  # no redis-server on this machine
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"{kind}: the cache server did not start on {port}") from None
                time.sleep(0.05)
        yield port, kind
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _read_reply(sock: socket.socket) -> bytes:
    data = sock.recv(65536)
    while not data.endswith(b"\r\n") or (data.startswith(b"$") and data.count(b"\r\n") < 2):
        data += sock.recv(65536)
    return data


def _networked(
    rows: list[dict[str, Any]], key_of: Callable[[dict[str, Any]], bytes], calls: int
) -> list[dict[str, Any]]:
    """Key + GET round trip to a cache server, per record: blocking socket and asyncio."""
    import asyncio

    with _cache_server() as (port, kind):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for row in rows:  # a real Redis then answers every GET with a value, as a hit
            sock.sendall(_resp_set(key_of(row), VALUE))
            _read_reply(sock)

        def get(row: dict[str, Any]) -> bytes:
            sock.sendall(_resp_get(key_of(row)))
            return _read_reply(sock)

        if get(rows[0]) != b"$8\r\n" + VALUE + b"\r\n":
            raise SystemExit(f"{kind}: unexpected reply to GET")
        blocking = _timed(get, rows, calls)
        sock.close()

        async def run() -> list[float]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            out, clock, n = [], time.perf_counter, len(rows)
            for i in range(calls + n):  # the first pass over the rows is a warm-up
                started = clock()
                writer.write(_resp_get(key_of(rows[i % n])))
                await reader.readuntil(b"\r\n")
                await reader.readuntil(b"\r\n")
                if i >= n:
                    out.append(clock() - started)
            writer.close()
            await writer.wait_closed()
            return out

        asynchronous = asyncio.run(run())
    note = "networked lookup" + ("" if kind == "Redis" else " (floor: no redis-server here)")
    return [
        _stats(f"key + GET, {kind}, blocking client", blocking, note),
        _stats(f"key + GET, {kind}, asyncio client", asynchronous, note),
    ]


def in_process(folder: Path, rows: list[dict[str, Any]], calls: int) -> list[dict[str, Any]]:
    from churn_assets.lib.serving.predictor import load_predictor

    predictor, contract = load_predictor(folder)
    scorer, version = predictor.champion, predictor.meta.champion.version
    features = contract.feature_columns
    keys = [cache_key(r, features, version) for r in rows]
    if len(set(keys)) != len(rows):
        raise SystemExit("the benchmark's rows are not distinct: their keys collide")
    table = dict.fromkeys(keys, 0.5)
    tuple_table = {(version, *map(r.get, features)): 0.5 for r in rows}
    results = [
        _stats(
            "CompiledScorer.predict_proba, 1 record",
            _timed(lambda r: scorer.predict_proba([r]), rows, calls),
        ),
        _stats(
            "Predictor.score, 1 record",
            _timed(lambda r: predictor.score([r], "bench"), rows, calls),
            "what a hit skips",
        ),
        _stats(
            "key: orjson sorted + blake2b",
            _timed(lambda r: cache_key(r, features, version), rows, calls),
        ),
        _stats(
            "key + dict hit",
            _timed(lambda r: table[cache_key(r, features, version)], rows, calls),
            "in-process lookup",
        ),
        _stats(
            "tuple key + dict hit",
            _timed(lambda r: tuple_table[(version, *map(r.get, features))], rows, calls),
            "in-process lookup, cheapest key",
        ),
    ]
    try:
        from cachetools import LRUCache
    except ImportError:
        results.append({"name": "key + cachetools.LRUCache hit", "note": "cachetools absent"})
    else:
        lru: LRUCache[bytes, float] = LRUCache(maxsize=len(keys))
        lru.update(table)
        timed = _timed(lambda r: lru[cache_key(r, features, version)], rows, calls)
        results.append(_stats("key + cachetools.LRUCache hit", timed, "in-process lookup"))
    results += _networked(rows, lambda r: cache_key(r, features, version), calls)
    return results


def over_http(home: Path, example: dict[str, Any], seconds: float) -> dict[str, Any]:
    from benchmarks.serving_servers import Server, bentoml_binary, running, serve_env

    bentoml_bin = bentoml_binary()
    work = Path(tempfile.mkdtemp(prefix="churn-bench-cache-"))
    env = serve_env(home, work)
    body = work / "one.json"
    body.write_text(json.dumps(example))
    server = Server(
        "churn_service (1 worker)", "churn_service:latest", 1, env, work, work / "serve.log"
    )
    try:
        with running(server, bentoml_bin, body.read_bytes(), ours=True) as served:
            cmd = [sys.executable, str(LOADGEN), "--url", f"http://127.0.0.1:{served.port}/predict"]
            cmd += ["--body", str(body), "--concurrency", "1", "--seconds", str(seconds)]
            cmd += ["--warmup", "300", "--pids", ",".join(map(str, served.pids()))]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = json.loads(out.stdout)
    if report["errors"]:
        raise SystemExit(f"/predict answered errors: {report['error_kinds']}")
    keep = ("requests", "req_per_s", "p50_ms", "p99_ms", "server_cpu_ms_per_req", "other_cpu_cores")
    return {k: report.get(k) for k in keep}


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", help="CHURN_HOME (default: $CHURN_HOME, else .churn)")
    parser.add_argument("--rows", type=int, default=1_000, help="distinct records cycled")
    parser.add_argument("--calls", type=int, default=20_000, help="timed calls per operation")
    parser.add_argument("--seconds", type=float, default=5.0, help="HTTP measurement window")
    parser.add_argument("--hit-rate", type=float, nargs="+", default=list(HIT_RATES))
    parser.add_argument("--no-http", action="store_true", help="in-process numbers only")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from benchmarks.serving import _bento_model, _resolve_home
    from benchmarks.serving_servers import machine_info

    home = _resolve_home(args.home)
    _, model_tag, folder = _bento_model(home)
    example = json.loads((folder / "serving.json").read_text())["example"]
    machine = machine_info()
    results = in_process(folder, _rows(example, args.rows), args.calls)
    print("  in-process numbers done", file=sys.stderr, flush=True)
    http = None if args.no_http else over_http(home, example, args.seconds)

    by_name = {r["name"]: r for r in results}
    score_us = by_name["Predictor.score, 1 record"]["p50_us"]
    lookups = [r for r in results if "lookup" in r.get("note", "")]
    savings = []
    for lookup in lookups:
        for h in args.hit_rate:
            saved = expected_saving(h, score_us, lookup["p50_us"])
            row = {"lookup": lookup["name"], "hit_rate": h, "saving_us": round(saved, 2)}
            if http:
                row["share_of_http_p50"] = round(saved / (http["p50_ms"] * 1000), 4)
            savings.append(row)
    break_even = {r["name"]: break_even_hit_rate(score_us, r["p50_us"]) for r in lookups}
    print(
        json.dumps(
            {
                "machine": machine,
                "model": model_tag,
                "in_process": results,
                "http": http,
                "savings": savings,
                "break_even_hit_rate": break_even,
            }
        )
    )
    print()
    print("| operation | p50 µs | p99 µs | note |")
    print("|---|---:|---:|---|")
    for r in results:
        print(f"| {r['name']} | {r.get('p50_us', '-')} | {r.get('p99_us', '-')} | {r['note']} |")
    if http:
        cpu = f"server CPU {http['server_cpu_ms_per_req']} ms/request"
        p50, p99 = http["p50_ms"] * 1000, http["p99_ms"] * 1000
        name = "HTTP /predict, 1 worker, concurrency 1"
        print(f"| {name} | {p50:.0f} | {p99:.0f} | {http['req_per_s']} req/s, {cpu} |")
    print()
    print("| lookup | hit rate | saving per request µs | of HTTP p50 |")
    print("|---|---:|---:|---:|")
    for s in savings:
        share = f"{s['share_of_http_p50']:.1%}" if "share_of_http_p50" in s else "-"
        print(f"| {s['lookup']} | {s['hit_rate']:.0%} | {s['saving_us']} | {share} |")
    print()
    for name, h in break_even.items():
        print(f"break-even hit rate, {name}: {'never' if h is None else f'{h:.0%}'}")


if __name__ == "__main__":
    main()
