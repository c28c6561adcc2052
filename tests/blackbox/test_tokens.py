"""The token store through the HTTP API, hvac and our CLI: create (all variants), lookup,
renew, revoke, roles, tidy, and the lifecycle rules (TTL, use counts, parent/child)."""
import os
import shutil
import tempfile
import time

import pytest

from acl_helpers import api, errors, forbidden, token_with, write_policy
from conftest import VAULT, start_dev


@pytest.fixture(scope="module")
def srv():
    d = tempfile.mkdtemp(prefix="tresor-tokens-")
    s = start_dev(d)
    write_policy(s, "p1", 'path "secret/*" { capabilities = ["read"] }')
    write_policy(s, "p2", 'path "kv/*" { capabilities = ["read"] }')
    write_policy(s, "creator", '''
path "auth/token/create" { capabilities = ["create", "update"] }
path "auth/token/create/*" { capabilities = ["create", "update"] }
path "auth/token/create-orphan" { capabilities = ["create", "update"] }
path "auth/token/lookup" { capabilities = ["update"] }
path "auth/token/revoke-orphan" { capabilities = ["update"] }
''')
    yield s
    s.stop()
    shutil.rmtree(d, ignore_errors=True)


def create(srv, token="root", path="auth/token/create", **body):
    r = api(srv, "POST", path, token=token, body=body)
    assert r.status_code == 200, r.text
    return r.json()


def alive(srv, tok):
    return api(srv, "GET", "auth/token/lookup-self", token=tok).status_code == 200


# --- create ----------------------------------------------------------------------------

def test_create_response_shape(srv):
    body = create(srv, policies=["p1"], ttl="1h", meta={"app": "x"}, display_name="web")
    assert body["data"] is None
    auth = body["auth"]
    assert set(auth) >= {"client_token", "accessor", "policies", "token_policies", "metadata", "lease_duration",
                         "renewable", "entity_id", "token_type", "orphan", "mfa_requirement", "num_uses"}
    assert auth["client_token"].startswith("hvs.")
    assert len(auth["accessor"]) == 24
    assert auth["policies"] == ["default", "p1"] and auth["token_policies"] == ["default", "p1"]
    assert auth["metadata"] == {"app": "x"}
    assert auth["lease_duration"] == 3600 and auth["renewable"] is True
    assert auth["token_type"] == "service" and auth["orphan"] is False and auth["num_uses"] == 0
    d = api(srv, "GET", "auth/token/lookup-self", token=auth["client_token"]).json()["data"]
    assert d["display_name"] == "token-web"
    assert d["path"] == "auth/token/create"
    assert d["meta"] == {"app": "x"}
    assert d["creation_ttl"] == 3600 and 3590 <= d["ttl"] <= 3600
    assert d["expire_time"] and d["issue_time"]
    assert d["id"] == auth["client_token"] and d["orphan"] is False and d["type"] == "service"


def test_default_ttl_is_system_default(srv):
    auth = create(srv, policies=["p1"])["auth"]
    assert auth["lease_duration"] == 768 * 3600


def test_root_lookup_self(srv):
    r = api(srv, "GET", "auth/token/lookup-self")
    d = r.json()["data"]
    assert d["id"] == "root" and d["policies"] == ["root"] and d["path"] == "auth/token/root"
    assert d["ttl"] == 0 and d["expire_time"] is None and d["orphan"] is True
    assert d["display_name"] == "root"


def test_no_default_policy_and_orphans(srv):
    auth = create(srv, policies=["p1"], no_default_policy=True)["auth"]
    assert auth["policies"] == ["p1"]
    auth = create(srv, path="auth/token/create-orphan", policies=["p1"])["auth"]
    assert auth["orphan"] is True
    auth = create(srv, policies=["p1"], no_parent=True)["auth"]
    assert auth["orphan"] is True


