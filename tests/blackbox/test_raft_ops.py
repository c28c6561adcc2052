"""Raft operations on a three-node cluster: autopilot state and dead-server cleanup, a removed
node that stops and rejoins fresh, snapshots larger than one raft entry, scheduled snapshots.

One cluster (test_raft's fixture and helpers) is shared by the module; tests that kill or add
nodes restore the three-voter cluster before they end, and the ones that kill run last.
"""
import os
import re
import shutil
import time

import requests

import vault_snapshot

from test_raft import cluster, join_and_unseal, kv_get, kv_put, leader_of, new_node, peers, wait  # noqa: F401

AP_STATE = "/v1/sys/storage/raft/autopilot/state"
AP_CONFIG = "/v1/sys/storage/raft/autopilot/configuration"
AUTO = "/v1/sys/storage/raft/snapshot-auto"


def hdr(token):
    return {"X-Vault-Token": token}


def err(r):
    """The error texts of a Vault error response, joined."""
    return " ".join(r.json().get("errors", []))


def ap_state(node, token):
    r = requests.get(node.addr + AP_STATE, headers=hdr(token), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def go_duration_s(s):
    """Go's time.Duration.String() -> seconds."""
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)(h|ms|m|s|µs|us|ns)", s):
        total += float(num) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}[unit]
    return total


def voter_ids(node, token):
    return {s["node_id"] for s in peers(node, token) if s["voter"]}


def add_node(tmp_path, name, cluster_nodes, token):
    node = new_node(str(tmp_path), name)
    node.start()
    leader = leader_of(cluster_nodes)
    join_and_unseal(node, leader, cluster_nodes[0].unseal_keys)
    node.root_token, node.unseal_keys = token, cluster_nodes[0].unseal_keys
    wait(lambda: name in voter_ids(leader_of(cluster_nodes), token), timeout=30)
    return node


def test_autopilot_state_reports_every_server(cluster):
    token = cluster[0].root_token
    leader = leader_of(cluster)
    # from a standby: forwarded to the active node
    standby = next(n for n in cluster if n is not leader)
    st = wait(lambda: (lambda s: s if s["healthy"] else None)(ap_state(standby, token)))
    assert st["failure_tolerance"] == 1
    assert st["leader"] == leader.name
    assert sorted(st["voters"]) == ["vault-0", "vault-1", "vault-2"]
    assert set(st["servers"]) == {"vault-0", "vault-1", "vault-2"}
    for name, s in st["servers"].items():
        assert s["id"] == s["name"] == name
        assert s["node_status"] == "alive" and s["healthy"] is True
        assert s["status"] == ("leader" if name == leader.name else "voter")
        assert s["last_term"] > 0 and s["last_index"] > 0
        assert s["stable_since"].endswith("Z")
        # idle cluster: the leader's probe keeps followers' contact well under a second or two
        assert go_duration_s(s["last_contact"]) < 3, s
        assert re.match(r"^\d+(\.\d+)?(ms|s)$|^0s$", s["last_contact"]), s["last_contact"]
    assert st["servers"][leader.name]["last_contact"] == "0s"

    r = cluster[1].cli("operator", "raft", "autopilot", "state", token=token)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"^Healthy:\s+true$", out, re.M), out
    assert re.search(r"^Failure Tolerance:\s+1$", out, re.M), out
    assert re.search(rf"^Leader:\s+{leader.name}$", out, re.M), out
    assert "Servers:" in out and "      Node Status:       alive" in out, out
    r = cluster[1].cli("operator", "raft", "autopilot", "state", "-format=json", token=token)
    assert r.returncode == 0, r.stderr
    assert '"failure_tolerance": 1' in r.stdout


