"""Shared fixtures for black-box tests: real `tresor` server processes on free loopback
ports, driven by our CLI (build/vault) and by hvac.

Every server a test starts is stopped when the test (or module) ends, including on failure.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

BUILD_DIR = os.environ.get(
    "TRESOR_BUILD_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "build")))
TRESOR = os.path.join(BUILD_DIR, "tresor")
VAULT = os.path.join(BUILD_DIR, "vault")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(addr, timeout=15.0, proc=None):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            requests.get(addr + "/v1/sys/seal-status", timeout=1)
            return
        except requests.RequestException as e:  # not up yet
            last = e
            time.sleep(0.05)
    raise RuntimeError(f"server at {addr} did not come up: {last}")


class Server:
    """One `tresor server` process. Use start()/stop()/kill(); logs go to a file."""

    def __init__(self, args, addr, workdir, env=None):
        self.args = args
        self.addr = addr
        self.workdir = workdir
        self.env = dict(os.environ, **(env or {}))
        self.env.setdefault("HOME", workdir)
        self.proc = None
        self.log_path = os.path.join(workdir, f"server-{len(os.listdir(workdir))}.log")
        self.root_token = None
        self.unseal_keys = None

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([TRESOR, "server"] + self.args, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=self.env, cwd=self.workdir)
        if wait:
            wait_for_http(self.addr, proc=self.proc)
        return self

    def stop(self, timeout=10):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.log.close()

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def cli(self, *args, token=None, input=None, env=None, check=False, timeout=30):
        """Runs build/vault against this server; returns CompletedProcess (text)."""
        e = dict(os.environ)
        e["VAULT_ADDR"] = self.addr
        e["HOME"] = self.workdir
        e.pop("VAULT_TOKEN", None)
        if token is not None:
            e["VAULT_TOKEN"] = token
        if env:
            e.update(env)
        return subprocess.run([VAULT] + list(args), capture_output=True, text=True, input=input,
                              env=e, check=check, timeout=timeout)

    def client(self, token=None):
        import hvac
        return hvac.Client(url=self.addr, token=token if token is not None else self.root_token)

    def init(self, shares=5, threshold=3):
        r = requests.put(self.addr + "/v1/sys/init",
                         json={"secret_shares": shares, "secret_threshold": threshold})
        r.raise_for_status()
        body = r.json()
        self.root_token = body["root_token"]
        self.unseal_keys = body["keys"]
        return body

    def unseal(self, keys=None):
        body = None
        for k in (keys or self.unseal_keys)[: len(keys or self.unseal_keys)]:
            body = requests.put(self.addr + "/v1/sys/unseal", json={"key": k}).json()
            if not body.get("sealed", True):
                break
        return body


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="tresor-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def start_dev(workdir, root_token="root", extra=None):
    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    args = ["-dev", f"-dev-listen-address=127.0.0.1:{port}", f"-dev-root-token-id={root_token}"]
    s = Server(args + (extra or []), addr, workdir)
    s.root_token = root_token
    return s.start()


@pytest.fixture
def dev_server(workdir):
    """A fresh dev server (in memory, unsealed, root token "root", secret/ = kv v2)."""
    s = start_dev(workdir)
    yield s
    s.stop()


def write_config(workdir, storage_block, port, extra=""):
    cfg = os.path.join(workdir, "config.hcl")
    with open(cfg, "w") as f:
        f.write(f'''
storage {storage_block}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  tls_disable = 1
}}
disable_mlock = true
{extra}
''')
    return cfg


@pytest.fixture
def file_server(workdir):
    """A persistent single node (`storage "file"`), not yet initialised."""
    port = free_port()
    data = os.path.join(workdir, "data")
    cfg = write_config(workdir, f'"file" {{ path = "{data}" }}', port)
    s = Server([f"-config={cfg}"], f"http://127.0.0.1:{port}", workdir)
    s.data_dir = data
    s.start()
    yield s
    s.stop()
