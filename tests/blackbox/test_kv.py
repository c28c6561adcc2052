"""KV v1/v2 and cubbyhole through hvac (and raw HTTP for what hvac lacks) against a dev server.

Dev mode mounts secret/ as KV v2; the tests mount their own v1/generic engines.
"""
import shutil
import tempfile
import uuid

import hvac
import pytest
import requests

from conftest import start_dev


@pytest.fixture(scope="module")
def srv():
    d = tempfile.mkdtemp(prefix="tresor-kv-")
    s = start_dev(d)
    yield s
    s.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def client(srv):
    return srv.client()


def uniq(prefix="p"):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def http(srv, method, path, token="root", **kw):
    headers = kw.pop("headers", {})
    headers["X-Vault-Token"] = token
    return requests.request(method, srv.addr + "/v1/" + path, headers=headers, **kw)


def errors_of(exc_info):
    return exc_info.value.errors


# ----------------------------------------------------------------------------- KV v2


def test_v2_write_read_versions(client):
    kv = client.secrets.kv.v2
    p = uniq()
    w = kv.create_or_update_secret(path=p, secret={"user": "u1", "n": 1})
    assert w["data"]["version"] == 1
    assert w["data"]["destroyed"] is False and w["data"]["deletion_time"] == ""
    assert w["data"]["custom_metadata"] is None
    assert kv.create_or_update_secret(path=p, secret={"user": "u2"})["data"]["version"] == 2
    r = kv.read_secret_version(path=p, raise_on_deleted_version=True)
    assert r["data"]["data"] == {"user": "u2"}
    assert r["data"]["metadata"]["version"] == 2
    assert set(r["data"]["metadata"]) == {"created_time", "custom_metadata", "deletion_time", "destroyed", "version"}
    assert r["lease_duration"] == 0
    r = kv.read_secret_version(path=p, version=1, raise_on_deleted_version=True)
    assert r["data"]["data"] == {"user": "u1", "n": 1}
    assert kv.read_secret(path=p)["data"]["data"] == {"user": "u2"}
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version(path=p, version=7, raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version(path=uniq("absent"), raise_on_deleted_version=True)


def test_v2_check_and_set(client):
    kv = client.secrets.kv.v2
    p = uniq()
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        kv.create_or_update_secret(path=p, secret={"a": 1}, cas=1)
    assert errors_of(e) == ["check-and-set parameter did not match the current version"]
    assert kv.create_or_update_secret(path=p, secret={"a": 1}, cas=0)["data"]["version"] == 1
    with pytest.raises(hvac.exceptions.InvalidRequest):
        kv.create_or_update_secret(path=p, secret={"a": 2}, cas=0)
    kv.update_metadata(path=p, cas_required=True)
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        kv.create_or_update_secret(path=p, secret={"a": 2})
    assert errors_of(e) == ["check-and-set parameter required for this call"]
    assert kv.create_or_update_secret(path=p, secret={"a": 2}, cas=1)["data"]["version"] == 2
    # hvac's patch reads, merges and writes back with cas.
    assert kv.patch(path=p, secret={"b": 3})["data"]["version"] == 3
    assert kv.read_secret_version(path=p, raise_on_deleted_version=True)["data"]["data"] == {"a": 2, "b": 3}


def test_v2_config(client, srv):
    # A separate v2 mount so the engine-wide settings do not leak into other tests.
    mount = uniq("kv2")
    client.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    kv = client.secrets.kv.v2
    cfg = kv.read_configuration(mount_point=mount)["data"]
    assert cfg == {"max_versions": 0, "cas_required": False, "delete_version_after": "0s"}
    kv.configure(max_versions=2, cas_required=True, delete_version_after="1h", mount_point=mount)
    cfg = kv.read_configuration(mount_point=mount)["data"]
    assert cfg == {"max_versions": 2, "cas_required": True, "delete_version_after": "1h0m0s"}
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        kv.create_or_update_secret(path="x", secret={"a": 1}, mount_point=mount)
    assert errors_of(e) == ["check-and-set parameter required for this call"]
    for i in range(3):
        kv.create_or_update_secret(path="x", secret={"i": i}, cas=i, mount_point=mount)
    m = kv.read_secret_metadata(path="x", mount_point=mount)["data"]
    assert m["current_version"] == 3 and m["oldest_version"] == 2
    assert sorted(m["versions"]) == ["2", "3"]
    assert m["versions"]["3"]["deletion_time"] != ""  # delete_version_after schedules it
    client.sys.disable_secrets_engine(mount)


def test_v2_max_versions_pruning(client):
    kv = client.secrets.kv.v2
    p = uniq()
    kv.update_metadata(path=p, max_versions=3)
    for i in range(5):
        kv.create_or_update_secret(path=p, secret={"i": i})
    m = kv.read_secret_metadata(path=p)["data"]
    assert m["max_versions"] == 3
    assert sorted(m["versions"], key=int) == ["3", "4", "5"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version(path=p, version=2, raise_on_deleted_version=True)


def test_v2_delete_undelete_destroy(client, srv):
    kv = client.secrets.kv.v2
    p = uniq()
    for i in range(3):
        kv.create_or_update_secret(path=p, secret={"i": i + 1})
    kv.delete_latest_version_of_secret(path=p)
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version(path=p, raise_on_deleted_version=True)
    deleted = kv.read_secret_version(path=p, raise_on_deleted_version=False)
    assert deleted["data"]["data"] is None
    assert deleted["data"]["metadata"]["version"] == 3
    assert deleted["data"]["metadata"]["deletion_time"] != ""
    kv.delete_secret_versions(path=p, versions=[1, 2])
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version(path=p, version=1, raise_on_deleted_version=True)
    kv.undelete_secret_versions(path=p, versions=[2, 3])
    assert kv.read_secret_version(path=p, raise_on_deleted_version=True)["data"]["data"] == {"i": 3}
    assert kv.read_secret_version(path=p, version=2, raise_on_deleted_version=True)["data"]["data"] == {"i": 2}
    kv.destroy_secret_versions(path=p, versions=[3])
    body = http(srv, "GET", f"secret/data/{p}")
    assert body.status_code == 404
    assert body.json()["data"]["metadata"]["destroyed"] is True
    m = kv.read_secret_metadata(path=p)["data"]
    assert m["versions"]["3"]["destroyed"] is True
    assert m["versions"]["1"]["deletion_time"] != ""
    # Missing versions → 400 with Vault's texts (hvac refuses an empty list itself).
    for op, msg in (("delete", "No version number provided"),
                    ("undelete", "No version number provided"),
                    ("destroy", "no version number provided")):
        r = http(srv, "POST", f"secret/{op}/{p}", json={"versions": []})
        assert r.status_code == 400 and r.json()["errors"] == [msg]


def test_v2_metadata(client):
    kv = client.secrets.kv.v2
    p = uniq()
    kv.create_or_update_secret(path=p, secret={"a": 1})
    kv.update_metadata(path=p, max_versions=5, cas_required=False, delete_version_after="2h",
                       custom_metadata={"owner": "ops", "env": "prod"})
    m = kv.read_secret_metadata(path=p)["data"]
    assert m["max_versions"] == 5 and m["cas_required"] is False
    assert m["delete_version_after"] == "2h0m0s"
    assert m["custom_metadata"] == {"owner": "ops", "env": "prod"}
    assert m["current_version"] == 1 and m["oldest_version"] == 0
    assert set(m) == {"versions", "current_version", "oldest_version", "created_time", "updated_time",
                      "max_versions", "cas_required", "delete_version_after", "custom_metadata"}
    w = kv.create_or_update_secret(path=p, secret={"a": 2})
    assert w["data"]["custom_metadata"] == {"owner": "ops", "env": "prod"}
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        kv.update_metadata(path=p, custom_metadata={"k": ""})
    assert "custom_metadata validation failed" in errors_of(e)[0]
    kv.delete_metadata_and_all_versions(path=p)
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_metadata(path=p)
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version(path=p, raise_on_deleted_version=True)


def test_v2_list(client, srv):
    kv = client.secrets.kv.v2
    base = uniq("dir")
    for k in ("a", "b/c", "b/d/e", "z"):
        kv.create_or_update_secret(path=f"{base}/{k}", secret={"k": k})
    assert kv.list_secrets(path=base)["data"]["keys"] == ["a", "b/", "z"]
    assert kv.list_secrets(path=f"{base}/b")["data"]["keys"] == ["c", "d/"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.list_secrets(path=uniq("nothing"))
    # Tresor's extensions: pagination and recursive listing.
    r = http(srv, "LIST", f"secret/metadata/{base}", params={"limit": "2"})
    assert r.status_code == 200 and r.json()["data"]["keys"] == ["a", "b/"]
    r = http(srv, "LIST", f"secret/metadata/{base}", params={"limit": "2", "after": "b/"})
    assert r.json()["data"]["keys"] == ["z"]
    r = http(srv, "GET", f"secret/metadata/{base}", params={"list": "true", "recursive": "true"})
    assert r.status_code == 200 and r.json()["data"]["keys"] == ["a", "b/c", "b/d/e", "z"]
    r = http(srv, "LIST", f"secret/metadata/{base}/", params={"recursive": "true", "after": "b/c", "limit": "1"})
    assert r.json()["data"]["keys"] == ["b/d/e"]
    r = http(srv, "LIST", f"secret/metadata/{base}", params={"limit": "zero"})
    assert r.status_code == 400
    assert r.json()["errors"] == ["invalid value for 'limit': expected a positive integer"]


def test_v2_patch_and_subkeys_over_http(client, srv):
    kv = client.secrets.kv.v2
    p = uniq()
    kv.create_or_update_secret(path=p, secret={"a": 1, "b": {"c": 2, "d": 3}, "e": 4})
    r = http(srv, "PATCH", f"secret/data/{p}", json={"data": {"a": "one", "b": {"c": None}, "e": None}},
             headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["version"] == 2
    assert kv.read_secret_version(path=p, raise_on_deleted_version=True)["data"]["data"] == \
        {"a": "one", "b": {"d": 3}}
    r = http(srv, "PATCH", f"secret/data/{uniq('absent')}", json={"data": {"a": 1}},
             headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 404
    r = http(srv, "PATCH", f"secret/data/{p}", json={"options": {}},
             headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 400 and r.json()["errors"] == ["no data provided"]
    r = http(srv, "GET", f"secret/subkeys/{p}")
    assert r.status_code == 200
    assert r.json()["data"]["subkeys"] == {"a": None, "b": {"d": None}}
    assert r.json()["data"]["metadata"]["version"] == 2
    r = http(srv, "GET", f"secret/subkeys/{p}", params={"depth": "1", "version": "1"})
    assert r.json()["data"]["subkeys"] == {"a": None, "b": None, "e": None}


def test_v2_write_errors(client, srv):
    r = http(srv, "POST", f"secret/data/{uniq()}", json={"options": {"cas": 0}})
    assert r.status_code == 400 and r.json()["errors"] == ["no data provided"]


# ----------------------------------------------------------------------------- KV v1


@pytest.fixture(scope="module")
def v1_mount(srv):
    c = srv.client()
    c.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
    c.sys.enable_secrets_engine("generic", path="gen")
    yield "kv1"


def test_v1_crud_and_list(client, v1_mount, srv):
    kv = client.secrets.kv.v1
    for mount in (v1_mount, "gen"):
        kv.create_or_update_secret(path="app/db", secret={"user": "u", "port": 5432, "tags": ["a"]},
                                   mount_point=mount)
        kv.create_or_update_secret(path="app/cfg/x", secret={"v": 1, "ttl": "30m"}, mount_point=mount)
        r = kv.read_secret(path="app/db", mount_point=mount)
        assert r["data"] == {"user": "u", "port": 5432, "tags": ["a"]}
        assert r["lease_duration"] == 2764800 and r["renewable"] is False and r["lease_id"] == ""
        assert kv.read_secret(path="app/cfg/x", mount_point=mount)["lease_duration"] == 1800
        assert kv.list_secrets(path="app", mount_point=mount)["data"]["keys"] == ["cfg/", "db"]
        r = http(srv, "LIST", f"{mount}/app", params={"recursive": "true"})
        assert r.json()["data"]["keys"] == ["cfg/x", "db"]
        r = http(srv, "LIST", f"{mount}/app", params={"after": "cfg/", "limit": "5"})
        assert r.json()["data"]["keys"] == ["db"]
        kv.delete_secret(path="app/db", mount_point=mount)
        with pytest.raises(hvac.exceptions.InvalidPath):
            kv.read_secret(path="app/db", mount_point=mount)
        with pytest.raises(hvac.exceptions.InvalidPath):
            kv.list_secrets(path="nothing", mount_point=mount)
    r = http(srv, "PUT", f"{v1_mount}/empty", json={})
    assert r.status_code == 400 and r.json()["errors"] == ["missing data fields"]


# ----------------------------------------------------------------------------- cubbyhole


def test_cubbyhole_is_per_token(client, srv):
    t1 = client.auth.token.create(policies=["default"])["auth"]["client_token"]
    t2 = client.auth.token.create(policies=["default"])["auth"]["client_token"]
    c1, c2 = srv.client(token=t1), srv.client(token=t2)
    c1.write("cubbyhole/mine", value="one")
    c2.write("cubbyhole/mine", value="two")
    assert c1.read("cubbyhole/mine")["data"] == {"value": "one"}
    assert c2.read("cubbyhole/mine")["data"] == {"value": "two"}
    assert client.read("cubbyhole/mine") is None
    assert c1.list("cubbyhole/")["data"]["keys"] == ["mine"]
    c1.delete("cubbyhole/mine")
    assert c1.read("cubbyhole/mine") is None
    assert c2.read("cubbyhole/mine")["data"] == {"value": "two"}
