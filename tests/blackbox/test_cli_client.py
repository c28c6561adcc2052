"""The CLI's HTTP client against a scripted fake server (no tresor server needed):
headers it sends, one redirect re-sending method and body, LIST via ?list=true, error
rendering for non-JSON bodies, retries on 5xx, namespace header."""
import gzip
import http.server
import io
import json
import os
import subprocess
import tarfile
import threading

import pytest

import vault_snapshot
from conftest import VAULT

pytestmark = pytest.mark.skipif(not os.path.exists(VAULT), reason="CLI binary not built")


class Recorder(http.server.BaseHTTPRequestHandler):
    script = {}      # (method, path) -> (status, headers, body)
    seen = []

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        Recorder.seen.append({"method": self.command, "path": self.path,
                              "headers": dict(self.headers), "body": body})
        status, headers, out = Recorder.script.get((self.command, self.path),
                                                   (404, {}, '{"errors":[]}'))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        data = out if isinstance(out, bytes) else out.encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _handle

    def do_LIST(self):
        self._handle()

    def log_message(self, *a):
        pass


@pytest.fixture
def fake(tmp_path):
    Recorder.script = {}
    Recorder.seen = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    addr = f"http://127.0.0.1:{srv.server_address[1]}"

    def run(*args, env=None, input=None):
        e = dict(os.environ, VAULT_ADDR=addr, HOME=str(tmp_path), VAULT_TOKEN="tok",
                 VAULT_MAX_RETRIES="0")
        e.update(env or {})
        return subprocess.run([VAULT] + list(args), capture_output=True, text=True, env=e,
                              input=input, timeout=30)

    yield addr, run
    srv.shutdown()


def test_headers_and_redirect_resend_body(fake):
    addr, run = fake
    Recorder.script[("PUT", "/v1/a//b")] = (301, {"Location": "/v1/a/b"}, "")
    Recorder.script[("PUT", "/v1/a/b")] = (204, {}, "")
    r = run("write", "a//b", "k=v", env={"VAULT_NAMESPACE": "ns1"})
    assert (r.returncode, r.stdout) == (0, "Success! Data written to: a//b\n")
    first, second = Recorder.seen
    assert first["path"] == "/v1/a//b" and second["path"] == "/v1/a/b"
    assert second["method"] == "PUT" and json.loads(second["body"]) == {"k": "v"}
    h = second["headers"]
    assert h["X-Vault-Request"] == "true"
    assert h["X-Vault-Token"] == "tok"
    assert h["X-Vault-Namespace"] == "ns1"


def test_list_uses_get_list_true(fake):
    addr, run = fake
    Recorder.script[("GET", "/v1/secret/?list=true")] = (
        200, {}, json.dumps({"data": {"keys": ["b", "a/"]}, "warnings": ["careful now"]}))
    r = run("list", "secret")
    assert (r.returncode, r.stdout) == (0, "Keys\n----\na/\nb\n")
    assert r.stderr == ("WARNING! The following warnings were returned from Vault:\n\n"
                        "  * careful now\n\n")


def test_raw_error_message_and_exit_code(fake):
    addr, run = fake
    Recorder.script[("GET", "/v1/x")] = (502, {}, "upstream broke")
    r = run("read", "x")
    assert r.returncode == 2
    assert r.stderr == ("Error reading x: Error making API request.\n\n"
                        f"URL: GET {addr}/v1/x\nCode: 502. Raw Message:\n\nupstream broke\n")


def test_retries_on_500(fake):
    addr, run = fake
    Recorder.script[("GET", "/v1/x")] = (500, {}, '{"errors":["boom"]}')
    r = run("read", "x", env={"VAULT_MAX_RETRIES": "1"})
    assert r.returncode == 2
    assert len(Recorder.seen) == 2
    assert r.stderr.endswith("Code: 500. Errors:\n\n* boom\n")


def test_read_query_params_and_token_helper(fake, tmp_path):
    addr, run = fake
    Recorder.script[("GET", "/v1/k?a=1&a=2&b=x+y")] = (200, {}, json.dumps({"data": {"v": 1}}))
    (tmp_path / ".vault-token").write_text("from-file")
    r = run("read", "k", "b=x y", "a=1", "a=2", env={"VAULT_TOKEN": ""})
    assert r.returncode == 0, r.stderr
    assert Recorder.seen[0]["headers"]["X-Vault-Token"] == "from-file"
    assert r.stdout == "Key    Value\n---    -----\nv      1\n"


