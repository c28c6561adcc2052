"""Response wrapping (X-Vault-Wrap-TTL, sys/wrapping/*), the policies' wrapping TTL bounds,
and the CLI's -wrap-ttl and `vault unwrap`, through hvac, raw HTTP and our CLI."""
import json
import os
import shutil
import tempfile
import time

import hvac
import pytest

from acl_helpers import api, errors, forbidden, token_with, write_policy
from conftest import VAULT, start_dev

INVALID = "wrapping token is not valid or does not exist"


@pytest.fixture(scope="module")
def srv():
    d = tempfile.mkdtemp(prefix="tresor-wrapping-")
    s = start_dev(d)
    yield s
    s.stop()
    shutil.rmtree(d, ignore_errors=True)


def wrapped(srv, method, path, ttl, token="root", body=None):
    import requests
    headers = {"X-Vault-Wrap-TTL": str(ttl)}
    if token is not None:
        headers["X-Vault-Token"] = token
    return requests.request(method, f"{srv.addr}/v1/{path}", headers=headers, json=body, timeout=30)


def test_wrapped_read_has_only_wrap_info_and_unwraps_once(srv):
    c = srv.client()
    c.secrets.kv.v2.create_or_update_secret(path="wrapme", secret={"answer": "42"})
    r = wrapped(srv, "GET", "secret/data/wrapme", "90s")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["data"] is None and body["auth"] is None and body["lease_id"] == ""
    w = body["wrap_info"]
    assert w["token"].startswith("hvs.") and w["accessor"]
    assert w["ttl"] == 90
    assert w["creation_path"] == "secret/data/wrapme"
    assert "wrapped_accessor" not in w  # only for token-creating responses
    assert w["creation_time"].endswith("Z")
    # The wrapping token: one use, response-wrapping policy, orphan, the wrap TTL.
    look = api(srv, "POST", "auth/token/lookup", body={"token": w["token"]}).json()["data"]
    assert look["policies"] == ["response-wrapping"]
    assert look["num_uses"] == 1 and look["orphan"] is True
    assert 85 <= look["ttl"] <= 90 and look["explicit_max_ttl"] == 90

    # A third party (root here) unwraps with the token in the body: the original response.
    out = c.sys.unwrap(token=w["token"])
    assert out["data"]["data"] == {"answer": "42"}
    assert out["wrap_info"] is None
    assert out["request_id"] == body["request_id"]
    # Single use: the second unwrap fails with Vault's text.
    r = api(srv, "POST", "sys/wrapping/unwrap", body={"token": w["token"]})
    assert r.status_code == 400 and errors(r) == [INVALID]
    with pytest.raises(hvac.exceptions.InvalidRequest):
        c.sys.unwrap(token=w["token"])
    # ...and the token itself is gone.
    assert api(srv, "POST", "auth/token/lookup", body={"token": w["token"]}).status_code != 200


def test_unwrap_with_the_wrapping_token_as_client_token(srv):
    r = wrapped(srv, "POST", "sys/wrapping/wrap", 60, body={"k": "v", "n": 1})
    assert r.status_code == 200, r.text
    w = r.json()["wrap_info"]
    assert w["creation_path"] == "sys/wrapping/wrap"
    assert "k" not in r.json()  # no data injection on a wrapped response
    out = srv.client(w["token"]).sys.unwrap()
    assert out["data"] == {"k": "v", "n": 1}
    r = api(srv, "POST", "sys/wrapping/unwrap", token=w["token"])
    assert r.status_code == 400 and errors(r) == [INVALID]


def test_hvac_wrap_and_token_policy(srv):
    c = srv.client()
    w = c.sys.wrap(payload={"x": "y"}, ttl=120)["wrap_info"]
    assert w["ttl"] == 120
    # A wrapping token can do nothing but unwrap (and read its own cubbyhole/response).
    assert forbidden(api(srv, "GET", "secret/data/wrapme", token=w["token"]))
    assert forbidden(api(srv, "GET", "auth/token/lookup-self", token=w["token"]))
    assert c.sys.unwrap(w["token"])["data"] == {"x": "y"}


