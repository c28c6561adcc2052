"""userpass auth method through hvac, raw HTTP and our CLI against a dev server (and one
persistent node for the "password never on disk" check)."""
import os
import shutil
import statistics
import tempfile
import time
import uuid

import hvac
import pytest
import requests

from conftest import start_dev


@pytest.fixture(scope="module")
def srv():
    d = tempfile.mkdtemp(prefix="tresor-userpass-")
    s = start_dev(d)
    try:
        s.client().sys.enable_auth_method("userpass")
    except hvac.exceptions.InvalidRequest as e:
        s.stop()
        if "plugin not found" in str(e):
            pytest.skip("userpass is not registered in this build")
        raise
    yield s
    s.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def client(srv):
    return srv.client()


def uniq(prefix="u"):
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def http(srv, method, path, token="root", **kw):
    headers = kw.pop("headers", {})
    if token:
        headers["X-Vault-Token"] = token
    return requests.request(method, srv.addr + "/v1/" + path, headers=headers, **kw)


def login(srv, user, password):
    return http(srv, "POST", f"auth/userpass/login/{user}", token=None, json={"password": password})


def test_user_crud_and_list(client):
    up = client.auth.userpass
    name = uniq()
    up.create_or_update_user(name, password="pw1", token_policies="dev,ops", token_ttl="1h", token_max_ttl="2h")
    r = up.read_user(name)
    d = r["data"]
    assert d["token_policies"] == ["dev", "ops"]
    assert d["token_ttl"] == 3600 and d["token_max_ttl"] == 7200
    assert d["token_type"] == "default" and d["token_bound_cidrs"] == [] and d["token_num_uses"] == 0
    assert "password" not in d and "password_hash" not in d
    assert name in up.list_user()["data"]["keys"]
    up.delete_user(name)
    with pytest.raises(hvac.exceptions.InvalidPath):
        up.read_user(name)


def test_usernames_are_case_insensitive(srv, client):
    name = uniq("Mixed")
    client.auth.userpass.create_or_update_user(name, password="pw")
    assert client.auth.userpass.read_user(name.lower())["data"]["token_policies"] == []
    assert name.lower() in client.auth.userpass.list_user()["data"]["keys"]
    assert login(srv, name.upper(), "pw").status_code == 200


def test_login_auth_block_and_token(srv, client):
    name = uniq()
    client.auth.userpass.create_or_update_user(name, password="s3cret", token_policies="dev", token_ttl="10m")
    r = login(srv, name, "s3cret")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["data"] is None
    a = body["auth"]
    assert a["client_token"].startswith("hvs.")
    assert a["accessor"]
    assert a["policies"] == ["default", "dev"]
    assert a["token_policies"] == ["default", "dev"]
    assert a["metadata"] == {"username": name}
    assert a["lease_duration"] == 600
    assert a["renewable"] is True
    assert a["token_type"] == "service"
    assert a["orphan"] is True
    assert a["num_uses"] == 0
    me = hvac.Client(url=srv.addr, token=a["client_token"]).auth.token.lookup_self()["data"]
    assert me["display_name"] == f"userpass-{name}"
    assert me["meta"] == {"username": name}
    assert sorted(me["policies"]) == ["default", "dev"]
    assert me["path"] == f"auth/userpass/login/{name}"


def test_hvac_login_sets_token(srv, client):
    name = uniq()
    client.auth.userpass.create_or_update_user(name, password="pw")
    c = hvac.Client(url=srv.addr)
    resp = c.auth.userpass.login(name, "pw")
    assert c.token == resp["auth"]["client_token"]
    assert c.is_authenticated()


def test_login_errors(srv, client):
    name = uniq()
    client.auth.userpass.create_or_update_user(name, password="right")
    for user, pw in ((name, "wrong"), (uniq("ghost"), "right")):
        r = login(srv, user, pw)
        assert r.status_code == 400
        assert r.json() == {"errors": ["invalid username or password"]}
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        hvac.Client(url=srv.addr).auth.userpass.login(name, "wrong")
    assert e.value.errors == ["invalid username or password"]
    r = http(srv, "POST", f"auth/userpass/login/{name}", token=None, json={})
    assert r.status_code == 400 and r.json()["errors"] == ["missing password"]


def test_write_errors(srv, client):
    r = http(srv, "POST", f"auth/userpass/users/{uniq()}", json={"token_policies": "x"})
    assert r.status_code == 400 and r.json()["errors"] == ["missing password"]
    r = http(srv, "POST", f"auth/userpass/users/{uniq()}", json={"password": "p", "token_type": "nope"})
    assert r.status_code == 400 and r.json()["errors"] == ["invalid 'token_type' value \"nope\""]
    r = http(srv, "POST", f"auth/userpass/users/{uniq()}", json={"password": "p", "token_ttl": 10, "token_max_ttl": 5})
    assert r.status_code == 400
    assert r.json()["errors"] == ["'token_ttl' cannot be greater than 'token_max_ttl'"]
    # No token: permission denied.
    r = http(srv, "GET", "auth/userpass/users/x", token=None)
    assert r.status_code == 403


