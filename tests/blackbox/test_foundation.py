"""Issue 2's bad-input, restart and durability cases on a persistent single node."""
import os
import subprocess
import threading
import time

import requests

from conftest import TRESOR, Server, free_port, write_config


def new_node(workdir):
    port = free_port()
    data = os.path.join(workdir, "data")
    cfg = write_config(workdir, f'"file" {{ path = "{data}" }}', port)
    s = Server([f"-config={cfg}"], f"http://127.0.0.1:{port}", workdir)
    s.data_dir = data
    return s.start()


def test_bad_inputs_get_vault_errors(workdir):
    s = new_node(workdir)
    try:
        a = s.addr
        assert requests.get(a + "/v1/secret/x").status_code == 503
        assert requests.get(a + "/v1/secret/x").json() == {"errors": ["Vault is sealed"]}
        r = requests.put(a + "/v1/sys/init", data="{not json")
        assert r.status_code == 400
        s.init(5, 3)
        r = requests.put(a + "/v1/sys/init", json={"secret_shares": 5, "secret_threshold": 3})
        assert (r.status_code, r.json()) == (400, {"errors": ["Vault is already initialized"]})
        # Wrong key at the threshold: 400 and progress reset.
        requests.put(a + "/v1/sys/unseal", json={"key": s.unseal_keys[0]})
        requests.put(a + "/v1/sys/unseal", json={"key": s.unseal_keys[1]})
        r = requests.put(a + "/v1/sys/unseal", json={"key": "00" * 33})
        assert r.status_code == 400
        assert requests.get(a + "/v1/sys/seal-status").json()["progress"] == 0
        s.unseal(s.unseal_keys[2:5])
        h = {"X-Vault-Token": s.root_token}
        assert requests.get(a + "/v1/nope/x", headers=h).status_code == 404
        r = requests.put(a + "/v1/sys/mounts/kv1", headers=h, data="{\"type\": ")
        assert r.status_code == 400
        r = requests.put(a + "/v1/sys/mounts/kv1", headers=h, data="x" * (33 << 20))
        assert r.status_code == 413
    finally:
        s.stop()


def test_restart_sealed_data_survives_and_nothing_readable_on_disk(workdir):
    s = new_node(workdir)
    s.init(5, 3)
    s.unseal(s.unseal_keys[:3])
    c = s.client()
    c.sys.enable_secrets_engine("kv", path="kv", options={"version": "1"})
    secret = "tresor-canary-7f3a9c"
    c.secrets.kv.v1.create_or_update_secret("app/db", {"password": secret}, mount_point="kv")
    # kill -9 while four writers are busy: every write acknowledged before the kill survives.
    acked = []
    lock = threading.Lock()

    def writer(n):
        c2 = s.client()
        i = 0
        while True:
            key = f"load/{n}-{i}"
            try:
                c2.secrets.kv.v1.create_or_update_secret(key, {"v": str(i)}, mount_point="kv")
            except Exception:  # the server died under us; this write is not acknowledged
                return
            with lock:
                acked.append(key)
            i += 1

    ts = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in ts:
        t.start()
    deadline = time.time() + 10
    while len(acked) < 200 and time.time() < deadline:
        time.sleep(0.05)
    s.kill()
    for t in ts:
        t.join()
    assert len(acked) >= 200
    s.start()
    st = requests.get(s.addr + "/v1/sys/seal-status").json()
    assert st["sealed"] is True and st["initialized"] is True
    s.unseal(s.unseal_keys[2:5])
    assert c.secrets.kv.v1.read_secret("app/db", mount_point="kv")["data"]["password"] == secret
    for k in acked:
        assert c.secrets.kv.v1.read_secret(k, mount_point="kv")["data"]["v"]
    s.stop()
    r = subprocess.run(["grep", "-r", "-a", "-c", secret, s.data_dir], capture_output=True, text=True)
    assert all(line.endswith(":0") for line in r.stdout.splitlines()), r.stdout


def test_broken_config_exits_1_with_position(workdir):
    cfg = os.path.join(workdir, "bad.hcl")
    with open(cfg, "w") as f:
        f.write('storage "file" {\n  path = \n}\n')
    r = subprocess.run([TRESOR, "server", f"-config={cfg}"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert "bad.hcl:" in r.stderr