def test_non_root_creation_rules(srv):
    creator = token_with(srv, "creator", "p1")
    auth = create(srv, token=creator, policies=["p1"])["auth"]
    assert auth["policies"] == ["p1"] and auth["orphan"] is False
    inherited = create(srv, token=creator)["auth"]
    assert inherited["policies"] == ["creator", "p1"]
    orphan = create(srv, token=creator, path="auth/token/create-orphan", policies=["p1"])["auth"]
    assert orphan["orphan"] is True
    cases = [
        ({"policies": ["p2"]}, "child policies must be subset of parent"),
        ({"policies": ["root"]}, "child policies must be subset of parent"),
        ({"no_parent": True}, "root or sudo privileges required to create orphan token"),
        ({"id": "mine"}, "root or sudo privileges required to specify token id"),
        ({"period": "1h"}, "root or sudo privileges required to create periodic token"),
        ({"num_uses": -1}, "number of uses cannot be negative"),
        ({"type": "weird"}, "invalid 'token_type' value"),
    ]
    for body, msg in cases:
        r = api(srv, "POST", "auth/token/create", token=creator, body=body)
        assert r.status_code == 400 and errors(r) == [msg], (body, r.text)
    r = api(srv, "POST", "auth/token/create", token=creator, body={"ttl": "banana"})
    assert r.status_code == 400 and "ttl" in errors(r)[0]


def test_custom_id_and_duplicates(srv):
    auth = create(srv, id="my-custom-token", policies=["p1"])["auth"]
    assert auth["client_token"] == "my-custom-token"
    r = api(srv, "POST", "auth/token/create", body={"id": "my-custom-token"})
    assert r.status_code == 400 and errors(r) == ["cannot create a token with a duplicate ID"]
    r = api(srv, "POST", "auth/token/create", body={"id": "hvs.abc"})
    assert r.status_code == 400


def test_permission_denied_without_policy(srv):
    tok = token_with(srv, "p1")
    assert forbidden(api(srv, "POST", "auth/token/create", token=tok, body={}))
    assert forbidden(api(srv, "POST", "auth/token/lookup", token=tok, body={"token": "root"}))
    assert forbidden(api(srv, "LIST", "auth/token/accessors", token=tok))
    assert forbidden(api(srv, "GET", "auth/token/lookup-self", token="hvs.doesnotexist000000000000"))
    assert forbidden(api(srv, "GET", "auth/token/lookup-self", token=None))


# --- lifecycle --------------------------------------------------------------------------

def test_ttl_enforced_to_the_second(srv):
    tok = create(srv, policies=["p1", "default"], ttl="2s")["auth"]["client_token"]
    assert alive(srv, tok)
    time.sleep(1.0)
    assert alive(srv, tok)
    time.sleep(1.3)
    assert forbidden(api(srv, "GET", "auth/token/lookup-self", token=tok))
    r = api(srv, "POST", "auth/token/lookup", body={"token": tok})
    assert r.status_code == 403


def test_child_dies_with_parent(srv):
    parent = create(srv, policies=["creator", "default"])["auth"]["client_token"]
    child = create(srv, token=parent, policies=["default"])["auth"]["client_token"]
    grandchild = create(srv, token=child, policies=["default"])["auth"]["client_token"] \
        if False else None  # the child lacks auth/token/create
    orphan = create(srv, token=parent, path="auth/token/create-orphan", policies=["default"])["auth"]["client_token"]
    assert alive(srv, child)
    assert api(srv, "POST", "auth/token/revoke", body={"token": parent}).status_code == 204
    assert not alive(srv, parent)
    assert not alive(srv, child)
    assert alive(srv, orphan)
    assert grandchild is None


def test_child_dies_when_parent_expires(srv):
    parent = create(srv, policies=["creator", "default"], ttl="1s")["auth"]["client_token"]
    child = create(srv, token=parent, policies=["default"], ttl="1h")["auth"]["client_token"]
    assert alive(srv, child)
    time.sleep(1.3)
    assert not alive(srv, child)


