"""Black-box tests of the Vault-compatible CLI (build/vault) against real tresor servers.

Output texts, table layouts and exit codes are compared with what Vault 1.13's CLI prints
(spec §2, §6)."""
import json
import os
import re
import subprocess

import pytest
import requests

from conftest import VAULT, TRESOR, free_port

pytestmark = pytest.mark.skipif(not os.path.exists(TRESOR), reason="server binary not built")


def table(rows):
    """Columnize like the CLI: header, dashes, 4-space glue, last column unpadded."""
    rows = [list(r) for r in rows]
    rows.insert(1, ["-" * len(c) for c in rows[0]])
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [(r[i].ljust(widths[i]) + "    ") if i < len(r) - 1 else r[i] for i in range(len(r))]
        out.append("".join(cells))
    return "\n".join(out) + "\n"


LOGIN_PARAGRAPH = (
    "Success! You are now authenticated. The token information displayed below\n"
    "is already stored in the token helper. You do NOT need to run \"vault login\"\n"
    "again. Future Vault requests will automatically use this token.\n\n")


@pytest.fixture
def unsealed(file_server):
    """A persistent single node, initialised with one share and unsealed; root token set."""
    file_server.init(shares=1, threshold=1)
    file_server.unseal()
    return file_server


def test_version(unsealed):
    r = unsealed.cli("version")
    assert r.returncode == 0
    assert r.stdout.startswith("Vault v1.13.1 (tresor ")


def test_status_unsealed(unsealed):
    r = unsealed.cli("status")
    assert r.returncode == 0, r.stderr
    st = requests.get(unsealed.addr + "/v1/sys/seal-status").json()
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["Key", "Value"]
    assert lines[1].split() == ["---", "-----"]
    got = {l[:l.index("  ")]: l[l.index("  "):].strip() for l in lines[2:]}
    assert got["Seal Type"] == "shamir"
    assert got["Initialized"] == "true"
    assert got["Sealed"] == "false"
    assert got["Version"] == st["version"]
    assert "Unseal Progress" not in got
    # Every value starts in the same column (4 spaces after the longest key).
    width = max(len(k) for k in got) + 4
    for l in lines[2:]:
        assert l[width - 4:width] == "    " and l[width] != " "


def test_members_of_a_single_node_without_ha(unsealed):
    # without raft the node is the whole cluster, and says so as Vault does
    r = requests.get(unsealed.addr + "/v1/sys/ha-status", headers={"X-Vault-Token": unsealed.root_token})
    assert r.status_code == 200, r.text
    (node,) = r.json()["nodes"]
    assert node["active_node"] is True and node["last_echo"] is None and node["version"] == "1.13.1"
    assert r.json()["data"]["nodes"] == [node]
    assert requests.get(unsealed.addr + "/v1/sys/ha-status").status_code == 403
    r = unsealed.cli("operator", "members", token=unsealed.root_token)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3 and lines[2].split()[-5:] == ["true", "1.13.1", "n/a", "n/a", "n/a"]


def test_status_json(unsealed):
    r = unsealed.cli("status", "-format=json")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    keys = list(body.keys())
    assert keys[:10] == ["type", "initialized", "sealed", "t", "n", "progress", "nonce",
                         "version", "build_date", "migration"]
    assert "ha_enabled" in body and "active_time" in body
    assert r.stdout.startswith('{\n  "type": "shamir",\n')


def test_status_unreachable(workdir):
    port = free_port()
    e = dict(os.environ, VAULT_ADDR=f"http://127.0.0.1:{port}", HOME=workdir, VAULT_MAX_RETRIES="0")
    r = subprocess.run([VAULT, "status"], capture_output=True, text=True, env=e, timeout=30)
    assert r.returncode == 1
    assert r.stderr == (f'Error checking seal status: Get "http://127.0.0.1:{port}/v1/sys/seal-status": '
                        f"dial tcp 127.0.0.1:{port}: connect: connection refused\n")