def test_autopilot_config_bad_values_are_refused(cluster):
    token = cluster[0].root_token
    n = cluster[1]
    before = requests.get(n.addr + AP_CONFIG, headers=hdr(token)).json()["data"]

    def post(body):
        return requests.post(n.addr + AP_CONFIG, headers=hdr(token), json=body)

    r = post({"cleanup_dead_servers": True, "min_quorum": 0})
    assert r.status_code == 400
    assert r.json()["errors"] == ["min_quorum must be set when cleanup_dead_servers is set and it should at least "
                                  "be 3; cleanup_dead_servers: true, min_quorum: 0x0"]
    r = post({"cleanup_dead_servers": True, "min_quorum": 2})
    assert r.status_code == 400 and "min_quorum: 0x2" in err(r)
    r = post({"last_contact_threshold": "soon"})
    assert r.status_code == 400
    assert ('Field validation failed: error converting input soon for field "last_contact_threshold"'
            in r.json()["errors"][0])
    r = post({"max_trailing_logs": "many"})
    assert r.status_code == 400 and 'for field "max_trailing_logs"' in err(r)
    r = post({"cleanup_dead_servers": "maybe"})
    assert r.status_code == 400 and 'for field "cleanup_dead_servers"' in err(r)
    r = requests.post(n.addr + AP_CONFIG, json={"min_quorum": 3})
    assert r.status_code == 403
    r = n.cli("operator", "raft", "autopilot", "set-config", "-cleanup-dead-servers=true", token=token)
    assert r.returncode == 2 and "min_quorum must be set" in r.stderr
    assert requests.get(n.addr + AP_CONFIG, headers=hdr(token)).json()["data"] == before

    # scheduled-snapshot configuration: Vault-style 400s
    def auto(body):
        return requests.post(n.addr + AUTO + "/config/bad", headers=hdr(token), json=body)

    good = {"interval": "1h", "retain": 2, "path_prefix": "/tmp/tresor-never", "storage_type": "local"}
    r = auto(dict(good, interval="often"))
    assert r.status_code == 400 and 'error converting input often for field "interval"' in err(r)
    r = auto(dict(good, retain=0))
    assert r.status_code == 400 and "retain must be at least 1" in err(r)
    r = auto(dict(good, retain="few"))
    assert r.status_code == 400 and 'for field "retain"' in err(r)
    r = auto(dict(good, storage_type="aws-s3"))
    assert r.status_code == 400 and 'unsupported storage_type "aws-s3"' in err(r)
    r = auto({k: v for k, v in good.items() if k != "storage_type"})
    assert r.status_code == 400 and "storage_type is required" in err(r)
    r = auto({k: v for k, v in good.items() if k != "interval"})
    assert r.status_code == 400 and "interval" in err(r)
    r = auto(dict(good, path_prefix="relative/dir"))
    assert r.status_code == 400 and "absolute" in err(r)
    r = requests.post(n.addr + AUTO + "/config/bad", json=good)
    assert r.status_code == 403
    assert requests.get(n.addr + AUTO + "/config/bad", headers=hdr(token)).status_code == 404


def test_scheduled_snapshots_written_and_pruned(cluster, tmp_path):
    token = cluster[0].root_token
    d = str(tmp_path / "auto")
    n = cluster[2]
    # the way an operator does it: generic write/list/read against the sys paths
    r = n.cli("write", "sys/storage/raft/snapshot-auto/config/every-second", "interval=1s", "retain=2",
              f"path={d}", "storage_type=local", "file_prefix=tresor", token=token)
    assert r.returncode == 0, r.stderr
    r = n.cli("list", "sys/storage/raft/snapshot-auto/config", token=token)
    assert r.returncode == 0 and "every-second" in r.stdout, r.stderr
    cfg = requests.get(n.addr + AUTO + "/config/every-second", headers=hdr(token)).json()["data"]
    assert cfg["interval"] == 1 and cfg["retain"] == 2 and cfg["path_prefix"] == d
    assert cfg["storage_type"] == "local" and cfg["file_prefix"] == "tresor"
    r = requests.request("LIST", n.addr + AUTO + "/config/", headers=hdr(token))
    assert r.status_code == 200 and r.json()["data"]["keys"] == ["every-second"]

    def files():
        return sorted(f for f in os.listdir(d) if f.startswith("tresor-")) if os.path.isdir(d) else []

    seen = set()

    def collect():
        fs = files()
        assert len(fs) <= 2, fs  # retain: never more than 2 kept
        seen.update(fs)
        return len(seen) >= 4

    wait(collect, timeout=20, step=0.2)
    for f in files():
        assert re.fullmatch(r"tresor-\d+\.snap", f)
        assert oct(os.stat(os.path.join(d, f)).st_mode & 0o777) == "0o600"
        names, _ = vault_snapshot.read(os.path.join(d, f))
        assert names == ["meta.json", "state.bin", "SHA256SUMS", "SHA256SUMS.sealed"]
    st = requests.get(n.addr + AUTO + "/status/every-second", headers=hdr(token)).json()["data"]
    r = n.cli("read", "-format=json", "sys/storage/raft/snapshot-auto/status/every-second", token=token)
    assert r.returncode == 0 and '"last_snapshot_url": "file://' in r.stdout, r.stderr
    assert st["consecutive_errors"] == 0 and st["last_snapshot_error"] == ""
    assert st["last_snapshot_url"].startswith("file://" + d + "/tresor-")
    assert st["next_snapshot_start"] and st["last_snapshot_start"] and st["last_snapshot_end"]

    # the schedule is replicated: a new active node keeps it
    old = leader_of(cluster)
    assert old.cli("operator", "step-down", token=token).returncode == 0
    wait(lambda: (lambda l: l is not None and l is not old)(leader_of(cluster)))
    before = set(files())
    wait(lambda: set(files()) - before, timeout=15, step=0.2)

    r = requests.delete(n.addr + AUTO + "/config/every-second", headers=hdr(token))
    assert r.status_code == 204
    time.sleep(1.5)  # let a snapshot that was already under way finish
    after = set(files())
    time.sleep(2.5)
    assert set(files()) == after  # no more snapshots once the configuration is gone
    assert requests.get(n.addr + AUTO + "/status/every-second", headers=hdr(token)).status_code == 404


