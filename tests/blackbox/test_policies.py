"""ACL policies through the HTTP API, hvac and our CLI: sys/policy, sys/policies/acl,
sys/capabilities*, and enforcement, including the path tricks that must not escape a policy."""
import os
import shutil
import tempfile

import pytest

from acl_helpers import api, errors, follow, forbidden, raw, token_with, write_policy
from conftest import VAULT, start_dev


@pytest.fixture(scope="module")
def srv():
    d = tempfile.mkdtemp(prefix="tresor-policies-")
    s = start_dev(d)
    yield s
    s.stop()
    shutil.rmtree(d, ignore_errors=True)


READER = '''
path "secret/data/public/*" { capabilities = ["read", "create", "update"] }
path "secret/metadata/*" { capabilities = ["list"] }
path "secret/metadata/private/*" { capabilities = ["deny"] }
path "secret/data/exact" { capabilities = ["read"] }
'''


def put_secret(srv, path, data):
    r = api(srv, "POST", f"secret/data/{path}", body={"data": data})
    assert r.status_code == 200, r.text


# --- CRUD and response shapes --------------------------------------------------------

def test_legacy_policy_crud_and_shapes(srv):
    r = api(srv, "PUT", "sys/policy/legacy-one", body={"policy": 'path "a/*" { capabilities = ["read"] }'})
    assert r.status_code == 204
    r = api(srv, "GET", "sys/policy/legacy-one")
    assert r.status_code == 200
    body = r.json()
    assert body["data"] == {"name": "legacy-one", "rules": 'path "a/*" { capabilities = ["read"] }'}
    assert body["name"] == "legacy-one" and body["rules"] == body["data"]["rules"]  # data injection
    r = api(srv, "GET", "sys/policy")
    body = r.json()
    assert r.status_code == 200
    assert "legacy-one" in body["data"]["keys"] and "default" in body["data"]["keys"]
    assert body["data"]["keys"][-1] == "root"
    assert body["data"]["policies"] == body["data"]["keys"]
    assert body["policies"] == body["keys"] == body["data"]["keys"]
    # `rules` is accepted on the legacy path.
    r = api(srv, "PUT", "sys/policy/legacy-two", body={"rules": 'path "b" { policy = "write" }'})
    assert r.status_code == 204
    assert api(srv, "DELETE", "sys/policy/legacy-two").status_code == 204
    assert api(srv, "GET", "sys/policy/legacy-two").status_code == 404
    assert api(srv, "DELETE", "sys/policy/legacy-two").status_code == 204  # idempotent


def test_acl_policy_crud_and_shapes(srv):
    text = '{"path": {"kv/*": {"capabilities": ["read", "list"]}}}'  # JSON form
    assert api(srv, "PUT", "sys/policies/acl/JsonPol", body={"policy": text}).status_code == 204
    r = api(srv, "GET", "sys/policies/acl/jsonpol")  # names are lower-cased
    assert r.status_code == 200
    assert r.json()["data"] == {"name": "jsonpol", "policy": text}
    r = api(srv, "LIST", "sys/policies/acl")
    assert r.status_code == 200
    keys = r.json()["data"]["keys"]
    assert "jsonpol" in keys and "default" in keys and "root" in keys
    assert "policies" not in r.json()["data"]
    r = api(srv, "GET", "sys/policies/acl", params={"list": "true"})
    assert r.status_code == 200 and r.json()["data"]["keys"] == keys
    assert api(srv, "DELETE", "sys/policies/acl/JSONPOL").status_code == 204
    assert api(srv, "GET", "sys/policies/acl/jsonpol").status_code == 404