def test_init_unseal_login_flow(file_server):
    s = file_server
    st = requests.get(s.addr + "/v1/sys/seal-status").json()
    r = s.cli("status")
    assert r.returncode == 2, r.stderr
    lr = requests.get(s.addr + "/v1/sys/leader")
    ha = "true" if lr.status_code == 503 or lr.json().get("ha_enabled") else "false"
    expected_rows = [("Key", "Value"), ("Seal Type", "shamir"), ("Initialized", "false"),
                     ("Sealed", "true"), ("Total Shares", "0"), ("Threshold", "0"),
                     ("Unseal Progress", "0/0"), ("Unseal Nonce", "n/a"),
                     ("Version", st["version"]), ("Build Date", st["build_date"]),
                     ("Storage Type", st.get("storage_type") or "n/a"), ("HA Enabled", ha)]
    assert r.stdout == table(expected_rows)

    r = s.cli("operator", "init", "-status")
    assert (r.returncode, r.stdout) == (2, "Vault is not initialized\n")

    r = s.cli("operator", "init", "-key-shares=5", "-key-threshold=3", "-format=json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert list(out.keys()) == ["unseal_keys_b64", "unseal_keys_hex", "unseal_shares",
                                "unseal_threshold", "recovery_keys_b64", "recovery_keys_hex",
                                "recovery_keys_shares", "recovery_keys_threshold", "root_token"]
    assert len(out["unseal_keys_b64"]) == 5 and len(out["unseal_keys_hex"]) == 5
    assert out["unseal_shares"] == 5 and out["unseal_threshold"] == 3
    assert out["recovery_keys_b64"] == [] and out["recovery_keys_shares"] == 0
    assert '"recovery_keys_b64": [],\n' in r.stdout
    root = out["root_token"]

    r = s.cli("operator", "init", "-status")
    assert (r.returncode, r.stdout) == (0, "Vault is initialized\n")

    r = s.cli("operator", "init")
    assert r.returncode == 2
    assert r.stderr == ("Error initializing: Error making API request.\n\n"
                        f"URL: PUT {s.addr}/v1/sys/init\n"
                        "Code: 400. Errors:\n\n* Vault is already initialized\n")

    r = s.cli("operator", "unseal", out["unseal_keys_b64"][0])
    assert r.returncode == 0, r.stderr
    assert re.search(r"^Unseal Progress    1/3$", r.stdout, re.M)
    assert re.search(r"^Unseal Nonce       [0-9a-f-]{36}$", r.stdout, re.M)
    r = s.cli("status")
    assert r.returncode == 2
    r = s.cli("operator", "unseal", out["unseal_keys_hex"][1])
    assert re.search(r"^Unseal Progress    2/3$", r.stdout, re.M)
    r = s.cli("operator", "unseal", out["unseal_keys_b64"][2])
    assert r.returncode == 0, r.stderr
    assert re.search(r"^Sealed\s+false$", r.stdout, re.M)
    assert "Unseal Progress" not in r.stdout
    assert re.search(r"^Cluster Name\s+vault-cluster-[0-9a-f]{8}$", r.stdout, re.M)
    assert s.cli("status").returncode == 0

    r = s.cli("login", root)
    assert r.returncode == 0, r.stderr
    lookup = requests.get(s.addr + "/v1/auth/token/lookup-self",
                          headers={"X-Vault-Token": root}).json()["data"]
    assert r.stdout == LOGIN_PARAGRAPH + table([
        ("Key", "Value"), ("token", root), ("token_accessor", lookup["accessor"]),
        ("token_duration", "∞"), ("token_renewable", "false"),
        ("token_policies", '["root"]'), ("identity_policies", "[]"), ("policies", '["root"]')])
    with open(os.path.join(s.workdir, ".vault-token")) as f:
        assert f.read() == root

    # The stored token is used from now on.
    r = s.cli("operator", "key-status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Key Term            1\nInstall Time        ")
    assert r.stdout.endswith("\n") and "Encryption Count    " in r.stdout
    r = s.cli("operator", "rotate")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Success! Rotated key\n\nKey Term            2\n")

    r = s.cli("operator", "seal")
    assert (r.returncode, r.stdout) == (0, "Success! Vault is sealed.\n")
    r = s.cli("status")
    assert r.returncode == 2
    assert re.search(r"^Unseal Progress    0/3$", r.stdout, re.M)


def test_unseal_reads_key_from_stdin_when_not_a_tty(file_server):
    s = file_server
    body = s.init(shares=1, threshold=1)
    r = s.cli("operator", "unseal", input=body["keys_base64"][0] + "\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Unseal Key (will be hidden): \n")
    assert re.search(r"^Sealed\s+false$", r.stdout, re.M)