def test_wrap_endpoint_requires_wrapping_and_bad_headers(srv):
    r = api(srv, "POST", "sys/wrapping/wrap", body={"a": "b"})
    assert r.status_code == 400 and errors(r) == ["endpoint requires response wrapping to be used"]
    r = wrapped(srv, "GET", "secret/data/wrapme", "abc")
    assert r.status_code == 400
    assert errors(r) == ['error parsing X-Vault-Wrap-TTL header: time: invalid duration "abc"']
    r = wrapped(srv, "GET", "secret/data/wrapme", "-5s")
    assert r.status_code == 400 and "cannot be negative" in errors(r)[0]
    # A zero TTL means "not wrapped".
    r = wrapped(srv, "GET", "secret/data/wrapme", "0")
    assert r.status_code == 200 and r.json()["wrap_info"] is None and r.json()["data"]


def test_wrapped_token_create_yields_a_working_token(srv):
    c = srv.client()
    write_policy(srv, "wrap-reader", 'path "secret/data/wrapme" { capabilities = ["read"] }')
    resp = c.auth.token.create(policies=["wrap-reader"], ttl="1h", wrap_ttl="5m")
    w = resp["wrap_info"]
    assert resp["auth"] is None and w["ttl"] == 300
    assert w["creation_path"] == "auth/token/create"
    assert w["wrapped_accessor"]
    inner = c.sys.unwrap(w["token"])
    tok = inner["auth"]["client_token"]
    assert inner["auth"]["accessor"] == w["wrapped_accessor"]
    assert inner["auth"]["policies"] == ["default", "wrap-reader"]
    assert srv.client(tok).secrets.kv.v2.read_secret_version(path="wrapme")["data"]["data"] == {"answer": "42"}
    # The wrapped token is a child of the creator, not of the wrapping token.
    assert api(srv, "GET", "auth/token/lookup-self", token=tok).json()["data"]["orphan"] is False


def test_expired_wrapping_token_fails(srv):
    w = wrapped(srv, "POST", "sys/wrapping/wrap", 1, body={"a": "b"}).json()["wrap_info"]
    time.sleep(1.2)  # the token's TTL must pass; nothing to poll for
    r = api(srv, "POST", "sys/wrapping/unwrap", body={"token": w["token"]})
    assert r.status_code == 400 and errors(r) == [INVALID]
    r = api(srv, "POST", "sys/wrapping/lookup", token=None, body={"token": w["token"]})
    assert r.status_code == 400 and errors(r) == [INVALID]


def test_lookup_is_unauthenticated_and_does_not_use_the_token(srv):
    w = wrapped(srv, "POST", "sys/wrapping/wrap", "10m", body={"a": "b"}).json()["wrap_info"]
    for _ in range(2):
        r = api(srv, "POST", "sys/wrapping/lookup", token=None, body={"token": w["token"]})
        assert r.status_code == 200, r.text
        d = r.json()["data"]
        assert d["creation_path"] == "sys/wrapping/wrap" and d["creation_ttl"] == 600
        assert d["creation_time"] == w["creation_time"]
    # GET with the token as the client token works too.
    r = api(srv, "GET", "sys/wrapping/lookup", token=w["token"])
    assert r.status_code == 200 and r.json()["data"]["creation_ttl"] == 600
    r = api(srv, "POST", "sys/wrapping/lookup", token=None, body={"token": "hvs.nope"})
    assert r.status_code == 400 and errors(r) == [INVALID]
    # A token that is not a wrapping token is not valid either.
    r = api(srv, "POST", "sys/wrapping/lookup", token=None, body={"token": "root"})
    assert r.status_code == 400 and errors(r) == [INVALID]
    assert srv.client().sys.unwrap(w["token"])["data"] == {"a": "b"}


def test_rewrap_moves_the_response_to_a_new_token(srv):
    w = wrapped(srv, "POST", "sys/wrapping/wrap", "10m", body={"s": "t"}).json()["wrap_info"]
    r = api(srv, "POST", "sys/wrapping/rewrap", body={"token": w["token"]})
    assert r.status_code == 200, r.text
    nw = r.json()["wrap_info"]
    assert nw["token"] != w["token"]
    assert nw["ttl"] == 600 and nw["creation_path"] == "sys/wrapping/wrap"
    r = api(srv, "POST", "sys/wrapping/unwrap", body={"token": w["token"]})
    assert r.status_code == 400 and errors(r) == [INVALID]
    assert srv.client().sys.unwrap(nw["token"])["data"] == {"s": "t"}