def test_hvac_policy_calls(srv):
    c = srv.client()
    c.sys.create_or_update_policy(name="hv-legacy", policy='path "x/*" { capabilities = ["read"] }')
    assert "hv-legacy" in c.sys.list_policies()["data"]["policies"]
    assert c.sys.read_policy(name="hv-legacy")["data"]["rules"].startswith('path "x/*"')
    c.sys.delete_policy(name="hv-legacy")
    c.sys.create_or_update_acl_policy(name="hv-acl", policy='path "y/*" { capabilities = ["list"] }')
    assert "hv-acl" in c.sys.list_acl_policies()["data"]["keys"]
    assert c.sys.read_acl_policy(name="hv-acl")["data"]["policy"] == 'path "y/*" { capabilities = ["list"] }'
    c.sys.delete_acl_policy(name="hv-acl")


def test_builtin_policies(srv):
    r = api(srv, "GET", "sys/policy/root")
    assert r.status_code == 200 and r.json()["data"] == {"name": "root", "rules": ""}
    default = api(srv, "GET", "sys/policies/acl/default").json()["data"]["policy"]
    assert 'path "auth/token/lookup-self"' in default and 'path "cubbyhole/*"' in default
    for name in ["root", "Root", "ROOT"]:
        r = api(srv, "PUT", f"sys/policy/{name}", body={"policy": 'path "*" { capabilities = ["sudo"] }'})
        assert r.status_code == 400 and errors(r) == ['cannot update "root" policy'], r.text
        r = api(srv, "DELETE", f"sys/policies/acl/{name}")
        assert r.status_code == 400 and errors(r) == ['cannot delete "root" policy']
    r = api(srv, "DELETE", "sys/policy/default")
    assert r.status_code == 400 and errors(r) == ['cannot delete "default" policy']
    # " root" (leading space) is refused rather than becoming an alias of root.
    r = api(srv, "PUT", "sys/policy/%20root", body={"policy": 'path "*" { capabilities = ["sudo"] }'})
    assert r.status_code == 400


def test_policy_write_errors(srv):
    r = api(srv, "PUT", "sys/policies/acl/empty", body={})
    assert r.status_code == 400 and errors(r) == ["'policy' parameter not supplied or empty"]
    r = api(srv, "PUT", "sys/policy/empty", body={"policy": ""})
    assert r.status_code == 400 and "'policy' parameter" in errors(r)[0]
    r = api(srv, "PUT", "sys/policies/acl/bad", body={"policy": 'path "a" { capabilities = ["fly"] }'})
    assert r.status_code == 400
    assert errors(r)[0].startswith("failed to parse policy:") and 'invalid capability "fly"' in errors(r)[0]
    r = api(srv, "PUT", "sys/policies/acl/bad", body={"policy": 'path "a" { capabilities = ['})
    assert r.status_code == 400 and errors(r)[0].startswith("failed to parse policy:")
    r = api(srv, "PUT", "sys/policies/acl/bad", body={"policy": 'pth "a" {}'})
    assert r.status_code == 400 and 'invalid key "pth"' in errors(r)[0]
    assert api(srv, "GET", "sys/policies/acl/bad").status_code == 404
    assert api(srv, "GET", "sys/policies/acl/never-written").status_code == 404


def test_policy_endpoints_need_permission(srv):
    tok = token_with(srv, "default")
    assert forbidden(api(srv, "GET", "sys/policy", token=tok))
    assert forbidden(api(srv, "PUT", "sys/policies/acl/x", token=tok, body={"policy": ""}))
    assert forbidden(api(srv, "DELETE", "sys/policies/acl/default", token=tok))


# --- enforcement ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reader(srv):
    write_policy(srv, "reader", READER)
    put_secret(srv, "public/a", {"v": "public"})
    put_secret(srv, "private/b", {"v": "private"})
    put_secret(srv, "exact", {"v": "exact"})
    put_secret(srv, "other", {"v": "other"})
    return token_with(srv, "reader")


def test_policy_grants_and_denies(srv, reader):
    r = api(srv, "GET", "secret/data/public/a", token=reader)
    assert r.status_code == 200 and r.json()["data"]["data"] == {"v": "public"}
    assert api(srv, "GET", "secret/data/exact", token=reader).status_code == 200
    assert forbidden(api(srv, "GET", "secret/data/private/b", token=reader))
    assert forbidden(api(srv, "GET", "secret/data/other", token=reader))
    assert forbidden(api(srv, "DELETE", "secret/data/public/a", token=reader))
    assert forbidden(api(srv, "GET", "sys/mounts", token=reader))