def test_login_errors_and_no_store(unsealed):
    s = unsealed
    root = s.root_token
    r = s.cli("login", "bogus-token")
    assert r.returncode == 2
    assert r.stderr.startswith("Error authenticating: error looking up token: Error making API "
                               "request.\n\nURL: GET " + s.addr + "/v1/auth/token/lookup-self\n"
                               "Code: 403. Errors:\n\n* ")
    r = s.cli("login", "-no-store", root)
    assert r.returncode == 0
    assert r.stderr == ("The token was not stored in token helper. Set the VAULT_TOKEN environment\n"
                        "variable or pass the token below with each request to Vault.\n\n")
    r = s.cli("login", "-token-only", root)
    assert (r.returncode, r.stdout) == (0, root)
    r = s.cli("login", "-field=token_policies", "-", input=root + "\n")
    assert (r.returncode, r.stdout) == (0, "[root]")
    r = s.cli("login", "-format=json", root)
    body = json.loads(r.stdout)
    assert list(body) == ["request_id", "lease_id", "lease_duration", "renewable", "data",
                          "warnings", "auth"]
    assert body["auth"]["client_token"] == root and body["data"] is None


def test_generic_read_write_list_delete(dev_server):
    s = dev_server
    tok = s.root_token
    r = s.cli("secrets", "enable", "-path=kv1", "kv", token=tok)
    assert (r.returncode, r.stdout) == (0, "Success! Enabled the kv secrets engine at: kv1/\n")
    r = s.cli("secrets", "enable", "-path=kv1", "kv", token=tok)
    assert r.returncode == 2 and r.stderr.startswith("Error enabling: Error making API request.")

    r = s.cli("write", "kv1/foo", "a=b", "ttl=1h", "list=x", "list=y", token=tok)
    assert (r.returncode, r.stdout) == (0, "Success! Data written to: kv1/foo\n")
    r = s.cli("write", "kv1/foo", token=tok)
    assert (r.returncode, r.stderr) == (1, "Must supply data or use -force\n")

    r = s.cli("read", "kv1/foo", token=tok)
    assert r.returncode == 0, r.stderr
    rows = [("Key", "Value")]
    body = requests.get(s.addr + "/v1/kv1/foo", headers={"X-Vault-Token": tok}).json()
    if body["lease_duration"] > 0:
        hours = body["lease_duration"] // 3600
        rows.append(("refresh_interval", f"{hours}h"))
    rows += [("a", "b"), ("list", "[x y]"), ("ttl", "1h")]
    assert r.stdout == table(rows)

    r = s.cli("read", "-field=a", "kv1/foo", token=tok)
    assert (r.returncode, r.stdout) == (0, "b")
    r = s.cli("read", "-field=nope", "kv1/foo", token=tok)
    assert (r.returncode, r.stderr) == (1, 'Field "nope" not present in secret\n')
    r = s.cli("read", "-format=json", "kv1/foo", token=tok)
    j = json.loads(r.stdout)
    assert list(j) == ["request_id", "lease_id", "lease_duration", "renewable", "data", "warnings"]
    assert j["data"] == {"a": "b", "list": ["x", "y"], "ttl": "1h"}
    r = s.cli("read", "-format=yaml", "kv1/foo", token=tok)
    assert "data:\n  a: b\n  list:\n  - x\n  - \"y\"\n  ttl: 1h\n" in r.stdout  # go-yaml quotes YAML 1.1 booleans

    r = s.cli("write", "kv1/bar/baz", "x=1", token=tok)
    assert r.returncode == 0
    r = s.cli("list", "kv1", token=tok)
    assert (r.returncode, r.stdout) == (0, "Keys\n----\nbar/\nfoo\n")
    r = s.cli("list", "-format=json", "kv1/", token=tok)
    assert json.loads(r.stdout) == ["bar/", "foo"]

    r = s.cli("read", "kv1/nope", token=tok)
    assert (r.returncode, r.stderr) == (2, "No value found at kv1/nope\n")
    r = s.cli("list", "kv1/nope", token=tok)
    assert (r.returncode, r.stderr) == (2, "No value found at kv1/nope/\n")

    r = s.cli("delete", "kv1/foo", token=tok)
    assert (r.returncode, r.stdout) == (0, "Success! Data deleted (if it existed) at: kv1/foo\n")
    assert s.cli("read", "kv1/foo", token=tok).returncode == 2

    # JSON from stdin and a file value.
    p = os.path.join(s.workdir, "val.txt")
    with open(p, "w") as f:
        f.write("from-file")
    r = s.cli("write", "kv1/j", "-", "f=@" + p, input='{"n": 5, "s": "t"}', token=tok)
    assert r.returncode == 0, r.stderr
    got = requests.get(s.addr + "/v1/kv1/j", headers={"X-Vault-Token": tok}).json()["data"]
    assert got == {"n": 5, "s": "t", "f": "from-file"}