def test_revoke_self_and_orphan(srv):
    parent = create(srv, policies=["creator", "default"])["auth"]["client_token"]
    child = create(srv, token=parent, policies=["default"])["auth"]["client_token"]
    # revoke-orphan needs sudo even when the ACL allows the path.
    r = api(srv, "POST", "auth/token/revoke-orphan", token=parent, body={"token": child})
    assert r.status_code == 400 and errors(r) == ["root or sudo privileges required to revoke and orphan"]
    assert api(srv, "POST", "auth/token/revoke-orphan", body={"token": parent}).status_code == 204
    assert not alive(srv, parent) and alive(srv, child)
    assert api(srv, "GET", "auth/token/lookup-self", token=child).json()["data"]["orphan"] is True
    assert api(srv, "POST", "auth/token/revoke-self", token=child).status_code == 204
    assert not alive(srv, child)
    r = api(srv, "POST", "auth/token/revoke-orphan", body={"token": child})
    assert r.status_code == 400 and errors(r) == ["token to revoke not found"]
    assert api(srv, "POST", "auth/token/revoke", body={"token": "hvs.unknown"}).status_code == 204
    r = api(srv, "POST", "auth/token/revoke", body={})
    assert r.status_code == 400 and errors(r) == ["missing token ID"]


def test_batch_tokens(srv):
    auth = create(srv, type="batch", policies=["creator", "default"], ttl="10m")["auth"]
    batch = auth["client_token"]
    assert batch.startswith("hvb.") and auth["token_type"] == "batch"
    assert auth["renewable"] is False and auth["accessor"] == ""
    d = api(srv, "GET", "auth/token/lookup-self", token=batch).json()["data"]
    assert d["type"] == "batch" and d["renewable"] is False
    r = api(srv, "POST", "auth/token/create", token=batch, body={"policies": ["default"]})
    assert r.status_code == 400 and errors(r) == ["batch tokens cannot create more tokens"]
    r = api(srv, "POST", "auth/token/renew-self", token=batch, body={})
    assert r.status_code == 400 and errors(r) == ["batch tokens cannot be renewed"]
    r = api(srv, "POST", "auth/token/revoke", body={"token": batch})
    assert r.status_code == 400 and errors(r) == ["batch tokens cannot be revoked"]
    for body, field in [({"num_uses": 3}, "num_uses"), ({"period": "1h"}, "period"),
                        ({"explicit_max_ttl": "1h"}, "explicit_max_ttl")]:
        r = api(srv, "POST", "auth/token/create", body=dict(body, type="batch", policies=["p1"]))
        assert r.status_code == 400 and errors(r) == [f'batch tokens cannot have "{field}" set']
    # A batch child of a service token dies with it.
    parent = create(srv, policies=["default"])["auth"]["client_token"]
    parent_acc = api(srv, "GET", "auth/token/lookup-self", token=parent).json()["data"]["accessor"]
    write_policy(srv, "mk", 'path "auth/token/create" { capabilities = ["update"] }')
    parent2 = create(srv, policies=["mk", "default"])["auth"]["client_token"]
    b2 = create(srv, token=parent2, type="batch", policies=["default"])["auth"]["client_token"]
    assert alive(srv, b2)
    assert api(srv, "POST", "auth/token/revoke", body={"token": parent2}).status_code == 204
    assert not alive(srv, b2)
    assert parent_acc


def test_num_uses_one_works_exactly_once(srv):
    write_policy(srv, "secret-reader", 'path "secret/data/*" { capabilities = ["read"] }')
    api(srv, "POST", "secret/data/once", body={"data": {"k": "v"}})
    tok = create(srv, policies=["secret-reader"], num_uses=1)["auth"]["client_token"]
    r = api(srv, "GET", "secret/data/once", token=tok)
    assert r.status_code == 200
    assert forbidden(api(srv, "GET", "secret/data/once", token=tok))
    assert forbidden(api(srv, "GET", "auth/token/lookup-self", token=tok))
    tok = create(srv, policies=["default"], num_uses=2)["auth"]["client_token"]
    d = api(srv, "GET", "auth/token/lookup-self", token=tok).json()["data"]
    assert d["num_uses"] == 1
    assert api(srv, "GET", "auth/token/lookup-self", token=tok).status_code == 200
    assert forbidden(api(srv, "GET", "auth/token/lookup-self", token=tok))
    limited = create(srv, policies=["creator"], num_uses=3)["auth"]["client_token"]
    r = api(srv, "POST", "auth/token/create", token=limited, body={"policies": ["creator"]})
    assert r.status_code == 400 and errors(r) == ["restricted use token cannot generate child tokens"]


