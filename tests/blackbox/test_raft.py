"""Integrated storage (raft) and HA: the guide's three-node cluster on loopback.

One cluster is shared by the module (building it is the slow part); the destructive tests
(failover, restart of all nodes) run last.
"""
import datetime
import json
import os
import socket
import ssl
import subprocess
import threading
import time

import pytest
import requests

import vault_snapshot
from conftest import Server, free_port

def raft_config(workdir, name, api_port, cluster_port, extra=""):
    data = os.path.join(workdir, name, "data")
    os.makedirs(data, exist_ok=True)
    cfg = os.path.join(workdir, name, "config.hcl")
    with open(cfg, "w") as f:
        f.write(f'''
storage "raft" {{
  path = "{data}"
  node_id = "{name}"
  performance_multiplier = 1
  {extra}
}}
listener "tcp" {{
  address = "127.0.0.1:{api_port}"
  tls_disable = 1
}}
api_addr = "http://127.0.0.1:{api_port}"
cluster_addr = "http://127.0.0.1:{cluster_port}"
disable_mlock = true
''')
    return cfg


def new_node(workdir, name, extra=""):
    port, cport = free_port(), free_port()
    cfg = raft_config(workdir, name, port, cport, extra)
    d = os.path.join(workdir, name)
    s = Server([f"-config={cfg}"], f"http://127.0.0.1:{port}", d)
    s.name = name
    s.cluster_port = cport
    return s


def wait(pred, timeout=20.0, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            v = pred()
            if v:
                return v
        except requests.RequestException:
            pass
        time.sleep(step)
    raise AssertionError("condition not met in time")


def leader_of(nodes):
    for n in nodes:
        try:
            j = requests.get(n.addr + "/v1/sys/leader", timeout=2).json()
            if j.get("is_self"):
                return n
        except (requests.RequestException, ValueError):
            pass
    return None


def peers(node, token):
    r = requests.get(node.addr + "/v1/sys/storage/raft/configuration", headers={"X-Vault-Token": token},
                     timeout=5)
    r.raise_for_status()
    return r.json()["data"]["config"]["servers"]


def join_and_unseal(node, leader, keys):
    r = node.cli("operator", "raft", "join", leader.addr)
    assert r.returncode == 0, r.stderr
    assert "true" in r.stdout
    st = requests.get(node.addr + "/v1/sys/seal-status").json()
    assert st["sealed"] and st["t"] == 3 and st["n"] == 5
    body = node.unseal(keys[:3])
    assert body["sealed"] is False, body


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("raft"))
    nodes = [new_node(workdir, f"vault-{i}") for i in range(3)]
    for n in nodes:
        n.start()
    try:
        n0 = nodes[0]
        n0.init(5, 3)
        n0.unseal(n0.unseal_keys[:3])
        wait(lambda: requests.get(n0.addr + "/v1/sys/leader").json().get("is_self"))
        token = n0.root_token
        r = requests.post(n0.addr + "/v1/sys/mounts/secret", headers={"X-Vault-Token": token},
                          json={"type": "kv", "options": {"version": "2"}})
        assert r.status_code == 204, r.text
        for n in nodes[1:]:
            join_and_unseal(n, n0, n0.unseal_keys)
            n.root_token, n.unseal_keys = token, n0.unseal_keys
        wait(lambda: sum(1 for s in peers(n0, token) if s["voter"]) == 3)
        yield nodes
    finally:
        for n in nodes:
            n.stop()


def kv_put(node, token, key, value, timeout=5):
    return requests.post(f"{node.addr}/v1/secret/data/{key}", headers={"X-Vault-Token": token},
                         json={"data": {"v": value}}, timeout=timeout)


def kv_get(node, token, key):
    r = requests.get(f"{node.addr}/v1/secret/data/{key}", headers={"X-Vault-Token": token}, timeout=5)
    return r.json()["data"]["data"]["v"] if r.status_code == 200 else None


def test_list_peers_one_leader_two_voting_followers(cluster):
    n0 = cluster[0]
    r = cluster[1].cli("operator", "raft", "list-peers", token=n0.root_token)
    assert r.returncode == 0, r.stderr
    lines = [l.split() for l in r.stdout.strip().splitlines()[2:]]
    assert len(lines) == 3
    assert sorted(l[2] for l in lines) == ["follower", "follower", "leader"]
    assert all(l[3] == "true" for l in lines)
    servers = peers(cluster[2], n0.root_token)  # forwarded from a standby
    assert {s["node_id"] for s in servers} == {"vault-0", "vault-1", "vault-2"}
    assert all(s["protocol_version"] == "3" for s in servers)