def test_snapshot_larger_than_one_entry_round_trip(cluster, tmp_path):
    token = cluster[0].root_token
    leader = leader_of(cluster)
    blob = os.urandom(96 * 1024).hex()  # 192 KiB per value
    keys = [f"big/{i}" for i in range(110)]  # ~21 MiB of values
    for k in keys:
        r = kv_put(leader, token, k, blob[: len(blob) - len(k)] + k, timeout=30)
        assert r.status_code == 200, r.text
    snap = str(tmp_path / "big.snap")
    r = cluster[1].cli("operator", "raft", "snapshot", "save", snap, token=token, timeout=120)
    assert r.returncode == 0, r.stderr
    assert os.path.getsize(snap) > 20 * 1024 * 1024

    # restore into the same cluster after changing and deleting data: back as saved
    assert kv_put(leader, token, "big/0", "changed").status_code == 200
    requests.delete(f"{leader.addr}/v1/secret/metadata/big/1", headers=hdr(token)).raise_for_status()
    assert kv_put(leader, token, "big/new", "x").status_code == 200
    t0 = time.time()
    r = cluster[2].cli("operator", "raft", "snapshot", "restore", snap, token=token, timeout=120)
    assert r.returncode == 0, r.stderr
    print(f"restore of a {os.path.getsize(snap) / 2**20:.1f} MiB snapshot: {time.time() - t0:.2f}s")
    for n in cluster:
        assert wait(lambda: kv_get(n, token, "big/0") == blob[: len(blob) - 5] + "big/0", timeout=30)
    assert kv_get(cluster[0], token, "big/1") == blob[: len(blob) - 5] + "big/1"
    assert kv_get(cluster[0], token, "big/new") is None
    # every node holds the restored data in its own store (local reads on each)
    for n in cluster:
        r = requests.get(n.addr + "/v1/sys/leader").json()
        assert r["raft_applied_index"] > 0

    # into a new cluster with snapshot-force: seals; the old cluster's keys unseal it
    fresh = new_node(str(tmp_path), "fresh-big")
    fresh.start()
    try:
        fresh.init(1, 1)
        fresh.unseal()
        wait(lambda: requests.get(fresh.addr + "/v1/sys/leader").json().get("is_self"))
        r = fresh.cli("operator", "raft", "snapshot", "restore", snap, token=fresh.root_token, timeout=120)
        assert r.returncode == 2 and "snapshot-force" in r.stderr
        r = fresh.cli("operator", "raft", "snapshot", "restore", "-force", snap, token=fresh.root_token,
                      timeout=120)
        assert r.returncode == 0, r.stderr
        assert requests.get(fresh.addr + "/v1/sys/seal-status").json()["sealed"] is True
        assert fresh.unseal(cluster[0].unseal_keys[:3])["sealed"] is False
        wait(lambda: requests.get(fresh.addr + "/v1/sys/leader").json().get("is_self"))
        for k in (keys[0], keys[55], keys[-1]):
            assert kv_get(fresh, token, k) == blob[: len(blob) - len(k)] + k
        assert "committed" in fresh.output() and "staging entries" in fresh.output()
    finally:
        fresh.stop()
    for k in keys:
        requests.delete(f"{leader_of(cluster).addr}/v1/secret/metadata/{k}", headers=hdr(token))