# --- lookup / renew ---------------------------------------------------------------------------

def test_lookup_variants_and_errors(srv):
    auth = create(srv, policies=["p1"], ttl="1h")["auth"]
    tok, acc = auth["client_token"], auth["accessor"]
    r = api(srv, "POST", "auth/token/lookup", body={"token": tok})
    assert r.status_code == 200 and r.json()["data"]["id"] == tok
    r = api(srv, "POST", "auth/token/lookup-accessor", body={"accessor": acc})
    assert r.status_code == 200 and r.json()["data"]["id"] == "" and r.json()["data"]["accessor"] == acc
    r = api(srv, "POST", "auth/token/lookup-accessor", body={})
    assert r.status_code == 400 and errors(r) == ["missing accessor"]
    r = api(srv, "POST", "auth/token/lookup-accessor", body={"accessor": "nope"})
    assert r.status_code == 400 and errors(r) == ["invalid accessor"]
    r = api(srv, "POST", "auth/token/lookup", body={"token": "hvs.nope"})
    assert r.status_code == 403
    r = api(srv, "LIST", "auth/token/accessors")
    assert r.status_code == 200 and acc in r.json()["data"]["keys"]


def test_renewals(srv):
    auth = create(srv, policies=["default"], ttl="10m", explicit_max_ttl="30m")["auth"]
    tok, acc = auth["client_token"], auth["accessor"]
    r = api(srv, "POST", "auth/token/renew-self", token=tok, body={"increment": "20m"})
    assert r.status_code == 200, r.text
    a = r.json()["auth"]
    assert a["client_token"] == tok and 1190 <= a["lease_duration"] <= 1200
    r = api(srv, "POST", "auth/token/renew", body={"token": tok, "increment": "2h"})
    assert r.status_code == 200 and 1790 <= r.json()["auth"]["lease_duration"] <= 1800
    assert r.json()["warnings"]  # capped by explicit_max_ttl
    r = api(srv, "POST", "auth/token/renew-accessor", body={"accessor": acc, "increment": 60})
    assert r.status_code == 200 and r.json()["auth"]["client_token"] == ""
    assert 55 <= r.json()["auth"]["lease_duration"] <= 60
    d = api(srv, "GET", "auth/token/lookup-self", token=tok).json()["data"]
    assert 55 <= d["ttl"] <= 60 and d["last_renewal_time"] > 0
    fixed = create(srv, policies=["default"], renewable=False)["auth"]["client_token"]
    r = api(srv, "POST", "auth/token/renew-self", token=fixed, body={})
    assert r.status_code == 400 and errors(r) == ["lease is not renewable"]
    r = api(srv, "POST", "auth/token/renew", body={"token": "hvs.nope"})
    assert r.status_code == 400 and errors(r) == ["token not found"]
    r = api(srv, "POST", "auth/token/renew", body={})
    assert r.status_code == 400 and errors(r) == ["missing token ID"]
    periodic = create(srv, policies=["default"], period="15m")["auth"]
    assert periodic["lease_duration"] == 900
    r = api(srv, "POST", "auth/token/renew-self", token=periodic["client_token"], body={"increment": "5h"})
    assert r.json()["auth"]["lease_duration"] == 900


# --- roles ----------------------------------------------------------------------------------