def test_password_change_and_policies(srv, client):
    up = client.auth.userpass
    name = uniq()
    up.create_or_update_user(name, password="old")
    up.update_password_on_user(name, "new")
    assert login(srv, name, "old").status_code == 400
    assert login(srv, name, "new").status_code == 200
    r = http(srv, "POST", f"auth/userpass/users/{name}/policies", json={"token_policies": "a,b"})
    assert r.status_code == 204
    assert login(srv, name, "new").json()["auth"]["policies"] == ["a", "b", "default"]
    r = http(srv, "POST", f"auth/userpass/users/{name}/password", json={})
    assert r.status_code == 400 and r.json()["errors"] == ["missing password"]


def test_token_settings_apply(srv, client):
    name = uniq()
    # Without the default policy the token needs its own grant to look itself up.
    client.sys.create_or_update_policy("dev", 'path "auth/token/lookup-self" { capabilities = ["read"] }')
    client.auth.userpass.create_or_update_user(name, password="pw", token_num_uses=1, token_no_default_policy=True,
                                               token_policies="dev")
    a = login(srv, name, "pw").json()["auth"]
    assert a["policies"] == ["dev"]
    assert a["num_uses"] == 1
    tok = a["client_token"]
    assert http(srv, "GET", "auth/token/lookup-self", token=tok).status_code == 200
    assert http(srv, "GET", "auth/token/lookup-self", token=tok).status_code == 403


def test_bound_cidrs(srv, client):
    name = uniq()
    client.auth.userpass.create_or_update_user(name, password="pw", token_bound_cidrs="10.0.0.0/8")
    r = login(srv, name, "pw")
    assert r.status_code == 403
    client.auth.userpass.create_or_update_user(name, token_bound_cidrs="127.0.0.0/8")
    assert login(srv, name, "pw").status_code == 200


def test_policy_enforced_on_issued_token(srv, client):
    pol = uniq("pol")
    client.sys.create_or_update_policy(pol, 'path "auth/token/lookup-self" { capabilities = ["read"] }\n'
                                            'path "sys/mounts" { capabilities = ["deny"] }')
    name = uniq()
    client.auth.userpass.create_or_update_user(name, password="pw", token_policies=pol)
    tok = login(srv, name, "pw").json()["auth"]["client_token"]
    assert http(srv, "GET", "auth/token/lookup-self", token=tok).status_code == 200
    assert http(srv, "GET", "sys/mounts", token=tok).status_code == 403
    assert http(srv, "GET", "auth/userpass/users/" + name, token=tok).status_code == 403


def test_login_timing_does_not_reveal_users(srv, client):
    name = uniq()
    client.auth.userpass.create_or_update_user(name, password="right")

    def timed(user):
        t0 = time.perf_counter()
        r = login(srv, user, "wrong")
        dt = time.perf_counter() - t0
        assert r.status_code == 400
        return dt

    timed(name), timed("ghost")  # warm-up
    existing = [timed(name) for _ in range(5)]
    missing = [timed(uniq("ghost")) for _ in range(5)]
    me, mm = statistics.median(existing), statistics.median(missing)
    assert 0.5 * me < mm < 2.0 * me, (me, mm)


def test_cli_login_and_paths(srv):
    name = uniq()
    p = srv.cli("write", f"auth/userpass/users/{name}", "password=pw", "token_policies=dev", token="root")
    assert p.returncode == 0, p.stderr
    assert f"Success! Data written to: auth/userpass/users/{name}" in p.stdout
    p = srv.cli("read", f"auth/userpass/users/{name}", token="root")
    assert p.returncode == 0 and "token_policies" in p.stdout and "[dev]" in p.stdout
    p = srv.cli("list", "auth/userpass/users", token="root")
    assert p.returncode == 0 and name in p.stdout

    p = srv.cli("login", "-method=userpass", f"username={name}", "password=pw")
    assert p.returncode == 0, p.stderr
    assert "Success! You are now authenticated." in p.stdout
    assert "token_policies" in p.stdout and "token_meta_username" in p.stdout
    with open(os.path.join(srv.workdir, ".vault-token")) as f:
        stored = f.read().strip()
    assert stored.startswith("hvs.")
    assert http(srv, "GET", "auth/token/lookup-self", token=stored).json()["data"]["meta"] == {"username": name}

    p = srv.cli("login", "-method=userpass", f"username={name}", "password=bad")
    assert p.returncode == 2
    assert "invalid username or password" in p.stderr

    p = srv.cli("login", "-method=userpass", "-format=json", "-no-store", f"username={name}", "password=pw")
    assert p.returncode == 0, p.stderr
    import json as _json
    assert _json.loads(p.stdout)["auth"]["metadata"] == {"username": name}


def test_password_never_on_disk(srv, file_server):  # srv: skipped with it when unregistered
    s = file_server
    s.init(shares=1, threshold=1)
    s.unseal()
    c = s.client()
    c.sys.enable_auth_method("userpass")
    secret = "needle-" + uuid.uuid4().hex
    c.auth.userpass.create_or_update_user("disk", password=secret)
    assert login(s, "disk", secret).status_code == 200
    for root, _, files in os.walk(s.data_dir):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                assert secret.encode() not in fh.read()