def test_removed_node_stops_then_rejoins_fresh(cluster, tmp_path):
    token = cluster[0].root_token
    assert kv_put(leader_of(cluster), token, "ops/before", "b").status_code == 200
    node = add_node(tmp_path, "vault-4", cluster, token)
    try:
        assert kv_get(node, token, "ops/before") == "b"
        leader = leader_of(cluster)
        r = leader.cli("operator", "raft", "remove-peer", "vault-4", token=token)
        assert r.returncode == 0 and "Peer removed successfully!" in r.stdout, r.stderr
        wait(lambda: "was removed from the cluster; stopping raft" in node.output(), timeout=15)
        assert node.proc.poll() is None  # still running, answering
        r = requests.get(f"{node.addr}/v1/secret/data/any/0", headers=hdr(token))
        assert r.status_code == 503 and "removed from the raft cluster" in err(r), r.text
        # it no longer takes part: no elections, the cluster's term and configuration stay put
        term = ap_state(leader, token)["servers"][leader.name]["last_term"]
        time.sleep(3)
        assert ap_state(leader, token)["servers"][leader.name]["last_term"] == term
        assert "vault-4" not in {s["node_id"] for s in peers(leader, token)}

        # wiped and joined again under the same node id: a fresh member
        node.stop()
        data = os.path.join(str(tmp_path), "vault-4", "data")
        shutil.rmtree(data)
        os.makedirs(data)
        node.start()
        leader = leader_of(cluster)
        join_and_unseal(node, leader, cluster[0].unseal_keys)
        wait(lambda: "vault-4" in voter_ids(leader, token), timeout=30)
        time.sleep(1)  # past any replayed removal of the old incarnation
        assert "vault-4" in voter_ids(leader, token)
        assert kv_put(node, token, "rejoined/k", "v").status_code == 200
        assert kv_get(node, token, "ops/before") == "b"
        assert ap_state(leader, token)["servers"]["vault-4"]["healthy"] is True
        r = leader.cli("operator", "raft", "remove-peer", "vault-4", token=token)
        assert r.returncode == 0, r.stderr
        wait(lambda: "vault-4" not in {s["node_id"] for s in peers(leader_of(cluster), token)})
    finally:
        node.stop()


def test_dead_server_cleanup_after_kill(cluster, tmp_path):
    token = cluster[0].root_token
    extra = add_node(tmp_path, "vault-3", cluster, token)
    try:
        r = cluster[0].cli("operator", "raft", "autopilot", "set-config", "-cleanup-dead-servers=true",
                           "-min-quorum=3", "-dead-server-last-contact-threshold=4s",
                           "-last-contact-threshold=2s", token=token)
        assert r.returncode == 0, r.stderr
        r = cluster[0].cli("operator", "raft", "autopilot", "get-config", token=token)
        assert re.search(r"^Dead Server Last Contact Threshold\s+4s$", r.stdout, re.M), r.stdout
        assert re.search(r"^Min Quorum\s+3$", r.stdout, re.M), r.stdout
        assert len(voter_ids(leader_of(cluster), token)) == 4
        extra.kill()
        t0 = time.time()
        leader = leader_of(cluster)
        st = wait(lambda: (lambda s: s if not s["servers"]["vault-3"]["healthy"] else None)(ap_state(leader, token)))
        assert st["healthy"] is False
        # removed once its contact exceeds the threshold: four voters -> three (= min_quorum)
        wait(lambda: "vault-3" not in {s["node_id"] for s in peers(leader_of(cluster), token)}, timeout=30)
        took = time.time() - t0
        assert took >= 3.5, took
        st = wait(lambda: (lambda s: s if s["healthy"] else None)(ap_state(leader_of(cluster), token)))
        assert set(st["servers"]) == {"vault-0", "vault-1", "vault-2"} and st["failure_tolerance"] == 1

        # restarted on its old data it never sees its removal mark; without a leader for 10 s
        # it asks the active node, learns it was removed and stops raft instead of campaigning
        extra.start()
        wait(lambda: "says this node was removed" in extra.output(), timeout=30)
        wait(lambda: "stopping raft" in extra.output().split("says this node was removed")[-1], timeout=5)
        assert "vault-3" not in {s["node_id"] for s in peers(leader_of(cluster), token)}
        extra.kill()

        # a dead follower of three is never removed: that would leave fewer than min_quorum
        leader = leader_of(cluster)
        victim = next(n for n in cluster if n is not leader)
        victim.kill()
        st = wait(lambda: (lambda s: s if s["servers"][victim.name]["node_status"] == "left" else None)(
            ap_state(leader, token)), timeout=20)
        assert st["failure_tolerance"] == 0 and st["servers"][victim.name]["healthy"] is False
        time.sleep(3)
        assert victim.name in voter_ids(leader, token)
        assert kv_put(leader, token, "dead/k", "v").status_code == 200  # two of three still commit
        victim.start()
        assert victim.unseal(cluster[0].unseal_keys[:3])["sealed"] is False
        st = wait(lambda: (lambda s: s if s["healthy"] else None)(ap_state(leader_of(cluster), token)), timeout=30)
        assert st["servers"][victim.name]["node_status"] == "alive"
        print(f"dead server removed {took:.1f}s after kill -9 (threshold 4s)")
    finally:
        extra.kill()
        r = requests.post(leader_of(cluster).addr + AP_CONFIG, headers=hdr(token),
                          json={"cleanup_dead_servers": False, "dead_server_last_contact_threshold": "24h",
                                "last_contact_threshold": "10s"})
        assert r.status_code == 204, r.text
