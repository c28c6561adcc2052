"""Integrated storage gaps: keyring rotation in a cluster, autopilot server stabilization,
client certificates for join. Uses test_raft's cluster fixture and helpers (its own module
instance, so a separate 3-node cluster)."""
import os
import threading
import time

import pytest
import requests

from conftest import Server, free_port
from test_raft import cluster, kv_get, kv_put, leader_of, new_node, peers, raft_config, wait  # noqa: F401


def key_status(node, token):
    r = requests.get(node.addr + "/v1/sys/key-status", headers={"X-Vault-Token": token}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["term"]


def autopilot_server(node, token, name):
    r = requests.get(node.addr + "/v1/sys/storage/raft/autopilot/state", headers={"X-Vault-Token": token},
                     timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["data"]["servers"].get(name)


def test_joined_node_promoted_only_after_server_stabilization_time(cluster, tmp_path):
    token = cluster[0].root_token
    keys = cluster[0].unseal_keys
    leader = leader_of(cluster)
    r = requests.post(leader.addr + "/v1/sys/storage/raft/autopilot/configuration",
                      headers={"X-Vault-Token": token}, json={"server_stabilization_time": "3s"}, timeout=5)
    assert r.status_code == 204, r.text
    node = new_node(str(tmp_path), "vault-s")
    node.start()
    try:
        r = node.cli("operator", "raft", "join", leader.addr)
        assert r.returncode == 0, r.stderr
        t_before = time.time()  # the node is added (as a non-voter) only after this
        observed = []  # (time, voter, autopilot status)
        done = threading.Event()

        def watch():
            # Watches from before the unseal: on a slow machine the unseal (which waits for
            # the keyring to replicate) can take longer than the stabilization time.
            while not done.is_set():
                try:
                    # Autopilot first: promotion may land between the two reads, and in this
                    # order a "voter" status can only pair with a configuration that says voter.
                    ap = autopilot_server(leader, token, "vault-s")
                    s = {x["node_id"]: x for x in peers(leader, token)}.get("vault-s")
                except (requests.RequestException, AssertionError):
                    s = None
                if s is not None:
                    observed.append((time.time(), s["voter"], ap and ap["status"]))
                    if s["voter"]:
                        return
                time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            assert node.unseal(keys[:3])["sealed"] is False
            watcher.join(timeout=20)
        finally:
            done.set()
        assert observed and observed[-1][1], observed
        t_voter = next(t for t, v, _ in observed if v)
        non_voter_seen = [(t, st) for t, v, st in observed if not v]
        assert non_voter_seen, observed
        assert all(st in ("non-voter", None) for _, st in non_voter_seen), observed
        # never promoted before it had been a member for the stabilization time
        assert t_voter - t_before >= 3.0, observed
        assert wait(lambda: autopilot_server(leader, token, "vault-s")["status"] == "voter")
        st = autopilot_server(leader, token, "vault-s")
        assert st["healthy"] is True
    finally:
        requests.post(leader.addr + "/v1/sys/storage/raft/remove-peer", headers={"X-Vault-Token": token},
                      json={"server_id": "vault-s"}, timeout=10)
        node.stop()
        requests.post(leader.addr + "/v1/sys/storage/raft/autopilot/configuration",
                      headers={"X-Vault-Token": token}, json={"server_stabilization_time": "10s"}, timeout=5)
    wait(lambda: "vault-s" not in {x["node_id"] for x in peers(leader_of(cluster), token)})


# ---- client certificates for join ----------------------------------------------------------

def _pki(d):
    """A CA, a leader certificate for the name leader.test only (no IP), and a client
    certificate, all from the CA; PEM files in d. Returns a dict of paths."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(path, data):
        with open(path, "wb") as f:
            f.write(data)
        return path

    def key_pem(k):
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("test ca")).issuer_name(name("test ca"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def leaf(cn, san, usage):
        k = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject).public_key(k.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if san:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        return b.sign(ca_key, hashes.SHA256()), k

    srv, srv_key = leaf("leader.test", "leader.test", ExtendedKeyUsageOID.SERVER_AUTH)
    cli, cli_key = leaf("joiner", None, ExtendedKeyUsageOID.CLIENT_AUTH)
    pem = serialization.Encoding.PEM
    return {
        "ca": write(os.path.join(d, "ca.crt"), ca.public_bytes(pem)),
        "srv_crt": write(os.path.join(d, "srv.crt"), srv.public_bytes(pem)),
        "srv_key": write(os.path.join(d, "srv.key"), key_pem(srv_key)),
        "cli_crt": write(os.path.join(d, "cli.crt"), cli.public_bytes(pem)),
        "cli_key": write(os.path.join(d, "cli.key"), key_pem(cli_key)),
    }


def _read(path):
    with open(path) as f:
        return f.read()


def test_join_with_client_certificate(tmp_path):
    import urllib3
    urllib3.disable_warnings()
    d = str(tmp_path)
    pki = _pki(d)
    port, cport = free_port(), free_port()
    cfg = raft_config(d, "mtls-0", port, cport)
    text = _read(cfg).replace(
        "tls_disable = 1",
        f'tls_cert_file = "{pki["srv_crt"]}"\n  tls_key_file = "{pki["srv_key"]}"\n'
        f'  tls_require_and_verify_client_cert = true\n  tls_client_ca_file = "{pki["ca"]}"')
    text = text.replace(f"http://127.0.0.1:{port}", f"https://127.0.0.1:{port}")
    with open(cfg, "w") as f:
        f.write(text)
    leader = Server([f"-config={cfg}"], f"https://127.0.0.1:{port}", os.path.join(d, "mtls-0"))
    # the harness talks to the leader with the client certificate; the leader's certificate
    # names leader.test only, so the harness does not verify it (the joining node does)
    kw = {"verify": False, "cert": (pki["cli_crt"], pki["cli_key"]), "timeout": 10}
    joiner = new_node(d, "mtls-1")
    retry_joiner = new_node(d, "mtls-2", extra=f'''retry_join {{
    leader_api_addr = "https://127.0.0.1:{port}"
    leader_ca_cert_file = "{pki["ca"]}"
    leader_client_cert_file = "{pki["cli_crt"]}"
    leader_client_key_file = "{pki["cli_key"]}"
    leader_tls_servername = "leader.test"
  }}''')
    try:
        leader.start(wait=False)
        wait(lambda: requests.get(leader.addr + "/v1/sys/seal-status", **kw).ok)
        # without a client certificate the leader refuses the TLS connection
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(leader.addr + "/v1/sys/seal-status", verify=False, timeout=5)
        r = requests.put(leader.addr + "/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}, **kw)
        keys, token = r.json()["keys"], r.json()["root_token"]
        requests.put(leader.addr + "/v1/sys/unseal", json={"key": keys[0]}, **kw)
        wait(lambda: requests.get(leader.addr + "/v1/sys/leader", **kw).json().get("is_self"))

        def members():
            r = requests.get(leader.addr + "/v1/sys/storage/raft/configuration", headers={"X-Vault-Token": token},
                             **kw)
            return {s["node_id"]: s for s in r.json()["data"]["config"]["servers"]}

        joiner.start()
        base = {"leader_api_addr": leader.addr, "leader_ca_cert": _read(pki["ca"]),
                "leader_tls_servername": "leader.test"}
        # 1. no client certificate: refused, with the TLS reason, nothing changes
        r = requests.post(joiner.addr + "/v1/sys/storage/raft/join", json=base, timeout=30)
        assert r.status_code >= 400, r.text
        assert "certificate" in r.text.lower(), r.text
        assert requests.get(joiner.addr + "/v1/sys/seal-status").json()["initialized"] is False
        assert set(members()) == {"mtls-0"}
        with_cert = dict(base, leader_client_cert=_read(pki["cli_crt"]), leader_client_key=_read(pki["cli_key"]))
        # 2. the leader's certificate does not name 127.0.0.1: without the server name the
        # joining node refuses it; with another name as well
        for bad in ({k: v for k, v in with_cert.items() if k != "leader_tls_servername"},
                    dict(with_cert, leader_tls_servername="other.test")):
            r = requests.post(joiner.addr + "/v1/sys/storage/raft/join", json=bad, timeout=30)
            assert r.status_code >= 400, r.text
            assert requests.get(joiner.addr + "/v1/sys/seal-status").json()["initialized"] is False
        # a certificate without its key is bad input
        r = requests.post(joiner.addr + "/v1/sys/storage/raft/join",
                          json=dict(base, leader_client_cert=_read(pki["cli_crt"])), timeout=30)
        assert r.status_code == 400, r.text
        # 3. CA, server name and client certificate: joined
        r = requests.post(joiner.addr + "/v1/sys/storage/raft/join", json=with_cert, timeout=30)
        assert r.status_code == 200, r.text
        assert joiner.unseal(keys)["sealed"] is False
        assert set(members()) == {"mtls-0", "mtls-1"}
        # 4. retry_join with the certificate files
        retry_joiner.start()
        wait(lambda: requests.get(retry_joiner.addr + "/v1/sys/seal-status").json()["initialized"], timeout=30)
        assert retry_joiner.unseal(keys)["sealed"] is False
        wait(lambda: set(members()) == {"mtls-0", "mtls-1", "mtls-2"})
    finally:
        retry_joiner.stop()
        joiner.stop()
        leader.stop()
    # the client key never reaches a log line or the data directories
    secret = "".join(_read(pki["cli_key"]).splitlines()[1:-1])
    for n in (joiner, retry_joiner, leader):
        assert secret[:40] not in n.output().replace("\n", "")
    for root, _, files in os.walk(d):
        for fn in files:
            if fn.endswith(".key"):
                continue
            with open(os.path.join(root, fn), "rb") as f:
                assert secret[:40].encode() not in f.read().replace(b"\n", b""), fn


# ---- barrier keyring rotation in a cluster (kills a node: runs last) -------------------------

def test_rotate_in_cluster_survives_failover_and_restart(cluster):
    token = cluster[0].root_token
    keys = cluster[0].unseal_keys
    leader = leader_of(cluster)
    standbys = [n for n in cluster if n is not leader]
    assert kv_put(leader, token, "rot/before", "b").status_code == 200
    term0 = key_status(leader, token)
    r = requests.post(leader.addr + "/v1/sys/rotate", headers={"X-Vault-Token": token}, timeout=10)
    assert r.status_code == 204, r.text
    assert key_status(leader, token) == term0 + 1
    # (a) written after rotation through a standby (forwarded), read through the other
    assert kv_put(standbys[0], token, "rot/after", "a").status_code == 200
    assert kv_get(standbys[1], token, "rot/after") == "a"
    for n in cluster:
        assert key_status(n, token) == term0 + 1
    # (b) the active node dies; the new active node reads data of both terms and writes
    leader.kill()
    new_leader = wait(lambda: leader_of(standbys), timeout=20)
    for n in standbys:
        assert wait(lambda: kv_get(n, token, "rot/before")) == "b"
        assert wait(lambda: kv_get(n, token, "rot/after")) == "a"
        assert key_status(n, token) == term0 + 1
    assert kv_put(new_leader, token, "rot/failover", "f").status_code == 200
    # (c) the killed node restarts sealed, unseals with the same keys, reads everything
    leader.start()
    assert leader.unseal(keys[:3])["sealed"] is False
    wait(lambda: requests.get(leader.addr + "/v1/sys/leader").json().get("leader_address") == new_leader.addr)
    # make it the active node so that its own keyring serves the reads
    for _ in range(10):
        cur = leader_of(cluster)
        if cur is leader:
            break
        r = requests.put(cur.addr + "/v1/sys/step-down", headers={"X-Vault-Token": token}, timeout=10)
        assert r.status_code == 204, r.text
        wait(lambda: leader_of(cluster) not in (None, cur), timeout=20)
    assert leader_of(cluster) is leader
    assert wait(lambda: kv_get(leader, token, "rot/before")) == "b"
    assert kv_get(leader, token, "rot/after") == "a"
    assert kv_get(leader, token, "rot/failover") == "f"
    # (d) every node reports the new term
    for n in cluster:
        assert key_status(n, token) == term0 + 1