def test_policy_min_max_wrapping_ttl(srv):
    write_policy(srv, "wrapbounds", '''
path "secret/data/wrapme" {
  capabilities = ["read"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = "10m"
}
''')
    tok = token_with(srv, "wrapbounds", "default")
    assert forbidden(api(srv, "GET", "secret/data/wrapme", token=tok))         # not wrapped
    assert forbidden(wrapped(srv, "GET", "secret/data/wrapme", "30s", token=tok))  # below min
    assert forbidden(wrapped(srv, "GET", "secret/data/wrapme", "11m", token=tok))  # above max
    r = wrapped(srv, "GET", "secret/data/wrapme", "5m", token=tok)
    assert r.status_code == 200 and r.json()["wrap_info"]["ttl"] == 300
    # Bounds that contradict each other are refused when the policy is written.
    r = api(srv, "PUT", "sys/policies/acl/badbounds", body={"policy": '''
path "x" {
  capabilities = ["read"]
  min_wrapping_ttl = "10m"
  max_wrapping_ttl = "1m"
}'''})
    assert r.status_code == 400 and "max_wrapping_ttl cannot be less than min_wrapping_ttl" in errors(r)[0]
    # The built-in response-wrapping policy can be neither changed nor deleted.
    r = api(srv, "PUT", "sys/policies/acl/response-wrapping", body={"policy": 'path "*" { capabilities = ["sudo"] }'})
    assert r.status_code == 400 and errors(r) == ['cannot update "response-wrapping" policy']


def test_wrapping_endpoints_need_permission(srv):
    write_policy(srv, "wrap-reader", 'path "secret/data/wrapme" { capabilities = ["read"] }')
    tok = token_with(srv, "wrap-reader")  # no default policy: no sys/wrapping/*
    w = wrapped(srv, "POST", "sys/wrapping/wrap", 60, body={"a": "b"}).json()["wrap_info"]
    assert forbidden(api(srv, "POST", "sys/wrapping/unwrap", token=tok, body={"token": w["token"]}))
    assert forbidden(wrapped(srv, "POST", "sys/wrapping/wrap", 60, token=tok, body={"a": "b"}))
    # The refused attempt did not use the wrapping token up.
    assert srv.client().sys.unwrap(w["token"])["data"] == {"a": "b"}


# --- CLI ----------------------------------------------------------------------------------

needs_cli = pytest.mark.skipif(not os.path.exists(VAULT), reason="CLI binary not built")


@needs_cli
def test_cli_wrap_ttl_and_unwrap(srv):
    srv.client().secrets.kv.v2.create_or_update_secret(path="cliwrap", secret={"pw": "s3cret"})
    r = srv.cli("read", "-wrap-ttl=30s", "secret/data/cliwrap", token="root")
    assert r.returncode == 0, r.stderr
    lines = dict(l.split(None, 1) for l in r.stdout.strip().splitlines()[2:])
    assert lines["wrapping_token_ttl:"].strip() == "30s"
    assert lines["wrapping_token_creation_path:"].strip() == "secret/data/cliwrap"
    assert "s3cret" not in r.stdout
    wtok = lines["wrapping_token:"].strip()
    r = srv.cli("unwrap", "-format=json", wtok, token="root")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"]["data"] == {"pw": "s3cret"}
    r = srv.cli("unwrap", wtok, token="root")
    assert r.returncode == 2 and INVALID in r.stderr

    # write and token create take the flag too; `vault unwrap` without an argument uses the
    # client token as the wrapping token.
    r = srv.cli("write", "-wrap-ttl=1m", "-format=json", "sys/wrapping/wrap", "x=y", token="root")
    assert r.returncode == 0, r.stderr
    wtok = json.loads(r.stdout)["wrap_info"]["token"]
    r = srv.cli("unwrap", "-field=x", token=wtok)
    assert r.returncode == 0 and r.stdout.strip() == "y", r.stderr
    r = srv.cli("token", "create", "-wrap-ttl=2m", "-policy=default", "-format=json", token="root")
    assert r.returncode == 0, r.stderr
    w = json.loads(r.stdout)["wrap_info"]
    assert w["ttl"] == 120 and w["wrapped_accessor"]
    r = srv.cli("unwrap", w["token"], token="root")
    assert r.returncode == 0, r.stderr
    assert "token_accessor" in r.stdout and w["wrapped_accessor"] in r.stdout