def test_policy_change_takes_effect_immediately(srv):
    write_policy(srv, "flip", 'path "secret/data/flip" { capabilities = ["read"] }')
    put_secret(srv, "flip", {"x": "1"})
    tok = token_with(srv, "flip")
    assert api(srv, "GET", "secret/data/flip", token=tok).status_code == 200
    write_policy(srv, "flip", 'path "secret/data/flip" { capabilities = ["deny"] }')
    assert forbidden(api(srv, "GET", "secret/data/flip", token=tok))
    write_policy(srv, "flip", 'path "secret/data/flip" { capabilities = ["read"] }')
    assert api(srv, "GET", "secret/data/flip", token=tok).status_code == 200
    assert api(srv, "DELETE", "sys/policies/acl/flip").status_code == 204
    assert forbidden(api(srv, "GET", "secret/data/flip", token=tok))


@pytest.mark.parametrize("raw_path", [
    "/v1/secret/data/public/../private/b",
    "/v1/secret/data/public/./../private/b",
    "/v1/secret/data/public/a/../../private/b",
    "/v1/secret/data/public//../private/b",
    "/v1/secret/data/public%2F..%2Fprivate%2Fb",
    "/v1/secret/data/public/%2e%2e/private/b",
    "/v1/secret/data/public/..%2Fprivate/b",
    "/v1//secret/data/private/b",
    "/v1/secret//data/private/b",
    "/v1/./secret/data/private/b",
])
def test_path_tricks_do_not_escape_policy(srv, reader, raw_path):
    status, body, visited = follow(srv, "GET", raw_path, token=reader)
    assert status == 403, (visited, status, body)
    assert "private" not in str((body or {}).get("data"))


def test_dot_segments_are_redirected_to_the_clean_path(srv, reader):
    status, hdrs, _ = raw(srv, "GET", "/v1/secret/data/public/../private/b", token=reader)
    assert status == 301
    assert hdrs["location"].endswith("/v1/secret/data/private/b")


@pytest.mark.parametrize("raw_path", [
    "/v1/secret/data/private/b/",
    "/v1/secret/data/exact/",
    "/v1/secret/data/other/",
    "/v1/SECRET/data/private/b",
    "/v1/Secret/data/private/b",
    "/v1/secret/DATA/private/b",
    "/v1/secret/data/Private/b",
    "/v1/secret/data/PUBLIC/../private/b",
])
def test_trailing_slash_and_case_do_not_escape_policy(srv, reader, raw_path):
    status, body, visited = follow(srv, "GET", raw_path, token=reader)
    # As in Vault: 403 on a path no policy grants, whatever its case -- never the secret.
    assert status == 403, (visited, status, body)
    assert "private" not in str(body) and "other" not in str(body)


def test_list_does_not_see_past_more_specific_deny(srv, reader):
    r = api(srv, "LIST", "secret/metadata/", token=reader)
    assert r.status_code == 200
    assert "public/" in r.json()["data"]["keys"]
    assert forbidden(api(srv, "LIST", "secret/metadata/private", token=reader))
    assert forbidden(api(srv, "LIST", "secret/metadata/private/", token=reader))
    assert forbidden(api(srv, "GET", "secret/metadata/private/", token=reader, params={"list": "true"}))
    status, _, _ = follow(srv, "LIST", "/v1/secret/metadata/public/../private/", token=reader)
    assert status == 403


