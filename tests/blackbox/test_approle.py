"""AppRole auth method through hvac, raw HTTP and our CLI against a dev server."""
import json
import shutil
import tempfile
import uuid

import hvac
import pytest
import requests

from conftest import start_dev


@pytest.fixture(scope="module")
def srv():
    d = tempfile.mkdtemp(prefix="tresor-approle-")
    s = start_dev(d)
    try:
        s.client().sys.enable_auth_method("approle")
    except hvac.exceptions.InvalidRequest as e:
        s.stop()
        if "plugin not found" in str(e):
            pytest.skip("approle is not registered in this build")
        raise
    yield s
    s.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def client(srv):
    return srv.client()


@pytest.fixture
def role(client):
    name = f"r{uuid.uuid4().hex[:8]}"
    client.auth.approle.create_or_update_approle(name, token_policies=["dev"], token_ttl="20m",
                                                 token_max_ttl="30m")
    return name


def http(srv, method, path, token="root", **kw):
    headers = kw.pop("headers", {})
    if token:
        headers["X-Vault-Token"] = token
    return requests.request(method, srv.addr + "/v1/" + path, headers=headers, **kw)


def login(srv, role_id, secret_id=None):
    body = {"role_id": role_id}
    if secret_id is not None:
        body["secret_id"] = secret_id
    return http(srv, "POST", "auth/approle/login", token=None, json=body)


def test_role_crud(client, role):
    ar = client.auth.approle
    d = ar.read_role(role)["data"]
    assert d["bind_secret_id"] is True
    assert d["token_policies"] == ["dev"]
    assert d["token_ttl"] == 1200 and d["token_max_ttl"] == 1800
    assert d["secret_id_bound_cidrs"] == [] and d["secret_id_num_uses"] == 0 and d["secret_id_ttl"] == 0
    assert d["token_type"] == "default" and d["local_secret_ids"] is False
    assert role in ar.list_roles()["data"]["keys"]
    ar.create_or_update_approle(role, secret_id_num_uses=5, token_type="service")
    d = ar.read_role(role)["data"]
    assert d["secret_id_num_uses"] == 5 and d["token_type"] == "service" and d["token_policies"] == ["dev"]
    ar.delete_role(role)
    with pytest.raises(hvac.exceptions.InvalidPath):
        ar.read_role(role)


def test_role_names_case_insensitive(srv, client):
    name = f"Mixed{uuid.uuid4().hex[:6]}"
    client.auth.approle.create_or_update_approle(name)
    assert client.auth.approle.read_role(name.lower())["data"]["bind_secret_id"] is True
    assert name.lower() in client.auth.approle.list_roles()["data"]["keys"]
    assert http(srv, "GET", f"auth/approle/role/{name.upper()}/role-id").status_code == 200


def test_login_flow_and_auth_block(srv, client, role):
    ar = client.auth.approle
    role_id = ar.read_role_id(role)["data"]["role_id"]
    gen = ar.generate_secret_id(role, metadata={"tag1": "production"})["data"]
    assert set(gen) >= {"secret_id", "secret_id_accessor", "secret_id_ttl", "secret_id_num_uses"}
    r = login(srv, role_id, gen["secret_id"])
    assert r.status_code == 200, r.text
    a = r.json()["auth"]
    assert a["client_token"].startswith("hvs.")
    assert a["policies"] == ["default", "dev"]
    assert a["metadata"] == {"role_name": role, "tag1": "production"}
    assert a["lease_duration"] == 1200
    assert a["renewable"] is True and a["token_type"] == "service"
    me = hvac.Client(url=srv.addr, token=a["client_token"]).auth.token.lookup_self()["data"]
    assert me["display_name"] == "approle"
    assert me["meta"]["role_name"] == role
    assert me["path"] == "auth/approle/login"
    # hvac's own login sets the client's token.
    c = hvac.Client(url=srv.addr)
    c.auth.approle.login(role_id, gen["secret_id"])
    assert c.is_authenticated()