def test_status_endpoints(cluster):
    n0, n1 = cluster[0], cluster[1]
    st = requests.get(n1.addr + "/v1/sys/seal-status").json()
    assert st["storage_type"] == "raft" and st["sealed"] is False
    lead = requests.get(n1.addr + "/v1/sys/leader").json()
    assert lead["ha_enabled"] is True and lead["is_self"] is False
    assert lead["leader_address"] == n0.addr
    assert lead["raft_committed_index"] > 0
    me = requests.get(n0.addr + "/v1/sys/leader").json()
    assert me["is_self"] is True and me["active_time"] != "0001-01-01T00:00:00Z"
    assert requests.get(n1.addr + "/v1/sys/health").status_code == 429
    assert requests.get(n1.addr + "/v1/sys/health?standbyok=true").status_code == 200
    assert requests.get(n0.addr + "/v1/sys/health").status_code == 200
    out = n1.cli("status").stdout
    assert "HA Enabled" in out and "standby" in out and "Raft Committed Index" in out, out
    assert "active" in n0.cli("status").stdout
    r = requests.get(n1.addr + "/v1/sys/storage/raft/snapshot-force", headers={"X-Vault-Token": n0.root_token},
                     allow_redirects=False)
    assert r.status_code == 307 and r.headers["Location"].startswith(n0.addr)


def test_writes_through_any_node_readable_everywhere(cluster):
    token = cluster[0].root_token
    for i, n in enumerate(cluster):
        r = kv_put(n, token, f"any/{i}", f"val-{i}")
        assert r.status_code == 200, r.text
    for i in range(3):
        for n in cluster:
            # reads are forwarded to the active node: always current
            assert kv_get(n, token, f"any/{i}") == f"val-{i}"
    r = requests.get(cluster[1].addr + "/v1/secret/metadata/any/0", headers={"X-Vault-Token": token})
    assert r.json()["data"]["current_version"] == 1


def test_remove_peer_requires_id(cluster):
    r = requests.post(cluster[0].addr + "/v1/sys/storage/raft/remove-peer",
                      headers={"X-Vault-Token": cluster[0].root_token}, json={})
    assert r.status_code == 400 and "no server id provided" in r.text


# The active node's operator endpoints, a method each does not serve, and which token check
# comes first: "sudo" (Vault's router: 403 before 405), "method" (sys/step-down, served
# outside the router: 405 before the token) or None (unauthenticated).
OPERATOR_ENDPOINTS = [
    ("sys/storage/raft/configuration", "POST", "sudo"),
    ("sys/storage/raft/remove-peer", "GET", "sudo"),
    ("sys/step-down", "GET", "method"),
    ("sys/ha-status", "POST", "sudo"),
    ("sys/storage/raft/autopilot/state", "POST", "sudo"),
    ("sys/storage/raft/autopilot/configuration", "DELETE", "sudo"),
    ("sys/storage/raft/snapshot-auto/config/x", "PATCH", "sudo"),
    ("sys/storage/raft/snapshot", "DELETE", "sudo"),
    ("sys/storage/raft/snapshot-force", "GET", "sudo"),
    ("sys/storage/raft/bootstrap/challenge", "GET", None),
    ("sys/storage/raft/bootstrap/answer", "GET", None),
    ("sys/storage/raft/bootstrap/member", "GET", None),
]
REDIRECTED = {"sys/storage/raft/snapshot", "sys/storage/raft/snapshot-force"}