def test_api_error_rendering(unsealed):
    s = unsealed
    r = s.cli("read", "sys/mounts", token="not-a-token")
    assert r.returncode == 2
    assert r.stderr.startswith("Error reading sys/mounts: Error making API request.\n\n"
                               f"URL: GET {s.addr}/v1/sys/mounts\nCode: 403. Errors:\n\n* ")


def test_kv_v2_commands(dev_server):
    s = dev_server
    tok = s.root_token
    r = s.cli("kv", "put", "secret/creds", "passcode=my-long-passcode", token=tok)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("== Secret Path ==\nsecret/data/creds\n\n======= Metadata =======\n")
    assert re.search(r"^version\s+1$", r.stdout, re.M)

    r = s.cli("kv", "get", "secret/creds", token=tok)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("== Secret Path ==\nsecret/data/creds\n\n======= Metadata =======\n"
                               "Key                Value\n---                -----\n")
    assert r.stdout.endswith("====== Data ======\nKey         Value\n---         -----\n"
                             "passcode    my-long-passcode\n")
    r = s.cli("kv", "get", "-field=passcode", "secret/creds", token=tok)
    assert (r.returncode, r.stdout) == (0, "my-long-passcode")
    r = s.cli("kv", "get", "-mount=secret", "creds", token=tok)
    assert r.returncode == 0 and "passcode    my-long-passcode" in r.stdout

    r = s.cli("kv", "put", "-mount=secret", "creds", "passcode=v2", token=tok)
    assert r.returncode == 0, r.stderr
    r = s.cli("kv", "patch", "secret/creds", "extra=1", token=tok)
    assert r.returncode == 0, r.stderr
    r = s.cli("kv", "get", "-format=json", "secret/creds", token=tok)
    assert json.loads(r.stdout)["data"]["data"] == {"passcode": "v2", "extra": "1"}
    r = s.cli("kv", "get", "-version=1", "-field=passcode", "secret/creds", token=tok)
    assert r.stdout == "my-long-passcode"

    r = s.cli("kv", "list", "secret", token=tok)
    assert (r.returncode, r.stdout) == (0, "Keys\n----\ncreds\n")
    r = s.cli("kv", "delete", "secret/creds", token=tok)
    assert (r.returncode, r.stdout) == (0, "Success! Data deleted (if it existed) at: secret/data/creds\n")
    r = s.cli("kv", "undelete", "-versions=3", "secret/creds", token=tok)
    assert (r.returncode, r.stdout) == (0, "Success! Data written to: secret/undelete/creds\n")
    r = s.cli("kv", "metadata", "get", "secret/creds", token=tok)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("=== Metadata Path ===\nsecret/metadata/creds\n\n")
    assert "=== Version 1 ===" in r.stdout and "=== Version 3 ===" in r.stdout
    r = s.cli("kv", "destroy", "-versions=1", "secret/creds", token=tok)
    assert (r.returncode, r.stdout) == (0, "Success! Data written to: secret/destroy/creds\n")
    r = s.cli("kv", "metadata", "put", "-max-versions=5", "secret/creds", token=tok)
    assert (r.returncode, r.stdout) == (0, "Success! Data written to: secret/metadata/creds\n")
    r = s.cli("kv", "metadata", "delete", "secret/creds", token=tok)
    assert r.returncode == 0
    assert s.cli("kv", "get", "secret/creds", token=tok).returncode == 2


