#!/usr/bin/env python3
"""KV v2 writes against a 3-process raft cluster on loopback, and failover time.

Usage: bench/raft_cluster/run.py [seconds] (needs build/tresor, wrk, python3 requests).
Env TRESOR_BUILD_DIR picks another build directory.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("TRESOR_BUILD_DIR", os.path.join(HERE, "..", "..", "build"))
TRESOR = os.path.join(BUILD, "tresor")
SECS = int(sys.argv[1]) if len(sys.argv) > 1 else 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(workdir, i, ports):
    d = os.path.join(workdir, f"n{i}")
    os.makedirs(d, exist_ok=True)
    api, cl = ports
    with open(os.path.join(d, "c.hcl"), "w") as f:
        f.write(f'''storage "raft" {{
  path = "{d}/data"
  node_id = "n{i}"
  performance_multiplier = 1
{RAFT_EXTRA}
}}
listener "tcp" {{
  address = "127.0.0.1:{api}"
  tls_disable = 1
}}
api_addr = "http://127.0.0.1:{api}"
cluster_addr = "http://127.0.0.1:{cl}"
log_level = "{os.environ.get('BENCH_LOG_LEVEL', 'warn')}"
''')
    p = subprocess.Popen([TRESOR, "server", f"-config={d}/c.hcl"], stdout=open(f"{d}/log", "ab"),
                         stderr=subprocess.STDOUT)
    addr = f"http://127.0.0.1:{api}"
    for _ in range(200):
        try:
            requests.get(addr + "/v1/sys/seal-status", timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.05)
    return p, addr


def wait(pred, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if pred():
                return True
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise SystemExit("timed out")


RAFT_EXTRA = os.environ.get("BENCH_RAFT_CONFIG", "")
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))


def wrk(addr, token, label, secs=None):
    env = dict(os.environ, VAULT_TOKEN=token)
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{secs or SECS}s", "--latency", "-s", os.path.join(HERE, "post.lua"),
                          addr], capture_output=True, text=True, env=env).stdout
    rps = next((l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec")), "?")
    lat = {l.split()[0]: l.split()[1] for l in out.splitlines() if l.strip().startswith(("50%", "99%"))}
    errs = [l.strip() for l in out.splitlines() if "Non-2xx" in l or "Socket errors" in l]
    print(f"{label:32s} {rps:>10s} writes/s   p50 {lat.get('50%', '?'):>8s}   p99 {lat.get('99%', '?'):>8s}  {' '.join(errs)}")


def main():
    workdir = tempfile.mkdtemp(prefix="tresor-raft-bench-")
    procs = []
    try:
        ports = [(free_port(), free_port()) for _ in range(3)]
        nodes = [start(workdir, i, ports[i]) for i in range(3)]
        procs = [p for p, _ in nodes]
        addrs = [a for _, a in nodes]
        init = requests.put(addrs[0] + "/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}).json()
        key, token = init["keys"][0], init["root_token"]
        requests.put(addrs[0] + "/v1/sys/unseal", json={"key": key})
        wait(lambda: requests.get(addrs[0] + "/v1/sys/leader").json().get("is_self"))
        h = {"X-Vault-Token": token}
        requests.post(addrs[0] + "/v1/sys/mounts/secret", headers=h, json={"type": "kv", "options": {"version": "2"}})
        for a in addrs[1:]:
            r = requests.post(a + "/v1/sys/storage/raft/join", json={"leader_api_addr": addrs[0]})
            r.raise_for_status()
            assert requests.put(a + "/v1/sys/unseal", json={"key": key}).json()["sealed"] is False
        wait(lambda: sum(s["voter"] for s in requests.get(addrs[0] + "/v1/sys/storage/raft/configuration",
                                                            headers=h).json()["data"]["config"]["servers"]) == 3)
        print(f"3-node cluster up ({workdir}); wrk -t2 -c64 -d{SECS}s, KV v2 writes, 100-byte values")
        # Each case first runs WARMUP seconds on its own line: new connections, and on a standby
        # its pool of forwarding connections (TLS handshakes with the active) being opened.
        for addr, label in ((addrs[0], "through the active node"), (addrs[1], "through a standby (forwarded)")):
            if WARMUP > 0:
                wrk(addr, token, f"  first {WARMUP} s (warm-up)", WARMUP)
            wrk(addr, token, label)

        # Failover: kill -9 the leader, time to the first acknowledged write via a survivor.
        procs[0].send_signal(signal.SIGKILL)
        t0 = time.time()
        i = 0
        while True:
            i += 1
            try:
                r = requests.post(addrs[1] + f"/v1/secret/data/failover/{i}", headers=h,
                                  json={"data": {"v": "x"}}, timeout=2)
                if r.status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.01)
        print(f"failover (kill -9 leader -> first acknowledged write): {time.time() - t0:.2f} s")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if os.environ.get("BENCH_KEEP"):
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
