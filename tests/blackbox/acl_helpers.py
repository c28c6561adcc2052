"""Helpers shared by test_tokens.py and test_policies.py: raw HTTP (no client-side path
normalisation) and small API shortcuts."""
import http.client
import json
import urllib.parse

import requests


def api(server, method, path, token="root", body=None, params=None):
    """One API call through requests; `path` is relative to /v1/."""
    headers = {}
    if token is not None:
        headers["X-Vault-Token"] = token
    return requests.request(method, f"{server.addr}/v1/{path}", headers=headers, json=body,
                            params=params, allow_redirects=False, timeout=30)


def raw(server, method, raw_path, token="root", body=None):
    """Sends `raw_path` byte for byte (requests/urllib3 would clean dot segments first).
    Returns (status, headers dict, parsed JSON body or None)."""
    u = urllib.parse.urlparse(server.addr)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    headers = {"X-Vault-Token": token} if token is not None else {}
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn.request(method, raw_path, body=data, headers=headers)
    r = conn.getresponse()
    text = r.read().decode()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return r.status, hdrs, parsed


def follow(server, method, raw_path, token="root", max_hops=5):
    """Like a client that follows redirects (re-sending the method); returns the final
    (status, body) and the list of paths visited."""
    visited = [raw_path]
    for _ in range(max_hops):
        status, hdrs, body = raw(server, method, raw_path, token)
        if status not in (301, 302, 307, 308):
            return status, body, visited
        loc = hdrs["location"]
        if loc.startswith("http"):
            loc = urllib.parse.urlparse(loc)._replace(scheme="", netloc="").geturl()
        raw_path = loc
        visited.append(raw_path)
    raise AssertionError(f"redirect loop: {visited}")


def write_policy(server, name, text):
    r = api(server, "PUT", f"sys/policies/acl/{name}", body={"policy": text})
    assert r.status_code == 204, r.text
    return r


def token_with(server, *policies, **extra):
    """A fresh token (child of root) holding `policies` (and no default unless listed)."""
    body = {"policies": list(policies), "no_default_policy": "default" not in policies}
    body.update(extra)
    r = api(server, "POST", "auth/token/create", body=body)
    assert r.status_code == 200, r.text
    return r.json()["auth"]["client_token"]


def errors(resp):
    return resp.json().get("errors", [])


def forbidden(resp):
    return resp.status_code == 403 and any("permission denied" in e for e in errors(resp))