def test_secrets_commands(dev_server):
    s = dev_server
    tok = s.root_token
    r = s.cli("secrets", "list", token=tok)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["Path", "Type", "Accessor", "Description"]
    assert any(l.startswith("secret/ ") and " kv " in l for l in lines)
    r = s.cli("secrets", "list", "-format=json", token=tok)
    assert "secret/" in json.loads(r.stdout)
    r = s.cli("secrets", "tune", "-default-lease-ttl=1h", "secret", token=tok)
    assert (r.returncode, r.stdout) == (0, "Success! Tuned the secrets engine at: secret/\n")
    r = s.cli("secrets", "enable", "-path=tmp", "kv", token=tok)
    assert r.returncode == 0
    r = s.cli("secrets", "disable", "tmp", token=tok)
    assert (r.returncode, r.stdout) == (0, "Success! Disabled the secrets engine (if it existed) at: tmp/\n")


def test_mount_listing_and_status_yaml(unsealed):
    s = unsealed
    tok = s.root_token
    r = s.cli("secrets", "list", token=tok)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].split() == ["Path", "Type", "Accessor", "Description"]
    assert re.search(r"^sys/\s+system\s+system_[0-9a-f]{8}\s+system endpoints", r.stdout, re.M)
    r = s.cli("auth", "list", token=tok)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^token/\s+token\s+\S+\s+token based credentials$", r.stdout, re.M)
    r = s.cli("status", "-format=yaml")
    assert r.returncode == 0
    assert '\n"n": 1\n' in r.stdout and "\nsealed: false\n" in r.stdout


def test_policy_and_token_commands(unsealed):
    s = unsealed
    tok = s.root_token

    pol = os.path.join(s.workdir, "p.hcl")
    with open(pol, "w") as f:
        f.write('path "secret/*" {\n  capabilities = ["read"]\n}\n')
    r = s.cli("policy", "write", "dev", pol, token=tok)
    assert (r.returncode, r.stdout) == (0, "Success! Uploaded policy: dev\n")
    r = s.cli("policy", "read", "dev", token=tok)
    assert (r.returncode, r.stdout) == (0, 'path "secret/*" {\n  capabilities = ["read"]\n}\n')
    r = s.cli("policy", "list", token=tok)
    assert r.returncode == 0 and "dev\n" in r.stdout and "root\n" in r.stdout
    r = s.cli("policy", "read", "nope", token=tok)
    assert (r.returncode, r.stderr) == (2, "No policy named: nope\n")

    r = s.cli("token", "create", "-policy=dev", "-ttl=1h", "-format=json", token=tok)
    assert r.returncode == 0, r.stderr
    auth = json.loads(r.stdout)["auth"]
    child = auth["client_token"]
    assert "dev" in auth["policies"] and auth["lease_duration"] == 3600
    r = s.cli("token", "create", "-policy=dev", "-ttl=1h", token=tok)
    assert re.search(r"^token_duration\s+1h$", r.stdout, re.M)
    assert re.search(r'^token_policies\s+\["default" "dev"\]$', r.stdout, re.M)
    r = s.cli("token", "lookup", child, token=tok)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^id\s+" + re.escape(child) + "$", r.stdout, re.M)
    r = s.cli("token", "capabilities", "secret/foo", token=child)
    assert (r.returncode, r.stdout) == (0, "read\n")
    r = s.cli("token", "revoke", child, token=tok)
    assert (r.returncode, r.stdout) == (0, "Success! Revoked token (if it existed)\n")
    assert s.cli("token", "lookup", token=child).returncode == 2

    r = s.cli("policy", "delete", "dev", token=tok)
    assert (r.returncode, r.stdout) == (0, "Success! Deleted policy: dev\n")


def test_usage_errors(unsealed):
    s = unsealed
    r = s.cli("status", "extra")
    assert (r.returncode, r.stderr) == (1, "Too many arguments (expected 0, got 1)\n")
    r = s.cli("read")
    assert (r.returncode, r.stderr) == (1, "Not enough arguments (expected 1, got 0)\n")
    r = s.cli("secrets", "enable")
    assert (r.returncode, r.stderr) == (1, "Not enough arguments (expected 1, got 0)\n")
    r = s.cli("operator", "init", "-key-shares=x")
    assert (r.returncode, r.stderr) == (1, 'invalid value "x" for flag -key-shares: parse error\n')
    r = s.cli("write", "-format=bogus", "-f", "sys/nope", token=s.root_token)
    assert r.returncode in (1, 2)