def test_kv_get_v2_layout(fake):
    """`vault kv get` on a v2 mount: preflight, /data/ path and the banner layout of Vault's docs."""
    addr, run = fake
    Recorder.script[("GET", "/v1/sys/internal/ui/mounts/secret/creds")] = (
        200, {}, json.dumps({"data": {"path": "secret/", "type": "kv", "options": {"version": "2"}}}))
    Recorder.script[("GET", "/v1/secret/data/creds")] = (200, {}, json.dumps({
        "request_id": "r", "lease_id": "", "renewable": False, "lease_duration": 0,
        "data": {"data": {"passcode": "my-long-passcode"},
                 "metadata": {"created_time": "2022-06-15T20:14:19.691992Z", "custom_metadata": None,
                              "deletion_time": "", "destroyed": False, "version": 1}},
        "wrap_info": None, "warnings": None, "auth": None}))
    r = run("kv", "get", "secret/creds")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "== Secret Path ==\n"
        "secret/data/creds\n"
        "\n"
        "======= Metadata =======\n"
        "Key                Value\n"
        "---                -----\n"
        "created_time       2022-06-15T20:14:19.691992Z\n"
        "custom_metadata    <nil>\n"
        "deletion_time      n/a\n"
        "destroyed          false\n"
        "version            1\n"
        "\n"
        "====== Data ======\n"
        "Key         Value\n"
        "---         -----\n"
        "passcode    my-long-passcode\n")
    Recorder.script[("GET", "/v1/sys/internal/ui/mounts/secret")] = \
        Recorder.script[("GET", "/v1/sys/internal/ui/mounts/secret/creds")]
    r = run("kv", "get", "-field=passcode", "-mount=secret", "creds")
    assert (r.returncode, r.stdout) == (0, "my-long-passcode")


def test_kv_put_v2_body(fake):
    addr, run = fake
    Recorder.script[("GET", "/v1/sys/internal/ui/mounts/secret/x")] = (
        200, {}, json.dumps({"data": {"path": "secret/", "options": {"version": "2"}}}))
    Recorder.script[("PUT", "/v1/secret/data/x")] = (200, {}, json.dumps({
        "data": {"created_time": "t", "custom_metadata": None, "deletion_time": "",
                 "destroyed": False, "version": 2}}))
    r = run("kv", "put", "-cas=1", "secret/x", "a=b")
    assert r.returncode == 0, r.stderr
    assert json.loads(Recorder.seen[-1]["body"]) == {"data": {"a": "b"}, "options": {"cas": 1}}
    assert r.stdout.startswith("== Secret Path ==\nsecret/data/x\n\n======= Metadata =======\n")


def test_raft_list_peers_and_join(fake):
    addr, run = fake
    cfg = {"config": {"index": 42, "servers": [
        {"node_id": "3f2a6c0e-5d1b-8c4e-0a9f-7b1e2d3c4f5a", "address": "vault-0.vault-internal:8201",
         "leader": True, "protocol_version": "3", "voter": True},
        {"node_id": "8a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", "address": "vault-1.vault-internal:8201",
         "leader": False, "protocol_version": "3", "voter": True}]}}
    Recorder.script[("GET", "/v1/sys/storage/raft/configuration")] = (200, {}, json.dumps({"data": cfg}))
    r = run("operator", "raft", "list-peers")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "Node                                    Address                        State       Voter\n"
        "----                                    -------                        -----       -----\n"
        "3f2a6c0e-5d1b-8c4e-0a9f-7b1e2d3c4f5a    vault-0.vault-internal:8201    leader      true\n"
        "8a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9    vault-1.vault-internal:8201    follower    true\n")

    Recorder.script[("POST", "/v1/sys/storage/raft/join")] = (200, {}, '{"joined": true}')
    r = run("operator", "raft", "join", "http://vault-0.vault-internal:8200")
    assert (r.returncode, r.stdout) == (0, "Key       Value\n---       -----\nJoined    true\n")
    assert json.loads(Recorder.seen[-1]["body"]) == {
        "auto_join": "", "auto_join_scheme": "", "auto_join_port": 0,
        "leader_api_addr": "http://vault-0.vault-internal:8200", "leader_ca_cert": "",
        "leader_client_cert": "", "leader_client_key": "", "retry": False, "non_voter": False}
    r = run("operator", "raft", "join", "-format=json", "http://x:8200")
    assert r.stdout == '{\n  "joined": true\n}\n'


def test_userpass_login_request(fake, tmp_path):
    addr, run = fake
    Recorder.script[("PUT", "/v1/auth/userpass/login/bob")] = (200, {}, json.dumps({
        "auth": {"client_token": "hvs.child", "accessor": "acc", "policies": ["default", "dev"],
                 "token_policies": ["default", "dev"], "metadata": {"username": "bob"},
                 "lease_duration": 2764800, "renewable": True}}))
    r = run("login", "-method=userpass", "username=bob", "password=pw")
    assert r.returncode == 0, r.stderr
    seen = Recorder.seen[-1]
    assert json.loads(seen["body"]) == {"password": "pw"}
    assert "X-Vault-Token" not in seen["headers"]
    rows = [("token", "hvs.child"), ("token_accessor", "acc"), ("token_duration", "768h"),
            ("token_renewable", "true"), ("token_policies", '["default" "dev"]'),
            ("identity_policies", "[]"), ("policies", '["default" "dev"]'),
            ("token_meta_username", "bob")]
    expected = "Key                    Value\n---                    -----\n" + "".join(
        k.ljust(23) + v + "\n" for k, v in rows)
    assert r.stdout.endswith("this token.\n\n" + expected)
    assert (tmp_path / ".vault-token").read_text() == "hvs.child"