def test_operator_endpoints_check_sudo_and_method_in_vaults_order(cluster):
    """On a standby every operator endpoint is handed to the active node whatever the method
    (forwarded, or 307 for snapshots); the active node checks sudo, then the method."""
    leader = wait(lambda: leader_of(cluster))
    standby = next(n for n in cluster if n is not leader)
    root = leader.root_token
    r = requests.post(leader.addr + "/v1/sys/policies/acl/all-but-sudo", headers={"X-Vault-Token": root},
                      json={"policy": 'path "*" { capabilities = ["create", "read", "update", "delete", "list"] }'})
    assert r.status_code == 204, r.text
    r = requests.post(leader.addr + "/v1/auth/token/create", headers={"X-Vault-Token": root},
                      json={"policies": ["all-but-sudo"]})
    assert r.status_code == 200, r.text
    no_sudo = r.json()["auth"]["client_token"]
    for path, wrong_method, first in OPERATOR_ENDPOINTS:
        url = f"{leader.addr}/v1/{path}"
        for token in ((root, no_sudo, "nope") if first else (None,)):
            headers = {"X-Vault-Token": token} if token else {}
            r = requests.request(wrong_method, url, headers=headers, allow_redirects=False)
            want = 403 if first == "sudo" and token != root else 405
            assert r.status_code == want, (path, token == root, r.status_code, r.text)
        r = requests.request(wrong_method, f"{standby.addr}/v1/{path}", headers={"X-Vault-Token": root},
                             allow_redirects=False)
        if path in REDIRECTED:
            assert r.status_code == 307 and r.headers["Location"] == url, (path, r.status_code, r.headers)
        else:
            assert r.status_code == 405, (path, r.status_code, r.text)  # the active node's answer

    # The methods each endpoint serves get through to its handler, on either node.
    hdr = {"X-Vault-Token": root}
    for node in (leader, standby):
        r = requests.put(node.addr + "/v1/sys/storage/raft/remove-peer", headers=hdr, json={})
        assert r.status_code == 400 and "no server id provided" in r.text, r.text
        r = requests.get(node.addr + "/v1/sys/storage/raft/autopilot/configuration", headers=hdr)
        assert r.status_code == 200 and "cleanup_dead_servers" in r.json()["data"], r.text
        r = requests.post(node.addr + "/v1/sys/storage/raft/autopilot/configuration", headers=hdr,
                          json={"last_contact_threshold": "soon"})
        assert r.status_code == 400 and "last_contact_threshold" in r.text, r.text
        for r in (requests.request("LIST", node.addr + "/v1/sys/storage/raft/snapshot-auto/config", headers=hdr),
                  requests.get(node.addr + "/v1/sys/storage/raft/snapshot-auto/config?list=true", headers=hdr)):
            # Vault's empty listing is a 404 with no errors; otherwise the names.
            assert (r.status_code == 404 and r.json() == {"errors": []}) or (
                r.status_code == 200 and isinstance(r.json()["data"]["keys"], list)), r.text
        r = requests.post(node.addr + "/v1/sys/storage/raft/bootstrap/member", json={})
        assert r.status_code == 400 and "no server id provided" in r.text, r.text
    r = requests.get(standby.addr + "/v1/sys/storage/raft/configuration", headers={"X-Vault-Token": no_sudo})
    assert r.status_code == 403, r.text
    r = requests.get(standby.addr + "/v1/sys/storage/raft/configuration", headers=hdr)
    assert r.status_code == 200 and len(r.json()["data"]["config"]["servers"]) == 3, r.text

    # Capabilities are checked for the method's operation, as Vault does: read+sudo lists the
    # peers but cannot remove one; list+sudo lists scheduled-snapshot configurations.
    r = requests.post(leader.addr + "/v1/sys/policies/acl/raft-readers", headers=hdr, json={"policy": """
        path "sys/storage/raft/configuration" { capabilities = ["read", "sudo"] }
        path "sys/storage/raft/remove-peer" { capabilities = ["read", "sudo"] }
        path "sys/storage/raft/snapshot-auto/config/" { capabilities = ["list", "sudo"] }"""})
    assert r.status_code == 204, r.text
    r = requests.post(leader.addr + "/v1/auth/token/create", headers=hdr, json={"policies": ["raft-readers"]})
    reader = {"X-Vault-Token": r.json()["auth"]["client_token"]}
    for node in (leader, standby):
        r = requests.get(node.addr + "/v1/sys/storage/raft/configuration", headers=reader)
        assert r.status_code == 200 and len(r.json()["data"]["config"]["servers"]) == 3, r.text
        r = requests.post(node.addr + "/v1/sys/storage/raft/remove-peer", headers=reader, json={"server_id": "x"})
        assert r.status_code == 403, r.text
        r = requests.request("LIST", node.addr + "/v1/sys/storage/raft/snapshot-auto/config", headers=reader)
        assert r.status_code in (200, 404), r.text  # 404: no configurations yet
        r = requests.post(node.addr + "/v1/sys/storage/raft/snapshot-auto/config/x", headers=reader, json={})
        assert r.status_code == 403, r.text


def test_join_with_wrong_keys_is_refused(cluster, tmp_path):
    n0 = cluster[0]
    extra = new_node(str(tmp_path), "intruder")
    extra.start()
    try:
        r = extra.cli("operator", "raft", "join", n0.addr)
        assert r.returncode == 0, r.stderr
        bogus = [os.urandom(33).hex() for _ in range(3)]
        body = None
        for k in bogus:
            resp = requests.put(extra.addr + "/v1/sys/unseal", json={"key": k})
            body = resp
        assert body.status_code == 400 and "invalid key" in body.text
        assert requests.get(extra.addr + "/v1/sys/seal-status").json()["sealed"] is True
        assert {s["node_id"] for s in peers(n0, n0.root_token)} == {"vault-0", "vault-1", "vault-2"}
    finally:
        extra.stop()