def test_recursive_list_does_not_see_past_more_specific_deny(srv, reader):
    for path in ["public/deep/c", "private/deeper/d", "zz/top"]:
        put_secret(srv, path, {"v": "x"})
    r = api(srv, "LIST", "secret/metadata/", token=reader, params={"recursive": "true"})
    assert r.status_code == 200, r.text
    keys = r.json()["data"]["keys"]
    assert {"public/a", "public/deep/c", "zz/top", "exact"} <= set(keys)
    assert not [k for k in keys if k.startswith("private")], keys
    # Paging resumes correctly around the hidden folder ("private/" sorts before "public/").
    r = api(srv, "LIST", "secret/metadata/", token=reader, params={"recursive": "true", "limit": "2", "after": "private"})
    assert r.json()["data"]["keys"] == ["public/a", "public/deep/c"]
    # Root (and any caller allowed to list the sub-folder) still sees every name.
    r = api(srv, "LIST", "secret/metadata/", params={"recursive": "true"})
    assert {"private/b", "private/deeper/d"} <= set(r.json()["data"]["keys"])
    # The same on a KV v1 mount and in the caller's cubbyhole.
    assert api(srv, "POST", "sys/mounts/kvone", body={"type": "kv", "options": {"version": "1"}}).status_code == 204
    for path in ["open/a", "hidden/b", "hidden/sub/c"]:
        assert api(srv, "PUT", f"kvone/{path}", body={"v": "x"}).status_code == 204
    write_policy(srv, "kvone-lister", '''
path "kvone/*" { capabilities = ["list"] }
path "kvone/hidden/*" { capabilities = ["deny"] }
path "cubbyhole/*" { capabilities = ["create", "update", "list"] }
path "cubbyhole/secret/*" { capabilities = ["create", "update"] }
''')
    tok = token_with(srv, "kvone-lister")
    r = api(srv, "GET", "kvone/", token=tok, params={"list": "true", "recursive": "true"})
    assert r.status_code == 200 and r.json()["data"]["keys"] == ["open/a"], r.text
    for path in ["mine/a", "secret/b"]:
        assert api(srv, "PUT", f"cubbyhole/{path}", token=tok, body={"v": "x"}).status_code == 204
    r = api(srv, "LIST", "cubbyhole/", token=tok, params={"recursive": "true"})
    assert r.status_code == 200 and r.json()["data"]["keys"] == ["mine/a"], r.text


def test_parameter_constraints(srv):
    write_policy(srv, "params", '''
path "secret/data/params" {
  capabilities = ["create", "update"]
  allowed_parameters = { "data" = [] "options" = [] }
  denied_parameters = { "options" = [] }
}
path "sys/policies/acl/limited-*" {
  capabilities = ["create", "update"]
  required_parameters = ["policy"]
}
''')
    tok = token_with(srv, "params")
    assert api(srv, "POST", "secret/data/params", token=tok, body={"data": {"a": "b"}}).status_code == 200
    assert forbidden(api(srv, "POST", "secret/data/params", token=tok,
                         body={"data": {"a": "b"}, "options": {"cas": 0}}))
    assert forbidden(api(srv, "POST", "secret/data/params", token=tok, body={"data": {}, "other": 1}))
    assert forbidden(api(srv, "PUT", "sys/policies/acl/limited-x", token=tok, body={"rules": "x"}))
    r = api(srv, "PUT", "sys/policies/acl/limited-x", token=tok, body={"policy": 'path "z" { capabilities = ["read"] }'})
    assert r.status_code == 204


def test_root_lookalike_policy_names_grant_nothing(srv):
    # A non-root parent cannot mint a root token by spelling "root" differently...
    write_policy(srv, "creator", 'path "auth/token/create" { capabilities = ["create", "update"] }')
    creator = token_with(srv, "creator")
    for spelled in ["Root", " root", "ROOT "]:
        r = api(srv, "POST", "auth/token/create", token=creator, body={"policies": [spelled]})
        assert r.status_code == 400, r.text
    # ...and capabilities for a token only holding a root-lookalike are nothing.
    r = api(srv, "POST", "sys/capabilities", body={"token": creator, "paths": ["sys/mounts"]})
    assert r.json()["data"]["capabilities"] == ["deny"]