def test_snapshot_save_checks_for_the_sealed_sums(fake, tmp_path):
    _, run = fake
    files = {"meta.json": b'{"Index":1}\n', "state.bin": vault_snapshot.encode_state([("k", b"v")])}
    for sealed in (None, b"", b"sealed-bytes"):
        f = dict(files) if sealed is None else dict(files, **{"SHA256SUMS.sealed": sealed})
        src = str(tmp_path / "served.snap")
        vault_snapshot.write(src, f, fix_sums=True)
        body = open(src, "rb").read()
        Recorder.script = {("GET", "/v1/sys/storage/raft/snapshot"): (200, {}, body)}
        out = str(tmp_path / "saved.snap")
        r = run("operator", "raft", "snapshot", "save", out)
        if sealed:
            assert r.returncode == 0 and r.stdout == "", r.stderr
            assert open(out, "rb").read() == body
            assert oct(os.stat(out).st_mode & 0o777) == "0o600"
        else:  # missing or empty: Vault's client refuses it and writes nothing
            assert r.returncode == 2, r.stderr
            assert r.stderr.strip() == "Error taking the snapshot: incomplete snapshot, unable to verify"
            assert not os.path.exists(out)


def test_snapshot_inspect_reads_a_file_without_a_server(tmp_path):
    state = vault_snapshot.encode_state([
        ("core/keyring", b"x" * 100), ("core/mounts", b"y" * 50), ("logical/abc/foo", b"z" * 2000),
        ("logical/abc/bar", b"z" * 20), ("sys/token/id/h1", b"q" * 10), ("toplevel", b"v")])
    meta = json.dumps({"Version": 1, "ID": "bolt-snapshot", "Index": 42, "Term": 3, "Peers": None,
                       "Configuration": {"Servers": []}, "ConfigurationIndex": 1, "Size": len(state)})
    snap = str(tmp_path / "t.snap")
    vault_snapshot.write(snap, {"meta.json": meta.encode() + b"\n", "state.bin": state,
                                "SHA256SUMS.sealed": b"sealed"}, fix_sums=True)

    def inspect(*args):
        return subprocess.run([VAULT, "operator", "raft", "snapshot", "inspect"] + list(args), capture_output=True,
                              text=True, env=dict(os.environ, HOME=str(tmp_path)), timeout=30)

    r = inspect(snap)
    assert r.returncode == 0, r.stderr
    # Go's tabwriter layout (minwidth 8, padding 6); sizes are the StorageEntry messages
    assert r.stdout == (" ID           bolt-snapshot\n Size         2289\n Index        42\n Term         3\n"
                        " Version      1\n\n\n"
                        " Key Name          Count      Size\n"
                        " ----              ----       ----\n"
                        " logical/abc       2          2KB\n"
                        " core/keyring      1          116B\n"
                        " core/mounts       1          65B\n"
                        " sys/token         1          29B\n"
                        " toplevel          1          13B\n"
                        " ----              ----\n"
                        " Total Size                2.2KB\n")
    r = inspect("-format=json", "-depth=1", "-filter=core", snap)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"Meta": {"ID": "bolt-snapshot", "Size": 2289, "Index": 42, "Term": 3, "Version": 1},
                                    "StatsKV": [{"Name": "core", "Count": 2, "Size": 181}],
                                    "TotalCountKV": 2, "TotalSizeKV": 181}
    # the same members as Go or GNU tar might write them (pax extended headers, GNU format)
    with tarfile.open(snap, "r:gz") as t:
        members = [(m.name, t.extractfile(m).read()) for m in t.getmembers()]
    for fmt, extra in ((tarfile.PAX_FORMAT, {"comment": "pax record"}), (tarfile.GNU_FORMAT, {})):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=fmt) as t:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size, info.pax_headers = len(data), dict(extra)
                t.addfile(info, io.BytesIO(data))
        other = str(tmp_path / f"fmt{fmt}.snap")
        with open(other, "wb") as f:
            f.write(gzip.compress(raw.getvalue()))
        r = inspect("-format=json", other)
        assert r.returncode == 0, (fmt, r.stderr)
        assert json.loads(r.stdout)["TotalCountKV"] == 6
    r = inspect("-details=false", snap)
    assert r.returncode == 0 and "Key Name" not in r.stdout and " Index        42\n" in r.stdout
    # a damaged file is refused with Vault's texts
    data = open(snap, "rb").read()
    with open(tmp_path / "cut.snap", "wb") as f:
        f.write(data[: len(data) // 2])
    r = inspect(str(tmp_path / "cut.snap"))
    assert (r.returncode, r.stderr) == (1, "Error reading snapshot: failed to read snapshot file: failed reading "
                                           "snapshot: unexpected EOF\n")
    r = inspect(str(tmp_path / "missing.snap"))
    assert (r.returncode, r.stderr.strip()) == (1, "Error opening snapshot file: open " + str(tmp_path / "missing.snap")
                                                   + ": no such file or directory")
    assert inspect().stderr.strip() == "Missing FILE argument"
    assert inspect("-depth=-1", snap).stderr.strip() == "Depth must be equal to or greater than 0"