def test_step_down_moves_leadership(cluster):
    token = cluster[0].root_token
    old = leader_of(cluster)
    standby = next(n for n in cluster if n is not old)
    r = standby.cli("operator", "step-down", token=token)  # forwarded to the active node
    assert r.returncode == 0, r.stderr
    new = wait(lambda: (lambda l: l if l is not None and l is not old else None)(leader_of(cluster)))
    assert new is not old
    assert kv_put(old, token, "stepdown/k", "x").status_code == 200
    assert kv_get(new, token, "stepdown/k") == "x"


def test_retry_join_then_remove_peer(cluster, tmp_path):
    token = cluster[0].root_token
    leader = leader_of(cluster)
    extra = new_node(str(tmp_path), "vault-3",
                     extra=f'retry_join {{\n    leader_api_addr = "{leader.addr}"\n  }}')
    extra.start()
    try:
        wait(lambda: requests.get(extra.addr + "/v1/sys/seal-status").json()["t"] == 3)
        assert extra.unseal(cluster[0].unseal_keys[:3])["sealed"] is False
        wait(lambda: any(s["node_id"] == "vault-3" and s["voter"] for s in peers(leader, token)))
        assert kv_get(extra, token, "any/0") == "val-0"
        r = cluster[0].cli("operator", "raft", "remove-peer", "vault-3", token=token)
        assert r.returncode == 0, r.stderr
        wait(lambda: all(s["node_id"] != "vault-3" for s in peers(leader, token)))
    finally:
        extra.stop()


def test_autopilot_config_and_state(cluster):
    token = cluster[0].root_token
    r = cluster[1].cli("operator", "raft", "autopilot", "set-config", "-cleanup-dead-servers=true",
                       "-dead-server-last-contact-threshold=1m", "-min-quorum=3", token=token)
    assert r.returncode == 0, r.stderr
    h = {"X-Vault-Token": token}
    cfg = requests.get(cluster[2].addr + "/v1/sys/storage/raft/autopilot/configuration", headers=h).json()["data"]
    assert cfg["cleanup_dead_servers"] is True and cfg["min_quorum"] == 3
    assert cfg["dead_server_last_contact_threshold"] == "1m0s"
    st = requests.get(cluster[1].addr + "/v1/sys/storage/raft/autopilot/state", headers=h).json()["data"]
    assert st["healthy"] is True and len(st["voters"]) == 3 and st["failure_tolerance"] == 1
    r = cluster[0].cli("operator", "raft", "autopilot", "state", token=token)
    assert r.returncode == 0, r.stderr


def test_snapshot_save_restore_and_into_new_cluster(cluster, tmp_path):
    token = cluster[0].root_token
    assert kv_put(cluster[0], token, "snap/k", "v1").status_code == 200
    assert kv_put(cluster[0], token, "snap/secret", "plaintext-never-in-snapshots").status_code == 200
    snap = str(tmp_path / "raft.snap")
    r = cluster[1].cli("operator", "raft", "snapshot", "save", snap, token=token)
    assert r.returncode == 0 and r.stdout == "", r.stderr
    assert oct(os.stat(snap).st_mode & 0o777) == "0o600"
    # Vault's file, read by Python's own gzip/tar: members in order, sums that match, the
    # raft metadata, and the barrier's ciphertext (never a plaintext value) as the state
    names, files = vault_snapshot.read(snap)
    assert names == ["meta.json", "state.bin", "SHA256SUMS", "SHA256SUMS.sealed"]
    assert len(files["SHA256SUMS.sealed"]) > 0
    meta = json.loads(files["meta.json"])
    assert meta["Index"] > 0 and meta["Term"] > 0 and meta["Size"] == len(files["state.bin"])
    assert {s["ID"] for s in meta["Configuration"]["Servers"]} == {"vault-0", "vault-1", "vault-2"}
    entries = dict(vault_snapshot.parse_state(files["state.bin"]))
    assert "core/keyring" in entries and any(k.startswith("logical/") for k in entries)
    assert b"plaintext-never-in-snapshots" not in files["state.bin"]
    r = cluster[0].cli("operator", "raft", "snapshot", "inspect", "-format=json", "-depth=1", snap)
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout)
    assert seen["Meta"]["Index"] == meta["Index"] and seen["TotalCountKV"] == len(entries)
    assert {s["Name"] for s in seen["StatsKV"]} >= {"core", "logical", "sys"}
    assert kv_put(cluster[0], token, "snap/k", "v2").status_code == 200
    assert kv_put(cluster[0], token, "snap/later", "x").status_code == 200
    r = cluster[2].cli("operator", "raft", "snapshot", "restore", snap, token=token)
    assert r.returncode == 0, r.stderr
    for n in cluster:
        assert wait(lambda: kv_get(n, token, "snap/k") == "v1")
    assert kv_get(cluster[0], token, "snap/later") is None

    # into a fresh single-node cluster: plain restore refused, -force restores and seals;
    # the old cluster's keys unseal it and the data is there
    fresh = new_node(str(tmp_path), "fresh")
    fresh.start()
    try:
        fresh.init(1, 1)
        fresh.unseal()
        wait(lambda: requests.get(fresh.addr + "/v1/sys/leader").json().get("is_self"))
        r = fresh.cli("operator", "raft", "snapshot", "restore", snap, token=fresh.root_token)
        assert r.returncode != 0 and "snapshot-force" in r.stderr
        r = fresh.cli("operator", "raft", "snapshot", "restore", "-force", snap, token=fresh.root_token)
        assert r.returncode == 0, r.stderr
        assert requests.get(fresh.addr + "/v1/sys/seal-status").json()["sealed"] is True
        assert fresh.unseal(cluster[0].unseal_keys[:3])["sealed"] is False
        wait(lambda: requests.get(fresh.addr + "/v1/sys/leader").json().get("is_self"))
        assert kv_get(fresh, token, "snap/k") == "v1"
    finally:
        fresh.stop()