def test_expired_and_revoked_tokens_are_refused_everywhere(srv):
    import time
    write_policy(srv, "broad", 'path "*" { capabilities = ["create", "read", "update", "delete", "list"] }')
    expiring = token_with(srv, "broad", "default", ttl="1s")
    revoked = token_with(srv, "broad", "default")
    assert api(srv, "GET", "auth/token/lookup-self", token=revoked).status_code == 200
    assert api(srv, "POST", "auth/token/revoke-self", token=revoked).status_code == 204
    time.sleep(1.3)
    calls = [("GET", "auth/token/lookup-self", None), ("GET", "secret/data/public/a", None),
             ("LIST", "secret/metadata/", None), ("GET", "sys/policy", None),
             ("POST", "sys/capabilities-self", {"paths": ["secret/"]}),
             ("PUT", "cubbyhole/x", {"a": "b"}), ("POST", "auth/token/create", {}),
             ("POST", "auth/token/renew-self", {}), ("GET", "sys/mounts", None),
             ("GET", "does-not-exist/x", None)]
    for tok in (expiring, revoked):
        for method, path, body in calls:
            r = api(srv, method, path, token=tok, body=body)
            assert r.status_code in (403,) or (path.startswith("does-not-exist") and r.status_code in (403, 404)), \
                (tok[:8], method, path, r.status_code, r.text)


# --- capabilities -----------------------------------------------------------------------

def test_capabilities_endpoints(srv, reader):
    # capabilities-self and lookup-self are granted by the default policy, which `reader` lacks.
    reader = token_with(srv, "reader", "default")
    r = api(srv, "POST", "sys/capabilities-self", token=reader, body={"paths": ["secret/data/public/x"]})
    assert r.status_code == 200
    assert r.json()["data"]["capabilities"] == ["create", "read", "update"]
    assert r.json()["capabilities"] == ["create", "read", "update"]  # data injection
    assert r.json()["data"]["secret/data/public/x"] == ["create", "read", "update"]
    r = api(srv, "POST", "sys/capabilities", body={"token": reader, "paths": ["secret/data/private/b", "secret/metadata/x"]})
    assert r.json()["data"]["secret/data/private/b"] == ["deny"]
    assert r.json()["data"]["secret/metadata/x"] == ["list"]
    acc = api(srv, "GET", "auth/token/lookup-self", token=reader).json()["data"]["accessor"]
    r = api(srv, "POST", "sys/capabilities-accessor", body={"accessor": acc, "path": "secret/data/exact"})
    assert r.json()["data"]["capabilities"] == ["read"]
    r = api(srv, "POST", "sys/capabilities-self", body={"path": "anything"})
    assert r.json()["data"]["capabilities"] == ["root"]
    assert srv.client(reader).sys.get_capabilities(paths=["secret/data/exact"])["secret/data/exact"] == ["read"]


# --- CLI ----------------------------------------------------------------------------------

needs_cli = pytest.mark.skipif(not os.path.exists(VAULT), reason="CLI binary not built")


@needs_cli
def test_cli_policy_commands(srv, tmp_path):
    f = tmp_path / "p.hcl"
    f.write_text('path "secret/data/cli/*" { capabilities = ["read"] }\n')
    r = srv.cli("policy", "write", "cli-pol", str(f), token="root")
    assert r.returncode == 0, r.stderr
    assert "Success! Uploaded policy: cli-pol" in r.stdout
    r = srv.cli("policy", "read", "cli-pol", token="root")
    assert r.returncode == 0 and 'path "secret/data/cli/*"' in r.stdout
    r = srv.cli("policy", "list", token="root")
    assert r.returncode == 0 and "cli-pol" in r.stdout.split() and "root" in r.stdout.split()
    r = srv.cli("policy", "delete", "cli-pol", token="root")
    assert r.returncode == 0 and "Success! Deleted policy: cli-pol" in r.stdout
    r = srv.cli("policy", "read", "cli-pol", token="root")
    assert r.returncode == 2


@needs_cli
def test_cli_token_capabilities(srv, reader):
    r = srv.cli("token", "capabilities", reader, "secret/data/exact", token="root")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "read"