def test_login_errors(srv, client, role):
    role_id = client.auth.approle.read_role_id(role)["data"]["role_id"]
    cases = [
        ({}, "missing role_id"),
        ({"role_id": "nope", "secret_id": "x"}, "invalid role ID"),
        ({"role_id": role_id}, "missing secret_id"),
        ({"role_id": role_id, "secret_id": "wrong"}, "invalid secret id"),
    ]
    for body, msg in cases:
        r = http(srv, "POST", "auth/approle/login", token=None, json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["errors"] == [msg]
    with pytest.raises(hvac.exceptions.InvalidRequest):
        hvac.Client(url=srv.addr).auth.approle.login(role_id, "wrong")


def test_unknown_role_errors(srv):
    r = http(srv, "POST", "auth/approle/role/nope/secret-id")
    assert r.status_code == 400 and r.json()["errors"] == ['role "nope" does not exist']
    assert http(srv, "GET", "auth/approle/role/nope").status_code == 404
    assert http(srv, "GET", "auth/approle/role/nope/role-id").status_code == 404
    r = http(srv, "POST", "auth/approle/role/nope/role-id", json={"role_id": "x"})
    assert r.status_code == 400 and r.json()["errors"] == ['role "nope" does not exist']


def test_role_write_errors(srv):
    r = http(srv, "POST", "auth/approle/role/bad", json={"bind_secret_id": False})
    assert r.status_code == 400
    assert r.json()["errors"] == ["at least one constraint should be enabled on the role"]
    r = http(srv, "POST", "auth/approle/role/bad", json={"token_type": "x"})
    assert r.status_code == 400 and r.json()["errors"] == ["invalid 'token_type' value \"x\""]
    r = http(srv, "POST", "auth/approle/role/bad", json={"secret_id_num_uses": -1})
    assert r.status_code == 400 and r.json()["errors"] == ["secret_id_num_uses cannot be negative"]
    assert http(srv, "POST", "auth/approle/role/bad", token=None, json={}).status_code == 403


def test_secret_id_single_use(srv, client, role):
    role_id = client.auth.approle.read_role_id(role)["data"]["role_id"]
    sid = http(srv, "POST", f"auth/approle/role/{role}/secret-id", json={"num_uses": 1}).json()["data"]
    assert sid["secret_id_num_uses"] == 1
    assert login(srv, role_id, sid["secret_id"]).status_code == 200
    r = login(srv, role_id, sid["secret_id"])
    assert r.status_code == 400 and r.json()["errors"] == ["invalid secret id"]


def test_custom_role_id_and_secret_id(srv, client, role):
    ar = client.auth.approle
    ar.update_role_id(role, "my-custom-role-id-" + role)
    assert ar.read_role_id(role)["data"]["role_id"] == "my-custom-role-id-" + role
    custom = ar.create_custom_secret_id(role, "my-custom-secret-" + role)["data"]
    assert custom["secret_id"] == "my-custom-secret-" + role
    assert login(srv, "my-custom-role-id-" + role, "my-custom-secret-" + role).status_code == 200
    r = http(srv, "POST", f"auth/approle/role/{role}/custom-secret-id", json={"secret_id": "my-custom-secret-" + role})
    assert r.status_code == 400


def test_secret_id_lookup_destroy_accessors(srv, client, role):
    ar = client.auth.approle
    role_id = ar.read_role_id(role)["data"]["role_id"]
    one = ar.generate_secret_id(role, metadata={"k": "v"}, cidr_list=["127.0.0.0/8"])["data"]
    two = ar.generate_secret_id(role)["data"]
    keys = ar.list_secret_id_accessors(role)["data"]["keys"]
    assert sorted(keys) == sorted([one["secret_id_accessor"], two["secret_id_accessor"]])

    d = ar.read_secret_id(role, one["secret_id"])["data"]
    assert d["secret_id_accessor"] == one["secret_id_accessor"]
    assert d["metadata"] == {"k": "v"} and d["cidr_list"] == ["127.0.0.0/8"]
    assert d["expiration_time"] == "0001-01-01T00:00:00Z"
    assert set(d) == {"cidr_list", "creation_time", "expiration_time", "last_updated_time", "metadata",
                      "secret_id_accessor", "secret_id_num_uses", "secret_id_ttl", "token_bound_cidrs"}
    assert ar.read_secret_id_accessor(role, one["secret_id_accessor"])["data"] == d

    ar.destroy_secret_id(role, one["secret_id"])
    assert login(srv, role_id, one["secret_id"]).status_code == 400
    ar.destroy_secret_id_accessor(role, two["secret_id_accessor"])
    assert login(srv, role_id, two["secret_id"]).status_code == 400
    assert http(srv, "LIST", f"auth/approle/role/{role}/secret-id").status_code == 404
    r = http(srv, "POST", f"auth/approle/role/{role}/secret-id/lookup", json={})
    assert r.status_code == 400 and r.json()["errors"] == ["missing secret_id"]
    r = http(srv, "POST", f"auth/approle/role/{role}/secret-id-accessor/lookup", json={"secret_id_accessor": "x"})
    assert r.status_code == 400


def test_cidr_bindings(srv, client):
    name = f"c{uuid.uuid4().hex[:8]}"
    client.auth.approle.create_or_update_approle(name, secret_id_bound_cidrs=["10.0.0.0/8"])
    role_id = client.auth.approle.read_role_id(name)["data"]["role_id"]
    sid = client.auth.approle.generate_secret_id(name)["data"]["secret_id"]
    r = login(srv, role_id, sid)
    assert r.status_code == 400
    assert "unauthorized by CIDR restrictions on the role" in r.json()["errors"][0]
    client.auth.approle.create_or_update_approle(name, secret_id_bound_cidrs=["127.0.0.0/8"])
    assert login(srv, role_id, sid).status_code == 200
    # token_bound_cidrs that exclude the caller: 403.
    client.auth.approle.create_or_update_approle(name, token_bound_cidrs=["10.0.0.0/8"])
    assert login(srv, role_id, sid).status_code == 403


def test_bind_secret_id_off(srv, client):
    name = f"o{uuid.uuid4().hex[:8]}"
    r = http(srv, "POST", f"auth/approle/role/{name}",
             json={"bind_secret_id": False, "secret_id_bound_cidrs": "127.0.0.1/32"})
    assert r.status_code == 204
    role_id = client.auth.approle.read_role_id(name)["data"]["role_id"]
    assert login(srv, role_id).status_code == 200


def test_field_paths(srv, role):
    cases = [("token-ttl", "token_ttl", "5m", 300), ("token-max-ttl", "token_max_ttl", "1h", 3600),
             ("secret-id-ttl", "secret_id_ttl", "10m", 600), ("secret-id-num-uses", "secret_id_num_uses", 3, 3),
             ("token-num-uses", "token_num_uses", 2, 2), ("period", "token_period", "1h", 3600),
             ("policies", "token_policies", "a,b", ["a", "b"]),
             ("token-bound-cidrs", "token_bound_cidrs", "127.0.0.0/8", ["127.0.0.0/8"]),
             ("secret-id-bound-cidrs", "secret_id_bound_cidrs", "127.0.0.0/8", ["127.0.0.0/8"]),
             ("bind-secret-id", "bind_secret_id", False, False)]
    for suffix, field, value, expect in cases:
        path = f"auth/approle/role/{role}/{suffix}"
        r = http(srv, "POST", path, json={field: value})
        assert r.status_code == 204, (suffix, r.text)
        assert http(srv, "GET", path).json()["data"][field] == expect, suffix
        assert http(srv, "GET", f"auth/approle/role/{role}").json()["data"][field] == expect, suffix
    for suffix, field, _, _ in reversed(cases):
        assert http(srv, "DELETE", f"auth/approle/role/{role}/{suffix}").status_code == 204, suffix
    d = http(srv, "GET", f"auth/approle/role/{role}").json()["data"]
    assert d["bind_secret_id"] is True and d["token_ttl"] == 0 and d["token_policies"] == []
    r = http(srv, "POST", f"auth/approle/role/{role}/token-ttl", json={})
    assert r.status_code == 400 and r.json()["errors"] == ["missing token_ttl"]


def test_tidy(srv):
    r = http(srv, "POST", "auth/approle/tidy/secret-id")
    assert r.status_code in (200, 202)
    assert r.json()["warnings"]


def test_cli(srv):
    name = f"cli{uuid.uuid4().hex[:6]}"
    p = srv.cli("write", f"auth/approle/role/{name}", "token_policies=dev", "secret_id_ttl=10m", token="root")
    assert p.returncode == 0, p.stderr
    assert f"Success! Data written to: auth/approle/role/{name}" in p.stdout
    p = srv.cli("read", "-format=json", f"auth/approle/role/{name}/role-id", token="root")
    assert p.returncode == 0, p.stderr
    role_id = json.loads(p.stdout)["data"]["role_id"]
    p = srv.cli("write", "-f", "-format=json", f"auth/approle/role/{name}/secret-id", token="root")
    assert p.returncode == 0, p.stderr
    secret_id = json.loads(p.stdout)["data"]["secret_id"]
    p = srv.cli("write", "auth/approle/login", f"role_id={role_id}", f"secret_id={secret_id}")
    assert p.returncode == 0, p.stderr
    for key in ("token ", "token_accessor", "token_duration", "token_policies", "token_meta_role_name"):
        assert key in p.stdout, key
    p = srv.cli("write", "-format=json", "auth/approle/login", f"role_id={role_id}", f"secret_id={secret_id}")
    assert json.loads(p.stdout)["auth"]["client_token"].startswith("hvs.")
    p = srv.cli("write", "auth/approle/login", f"role_id={role_id}", "secret_id=wrong")
    assert p.returncode == 2
    assert "invalid secret id" in p.stderr
    p = srv.cli("list", "auth/approle/role", token="root")
    assert p.returncode == 0 and name in p.stdout