def test_ha_status_and_operator_members(cluster):
    token = cluster[0].root_token
    leader = leader_of(cluster)
    addrs = {n.addr for n in cluster}

    def status(node):
        r = requests.get(node.addr + "/v1/sys/ha-status", headers={"X-Vault-Token": token}, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()

    # every standby echoes to the active node every 2 s; any node answers (forwarded)
    assert wait(lambda: len(status(cluster[1])["nodes"]) == 3, timeout=15)
    body = status(cluster[2])
    assert body["nodes"] == body["data"]["nodes"]  # a data-injection path, as in Vault
    nodes = body["nodes"]
    active = [n for n in nodes if n["active_node"]]
    assert len(active) == 1 and active[0]["api_address"] == leader.addr and active[0]["last_echo"] is None
    assert {n["api_address"] for n in nodes} == addrs
    for n in nodes:
        assert n["cluster_address"].startswith("http://127.0.0.1:") and n["version"] and n["hostname"]
        if not n["active_node"]:
            # RFC 3339 with up to 9 fraction digits (trailing zeros trimmed): seconds suffice
            echo = datetime.datetime.strptime(n["last_echo"][:19], "%Y-%m-%dT%H:%M:%S").replace(
                tzinfo=datetime.timezone.utc)
            age = datetime.datetime.now(datetime.timezone.utc) - echo
            assert abs(age.total_seconds()) < 15, n

    r = cluster[1].cli("operator", "members", token=token)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["Host", "Name", "API", "Address", "Cluster", "Address", "Active", "Node", "Version",
                                "Upgrade", "Version", "Redundancy", "Zone", "Last", "Echo"]
    assert len(lines) == 5 and sum(" true " in l for l in lines[2:]) == 1
    assert all(a in r.stdout for a in addrs)
    r = cluster[0].cli("operator", "members", "-format=json", token=token)
    assert r.returncode == 0, r.stderr
    assert {n["api_address"] for n in json.loads(r.stdout)["Nodes"]} == addrs

    # the echo path is the cluster port's own: clients get 404 on any node, and nothing changes
    fake = {"node_id": "vault-1", "hostname": "evil", "api_addr": "http://evil:1", "cluster_addr": "http://evil:2"}
    for n in cluster:
        r = requests.post(n.addr + "/v1/sys/internal/tresor/ha-echo", json=fake, headers={"X-Vault-Token": token},
                          timeout=5)
        assert r.status_code == 404, (n.addr, r.status_code, r.text)
    assert all(x["hostname"] != "evil" for x in status(leader)["nodes"])


def test_damaged_snapshots_are_refused_and_change_nothing(cluster, tmp_path):
    token = cluster[0].root_token
    leader = leader_of(cluster)
    assert kv_put(leader, token, "dmg/k", "before").status_code == 200
    good = str(tmp_path / "good.snap")
    assert cluster[0].cli("operator", "raft", "snapshot", "save", good, token=token).returncode == 0
    assert kv_put(leader, token, "dmg/k", "after").status_code == 200
    names, files = vault_snapshot.read(good)
    raw = open(good, "rb").read()

    def restore(path, force=False):
        args = ["operator", "raft", "snapshot", "restore"] + (["-force"] if force else []) + [path]
        return cluster[1].cli(*args, token=token)

    cases = {}
    cases["truncated"] = raw[: len(raw) * 2 // 3]
    cases["not a snapshot"] = b"TRSNAP1\n" + raw[8:]
    # one value changed and SHA256SUMS recomputed: the sealed sums still tell
    entries = vault_snapshot.parse_state(files["state.bin"])
    entries = [(k, v[:-1] + bytes([v[-1] ^ 1]) if k == "core/keyring" else v) for k, v in entries]
    vault_snapshot.write(str(tmp_path / "edited.snap"), dict(files, **{"state.bin": vault_snapshot.encode_state(entries)}),
                         fix_sums=True)
    cases["edited"] = open(tmp_path / "edited.snap", "rb").read()
    # a state.bin cut at an entry boundary with matching sums: still refused without -force
    short = vault_snapshot.encode_state(vault_snapshot.parse_state(files["state.bin"])[:3])
    vault_snapshot.write(str(tmp_path / "short.snap"), dict(files, **{"state.bin": short}), fix_sums=True)
    cases["short"] = open(tmp_path / "short.snap", "rb").read()
    for name, data in cases.items():
        p = str(tmp_path / (name.replace(" ", "-") + ".snap"))
        with open(p, "wb") as f:
            f.write(data)
        r = restore(p)
        assert r.returncode == 2, (name, r.stdout, r.stderr)
        assert "Error installing the snapshot" in r.stderr, (name, r.stderr)
        if name in ("edited", "short"):
            assert 'hash check failed for "state.bin"' in r.stderr, (name, r.stderr)
    # Vault's texts for each kind of damage
    r = requests.post(leader.addr + "/v1/sys/storage/raft/snapshot", data=cases["not a snapshot"],
                      headers={"X-Vault-Token": token})
    assert r.status_code == 500 and "failed to decompress snapshot: gzip: invalid header" in r.text, r.text
    r = requests.post(leader.addr + "/v1/sys/storage/raft/snapshot", data=cases["edited"],
                      headers={"X-Vault-Token": token})
    assert r.status_code == 500 and 'hash check failed for \\"state.bin\\"' in r.text, r.text
    # -force skips the sealed sums, not the plain ones
    vault_snapshot.write(str(tmp_path / "stale-sums.snap"),
                         dict(files, **{"state.bin": vault_snapshot.encode_state(entries)}), fix_sums=False)
    r = requests.post(leader.addr + "/v1/sys/storage/raft/snapshot-force",
                      data=open(tmp_path / "stale-sums.snap", "rb").read(), headers={"X-Vault-Token": token})
    assert r.status_code == 500 and 'hash check failed for \\"state.bin\\"' in r.text, r.text
    r = requests.post(leader.addr + "/v1/sys/storage/raft/snapshot-force", data=cases["truncated"],
                      headers={"X-Vault-Token": token})
    assert r.status_code == 500 and "failed to read snapshot file" in r.text, r.text
    # an entry without a key (proto3 leaves an empty key out) would stop every node's state
    # machine at the commit: refused up front, even with -force and matching sums
    keyless = vault_snapshot.parse_state(files["state.bin"]) + [("", b"orphan value")]
    vault_snapshot.write(str(tmp_path / "keyless.snap"),
                         dict(files, **{"state.bin": vault_snapshot.encode_state(keyless)}), fix_sums=True)
    r = requests.post(leader.addr + "/v1/sys/storage/raft/snapshot-force",
                      data=open(tmp_path / "keyless.snap", "rb").read(), headers={"X-Vault-Token": token})
    assert r.status_code == 500 and "an entry has an empty key" in r.text, r.text
    assert kv_put(leader, token, "dmg/still-writable", "yes").status_code == 200
    # nothing changed anywhere
    for n in cluster:
        assert wait(lambda: kv_get(n, token, "dmg/k") == "after")


# --- the cluster port (mutual TLS; raft and request forwarding) -----------------------------

def _tls_probe(port, certfile=None, keyfile=None, alpn="raft_storage_v1"):
    """Tries a TLS session with the cluster port and says how it ended: "refused" (TLS
    error or closed by the server), "open" (the server kept the session open: accepted)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols([alpn])
    if certfile:
        ctx.load_cert_chain(certfile, keyfile)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw) as tls:
                # a raft hello, as a peer would send it
                tls.sendall(b"TRRAFT1\n" + (7).to_bytes(8, "big") + (14).to_bytes(2, "big") + b"127.0.0.1:9999")
                # TLS 1.3: a refused client certificate shows up as an alert on the first read
                got = tls.recv(4096)
                return "refused" if got == b"" else "data"
        except socket.timeout:
            return "open"
        except (ssl.SSLError, ConnectionError):
            return "refused"


def test_cluster_port_refuses_peers_without_a_cluster_certificate(cluster, tmp_path):
    n0 = cluster[0]
    key, crt = make_cert(str(tmp_path), "intruder")
    for cert in [(), (crt, key)]:
        for alpn in ["raft_storage_v1", "req_fw_sb-act_v1"]:
            assert _tls_probe(n0.cluster_port, *cert, alpn=alpn) == "refused", (cert, alpn)
    # the cluster is unaffected
    assert sum(1 for s in peers(n0, n0.root_token) if s["voter"]) == 3


def test_cluster_port_plain_tcp_gets_no_raft_traffic(cluster):
    n0 = cluster[0]
    with socket.create_connection(("127.0.0.1", n0.cluster_port), timeout=5) as s:
        # libraft's own TCP handshake (protocol 1, id, address length, address) would have
        # been accepted by the old plain transport
        s.sendall((1).to_bytes(8, "little") + (7).to_bytes(8, "little") + (16).to_bytes(8, "little") +
                  b"127.0.0.1:9999\0\0")
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pytest.fail("the cluster port kept a plain TCP connection open")
        except ConnectionResetError:
            pass
    # nothing but (at most) a TLS alert record
    assert data == b"" or data[0] == 0x15, data[:16]


def test_forwarding_through_standbys(cluster):
    token = cluster[0].root_token
    leader = leader_of(cluster)
    standbys = [n for n in cluster if n is not leader]
    for i, n in enumerate(standbys):
        r = requests.post(f"{n.addr}/v1/secret/data/fw/{i}", headers={"X-Vault-Token": token},
                          json={"data": {"v": i}}, allow_redirects=False)
        assert r.status_code == 200, r.text
        r = requests.request("LIST", f"{n.addr}/v1/secret/metadata/fw", headers={"X-Vault-Token": token},
                             allow_redirects=False)
        assert r.status_code == 200 and str(i) in r.json()["data"]["keys"], r.text
        r = requests.get(f"{n.addr}/v1/secret/data/fw/{i}", headers={"X-Vault-Token": "nope"},
                         allow_redirects=False)
        assert r.status_code == 403
        r = requests.get(n.addr + "/v1/auth/token/lookup-self", headers={"X-Vault-Token": token},
                         allow_redirects=False)
        assert r.status_code == 200 and r.json()["data"]["policies"] == ["root"]


def test_cluster_keyring_never_on_disk_in_clear(cluster):
    for n in cluster:
        for root, _, files in os.walk(os.path.join(n.workdir, "data")):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    blob = fh.read()
                assert b"PRIVATE KEY" not in blob and b"BEGIN CERTIFICATE" not in blob, f


def test_sealed_active_node_leaves_the_cluster_until_unsealed(cluster):
    """A sealed node drops the cluster keyring: it can neither lead nor replicate, so the
    unsealed nodes elect a new active node; unsealed again, it catches up."""
    token = cluster[0].root_token
    old = leader_of(cluster)
    r = requests.put(old.addr + "/v1/sys/seal", headers={"X-Vault-Token": token})
    assert r.status_code == 204, r.text
    others = [n for n in cluster if n is not old]
    new = wait(lambda: leader_of(others), timeout=15)
    assert new is not None
    assert kv_put(others[0], token, "sealed/k", "while-sealed").status_code == 200
    assert old.unseal(old.unseal_keys[:3])["sealed"] is False
    wait(lambda: requests.get(old.addr + "/v1/sys/leader").json().get("leader_address") == new.addr, timeout=15)
    assert wait(lambda: kv_get(old, token, "sealed/k")) == "while-sealed"


def test_kill_leader_while_writing_loses_nothing(cluster):
    token = cluster[0].root_token
    leader = leader_of(cluster)
    assert leader is not None
    acked, lock, stop = [], threading.Lock(), threading.Event()

    def writer(node, wid):
        i = 0
        while not stop.is_set():
            key = f"fo/{wid}-{i}"
            try:
                r = kv_put(node, token, key, str(i), timeout=3)
                if r.status_code == 200:
                    with lock:
                        acked.append(key)
            except requests.RequestException:
                time.sleep(0.05)
            i += 1

    threads = [threading.Thread(target=writer, args=(n, w)) for w, n in enumerate(cluster * 2)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    t_kill = time.time()
    leader.kill()
    survivors = [n for n in cluster if n is not leader]
    new_leader = wait(lambda: leader_of(survivors), timeout=15)
    failover = time.time() - t_kill
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 10
    assert failover < 10
    for key in acked:
        assert kv_get(new_leader, token, key) is not None, key
    # the killed node restarts sealed, is unsealed and follows
    leader.start()
    assert requests.get(leader.addr + "/v1/sys/seal-status").json()["sealed"] is True
    assert leader.unseal(cluster[0].unseal_keys[:3])["sealed"] is False
    wait(lambda: requests.get(leader.addr + "/v1/sys/leader").json().get("leader_address") == new_leader.addr)
    assert requests.get(leader.addr + "/v1/sys/health").status_code == 429
    assert kv_get(leader, token, acked[-1]) is not None
    print(f"failover {failover:.2f}s, {len(acked)} acknowledged writes")


def test_restart_all_nodes(cluster):
    token = cluster[0].root_token
    assert kv_put(cluster[1], token, "restart/k", "before").status_code == 200
    for n in cluster:
        n.stop()
    for n in cluster:
        n.start()
    for n in cluster:
        assert requests.get(n.addr + "/v1/sys/seal-status").json()["sealed"] is True
    r = requests.get(cluster[0].addr + "/v1/sys/leader")
    assert r.status_code == 503 and "Vault is sealed" in r.text
    # unseal a quorum only: sealed nodes have no cluster certificate, so only unsealed
    # nodes talk raft and one of them is elected
    quorum = cluster[1:]
    for n in quorum:
        assert n.unseal(cluster[0].unseal_keys[:3])["sealed"] is False
    wait(lambda: leader_of(quorum), timeout=30)
    for n in quorum:
        assert wait(lambda: kv_get(n, token, "restart/k")) == "before"
    assert kv_put(cluster[2], token, "restart/k2", "after").status_code == 200
    assert cluster[0].unseal(cluster[0].unseal_keys[:3])["sealed"] is False
    for n in cluster:
        assert wait(lambda: kv_get(n, token, "restart/k2")) == "after"


def make_cert(d, name):
    key, crt = os.path.join(d, f"{name}.key"), os.path.join(d, f"{name}.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return key, crt


def test_join_https_leader_checks_ca(tmp_path):
    d = str(tmp_path)
    key, crt = make_cert(d, "leader")
    _, other = make_cert(d, "other")
    port, cport = free_port(), free_port()
    cfg = raft_config(d, "tls-0", port, cport)
    with open(cfg) as f:
        text = f.read()
    text = text.replace("tls_disable = 1", f'tls_cert_file = "{crt}"\n  tls_key_file = "{key}"')
    text = text.replace(f"http://127.0.0.1:{port}", f"https://127.0.0.1:{port}")
    with open(cfg, "w") as f:
        f.write(text)
    leader = Server([f"-config={cfg}"], f"https://127.0.0.1:{port}", os.path.join(d, "tls-0"))
    joiner = new_node(d, "tls-1")
    try:
        leader.start(wait=False)
        wait(lambda: requests.get(leader.addr + "/v1/sys/seal-status", verify=crt).ok)
        r = requests.put(leader.addr + "/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}, verify=crt)
        keys, token = r.json()["keys"], r.json()["root_token"]
        requests.put(leader.addr + "/v1/sys/unseal", json={"key": keys[0]}, verify=crt)
        wait(lambda: requests.get(leader.addr + "/v1/sys/leader", verify=crt).json().get("is_self"))
        joiner.start()
        with open(other) as f:
            wrong = f.read()
        r = requests.post(joiner.addr + "/v1/sys/storage/raft/join",
                          json={"leader_api_addr": leader.addr, "leader_ca_cert": wrong})
        assert r.status_code >= 400 and "certificate" in r.text.lower(), r.text
        assert requests.get(joiner.addr + "/v1/sys/seal-status").json()["initialized"] is False
        with open(crt) as f:
            right = f.read()
        r = requests.post(joiner.addr + "/v1/sys/storage/raft/join",
                          json={"leader_api_addr": leader.addr, "leader_ca_cert": right})
        assert r.status_code == 200, r.text
        assert joiner.unseal(keys)["sealed"] is False
        servers = requests.get(leader.addr + "/v1/sys/storage/raft/configuration", headers={"X-Vault-Token": token},
                               verify=crt).json()["data"]["config"]["servers"]
        assert {s["node_id"] for s in servers} == {"tls-0", "tls-1"}
    finally:
        joiner.stop()
        leader.stop()