def test_roles_crud_and_create_with_role(srv):
    r = api(srv, "POST", "auth/token/roles/app", body={"allowed_policies": "p1,p2", "orphan": True,
                                                       "token_period": "1h", "path_suffix": "v1"})
    assert r.status_code == 204, r.text
    d = api(srv, "GET", "auth/token/roles/app").json()["data"]
    assert d["allowed_policies"] == ["p1", "p2"] and d["orphan"] is True and d["name"] == "app"
    assert d["period"] == 3600 and d["token_period"] == 3600 and d["renewable"] is True
    assert d["token_type"] == "default-service" and d["path_suffix"] == "v1"
    assert api(srv, "LIST", "auth/token/roles").json()["data"]["keys"] == ["app"]
    creator = token_with(srv, "creator")
    body = create(srv, token=creator, path="auth/token/create/app", policies=["p2"])
    auth = body["auth"]
    assert auth["policies"] == ["default", "p2"] and auth["orphan"] is True and auth["lease_duration"] == 3600
    d = api(srv, "GET", "auth/token/lookup-self", token=auth["client_token"]).json()["data"]
    assert d["role"] == "app" and d["path"] == "auth/token/create/app/v1" and d["period"] == 3600
    r = api(srv, "POST", "auth/token/create/app", token=creator, body={"policies": ["other"]})
    assert r.status_code == 400 and "must be subset of the role's allowed policies" in errors(r)[0]
    r = api(srv, "POST", "auth/token/create/missing", body={})
    assert r.status_code == 400 and errors(r) == ["unknown role missing"]
    r = api(srv, "POST", "auth/token/roles/bad", body={"token_type": "odd"})
    assert r.status_code == 400
    assert api(srv, "DELETE", "auth/token/roles/app").status_code == 204
    assert api(srv, "GET", "auth/token/roles/app").status_code == 404
    assert api(srv, "LIST", "auth/token/roles").status_code == 404


def test_tidy(srv):
    r = api(srv, "POST", "auth/token/tidy")
    assert r.status_code == 202
    assert r.json()["warnings"]


# --- hvac -------------------------------------------------------------------------------------

def test_hvac_token_calls(srv):
    c = srv.client()
    created = c.auth.token.create(policies=["p1"], ttl="1h", meta={"a": "b"})
    tok = created["auth"]["client_token"]
    assert c.auth.token.lookup(tok)["data"]["policies"] == ["default", "p1"]
    assert c.auth.token.lookup_accessor(created["auth"]["accessor"])["data"]["meta"] == {"a": "b"}
    assert c.auth.token.renew(tok, increment="30m")["auth"]["lease_duration"] == 1800
    child_client = srv.client(tok)
    assert child_client.auth.token.lookup_self()["data"]["id"] == tok
    assert child_client.is_authenticated()
    c.auth.token.create_or_update_role("hv-role", allowed_policies=["p1"])
    assert c.auth.token.read_role("hv-role")["data"]["allowed_policies"] == ["p1"]
    assert "hv-role" in c.auth.token.list_roles()["data"]["keys"]
    orphan = c.auth.token.create_orphan(policies=["p1"])["auth"]
    assert orphan["orphan"] is True
    role_tok = c.auth.token.create(role_name="hv-role")["auth"]
    assert role_tok["policies"] == ["default", "p1"]
    c.auth.token.revoke_accessor(orphan["accessor"])
    c.auth.token.revoke(tok)
    assert not srv.client(tok).is_authenticated()
    c.auth.token.delete_role("hv-role")


# --- CLI ----------------------------------------------------------------------------------------

needs_cli = pytest.mark.skipif(not os.path.exists(VAULT), reason="CLI binary not built")


@needs_cli
def test_cli_token_commands(srv):
    import json
    r = srv.cli("token", "create", "-policy=p1", "-ttl=1h", "-format=json", token="root")
    assert r.returncode == 0, r.stderr
    auth = json.loads(r.stdout)["auth"]
    tok = auth["client_token"]
    r = srv.cli("token", "lookup", "-format=json", tok, token="root")
    assert r.returncode == 0 and json.loads(r.stdout)["data"]["id"] == tok
    r = srv.cli("token", "renew", "-increment=30m", tok, token="root")
    assert r.returncode == 0, r.stderr
    r = srv.cli("token", "revoke", tok, token="root")
    assert r.returncode == 0 and "Success! Revoked token" in r.stdout
    r = srv.cli("token", "lookup", tok, token="root")
    assert r.returncode == 2
