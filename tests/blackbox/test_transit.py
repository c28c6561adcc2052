"""Transit secrets engine through real clients: hvac, the CLI, openssl and a JOSE library.

Runs against a dev server (shared fixtures in conftest.py). Errors are checked with the
texts Vault 1.13 uses, since clients match on them.
"""
import base64
import json
import os
import subprocess

import hvac
import pytest
import requests

from conftest import TRESOR, Server, free_port, write_config

pytestmark = pytest.mark.skipif(not os.path.exists(TRESOR), reason="tresor binary not built")


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def unb64(s):
    return base64.b64decode(s)


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


@pytest.fixture
def vault(workdir):
    """An initialised, unsealed in-memory server with transit/ mounted (no dependence on the
    engines dev mode mounts by default)."""
    port = free_port()
    cfg = write_config(workdir, '"inmem" {}', port)
    s = Server([f"-config={cfg}"], f"http://127.0.0.1:{port}", workdir).start()
    try:
        s.init(shares=1, threshold=1)
        s.unseal()
        c = s.client()
        c.sys.enable_secrets_engine("transit", path="transit")
        c.server = s
        yield c
    finally:
        s.stop()


def errors_of(excinfo):
    return excinfo.value.errors or []


def test_key_lifecycle(vault):
    t = vault.secrets.transit
    t.create_key("orders")
    t.create_key("signer", key_type="ed25519")
    vault.write("transit/keys/h", type="hmac")  # hvac validates key_type client-side, without hmac
    keys = t.list_keys()["data"]["keys"]
    assert sorted(keys) == ["h", "orders", "signer"]

    k = t.read_key("orders")["data"]
    assert k["type"] == "aes256-gcm96"
    assert k["latest_version"] == 1
    assert k["min_decryption_version"] == 1
    assert k["supports_encryption"] and not k["supports_signing"]
    assert isinstance(k["keys"]["1"], int)

    s = t.read_key("signer")["data"]
    assert s["keys"]["1"]["name"] == "ed25519"
    assert len(unb64(s["keys"]["1"]["public_key"])) == 32

    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        t.delete_key("orders")
    assert "deletion is not allowed for this key" in errors_of(e)[0]
    t.update_key_configuration("orders", deletion_allowed=True)
    t.delete_key("orders")
    with pytest.raises(hvac.exceptions.InvalidPath):
        t.read_key("orders")

    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        vault.write("transit/keys/bad", type="des")
    assert errors_of(e) == ["unknown key type des"]


def test_encrypt_decrypt_rotate_rewrap_min_version(vault):
    t = vault.secrets.transit
    t.create_key("k")
    ct1 = t.encrypt_data("k", plaintext=b64("hello"))["data"]["ciphertext"]
    assert ct1.startswith("vault:v1:")
    assert unb64(t.decrypt_data("k", ciphertext=ct1)["data"]["plaintext"]) == b"hello"

    t.rotate_key("k")
    assert t.read_key("k")["data"]["latest_version"] == 2
    ct2 = t.encrypt_data("k", plaintext=b64("hello"))["data"]["ciphertext"]
    assert ct2.startswith("vault:v2:")
    assert unb64(t.decrypt_data("k", ciphertext=ct1)["data"]["plaintext"]) == b"hello"

    rw = t.rewrap_data("k", ciphertext=ct1)["data"]
    assert rw["ciphertext"].startswith("vault:v2:") and rw["key_version"] == 2

    t.update_key_configuration("k", min_decryption_version=2)
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        t.decrypt_data("k", ciphertext=ct1)
    assert errors_of(e) == ["ciphertext or signature version is disallowed by policy (too old)"]
    assert unb64(t.decrypt_data("k", ciphertext=rw["ciphertext"])["data"]["plaintext"]) == b"hello"

    t.update_key_configuration("k", min_encryption_version=2)
    t.trim_key("k", min_version=2)
    assert t.read_key("k")["data"]["min_available_version"] == 2

    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        t.decrypt_data("nokey", ciphertext=ct2)
    assert errors_of(e) == ["encryption key not found"]
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        t.decrypt_data("k", ciphertext="vault:v2:!!")
    assert errors_of(e) == ["invalid ciphertext: could not decode base64"]


def test_encrypt_upsert_batch_and_associated_data(vault):
    t = vault.secrets.transit
    r = t.encrypt_data("upserted", plaintext=b64("x"))  # creates the key
    assert r["data"]["key_version"] == 1
    assert t.read_key("upserted")["data"]["type"] == "aes256-gcm96"

    batch = [{"plaintext": b64("a"), "reference": "one"}, {"plaintext": "%%%"}, {"plaintext": b64("c")}]
    s = vault.server
    r = requests.post(s.addr + "/v1/transit/encrypt/upserted", headers={"X-Vault-Token": s.root_token},
                      json={"batch_input": batch})
    assert r.status_code == 400  # an item failed
    assert r.json()["data"]["batch_results"][1]["error"]
    r = requests.post(s.addr + "/v1/transit/encrypt/upserted", headers={"X-Vault-Token": s.root_token},
                      json={"batch_input": batch, "partial_failure_response_code": 207})
    assert r.status_code == 207
    res = r.json()["data"]["batch_results"]
    assert res[0]["reference"] == "one" and res[0]["ciphertext"].startswith("vault:v1:")
    assert "error" in res[1]
    dec = t.decrypt_data("upserted", batch_input=[{"ciphertext": res[0]["ciphertext"]},
                                                  {"ciphertext": res[2]["ciphertext"]}])["data"]["batch_results"]
    assert [unb64(d["plaintext"]) for d in dec] == [b"a", b"c"]

    ct = t.encrypt_data("upserted", plaintext=b64("row"), associated_data=b64("id=7"))["data"]["ciphertext"]
    assert unb64(t.decrypt_data("upserted", ciphertext=ct, associated_data=b64("id=7"))["data"]["plaintext"]) == b"row"
    with pytest.raises(hvac.exceptions.InvalidRequest):
        t.decrypt_data("upserted", ciphertext=ct, associated_data=b64("id=8"))


def test_derived_and_convergent(vault):
    t = vault.secrets.transit
    t.create_key("conv", derived=True, convergent_encryption=True)
    a = t.encrypt_data("conv", plaintext=b64("same"), context=b64("ctx"))["data"]["ciphertext"]
    b = t.encrypt_data("conv", plaintext=b64("same"), context=b64("ctx"))["data"]["ciphertext"]
    assert a == b
    c = t.encrypt_data("conv", plaintext=b64("same"), context=b64("other"))["data"]["ciphertext"]
    assert c != a
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        t.encrypt_data("conv", plaintext=b64("same"))
    assert "missing 'context' for key derivation" in errors_of(e)[0]
    with pytest.raises(hvac.exceptions.InvalidRequest):
        t.decrypt_data("conv", ciphertext=a, context=b64("wrong"))
    assert unb64(t.decrypt_data("conv", ciphertext=a, context=b64("ctx"))["data"]["plaintext"]) == b"same"


def test_datakey_random_hash_hmac(vault):
    t = vault.secrets.transit
    t.create_key("dk")
    d = t.generate_data_key("dk", key_type="plaintext", bits=512)["data"]
    assert len(unb64(d["plaintext"])) == 64
    assert unb64(t.decrypt_data("dk", ciphertext=d["ciphertext"])["data"]["plaintext"]) == unb64(d["plaintext"])
    w = t.generate_data_key("dk", key_type="wrapped")["data"]
    assert "plaintext" not in w or w["plaintext"] is None

    assert len(unb64(t.generate_random_bytes(n_bytes=48)["data"]["random_bytes"])) == 48
    assert len(t.generate_random_bytes(n_bytes=16, output_format="hex")["data"]["random_bytes"]) == 32
    assert (t.hash_data(b64("abc"), algorithm="sha2-256")["data"]["sum"] ==
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    r = vault.write("transit/hash/sha3-256", input=b64("abc"))
    assert r["data"]["sum"] == "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"

    mac = t.generate_hmac("dk", hash_input=b64("msg"), algorithm="sha2-512")["data"]["hmac"]
    assert mac.startswith("vault:v1:")
    assert t.verify_signed_data("dk", hash_input=b64("msg"), hmac=mac, hash_algorithm="sha2-512")["data"]["valid"]
    assert not t.verify_signed_data("dk", hash_input=b64("msh"), hmac=mac, hash_algorithm="sha2-512")["data"]["valid"]


@pytest.mark.parametrize("key_type,opts", [
    ("ed25519", {}),
    ("ecdsa-p256", {}),
    ("ecdsa-p384", {"hash_algorithm": "sha2-384"}),
    ("rsa-2048", {"signature_algorithm": "pss"}),
    ("rsa-2048", {"signature_algorithm": "pkcs1v15", "hash_algorithm": "sha2-512"}),
])
def test_sign_verify(vault, key_type, opts):
    t = vault.secrets.transit
    t.create_key("sig", key_type=key_type)
    sig = t.sign_data("sig", hash_input=b64("document"), **opts)["data"]["signature"]
    assert sig.startswith("vault:v1:")
    assert t.verify_signed_data("sig", hash_input=b64("document"), signature=sig, **opts)["data"]["valid"]
    assert not t.verify_signed_data("sig", hash_input=b64("documenT"), signature=sig, **opts)["data"]["valid"]
    res = t.sign_data("sig", batch_input=[{"input": b64("a")}, {"input": b64("b")}], **opts)["data"]["batch_results"]
    assert len(res) == 2 and all(r["signature"].startswith("vault:v1:") for r in res)


def test_signatures_verify_with_openssl(vault, workdir):
    t = vault.secrets.transit
    msg = os.path.join(workdir, "msg")
    with open(msg, "wb") as f:
        f.write(b"verified by openssl")

    def run(*args):
        return subprocess.run(list(args), capture_output=True).returncode

    t.create_key("oec", key_type="ecdsa-p256")
    pem = os.path.join(workdir, "ec.pem")
    with open(pem, "w") as f:
        f.write(vault.read("transit/export/public-key/oec")["data"]["keys"]["1"] + "\n")
    sig = t.sign_data("oec", hash_input=b64("verified by openssl"))["data"]["signature"]
    with open(os.path.join(workdir, "ec.sig"), "wb") as f:
        f.write(unb64(sig.split(":", 2)[2]))
    assert run("openssl", "dgst", "-sha256", "-verify", pem, "-signature", os.path.join(workdir, "ec.sig"), msg) == 0

    t.create_key("orsa", key_type="rsa-2048")
    pem = os.path.join(workdir, "rsa.pem")
    with open(pem, "w") as f:
        f.write(vault.read("transit/export/public-key/orsa")["data"]["keys"]["1"])
    for alg, sigopts in (("pss", ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-2"]),
                         ("pkcs1v15", [])):
        sig = t.sign_data("orsa", hash_input=b64("verified by openssl"), signature_algorithm=alg)["data"]["signature"]
        sf = os.path.join(workdir, alg + ".sig")
        with open(sf, "wb") as f:
            f.write(unb64(sig.split(":", 2)[2]))
        assert run("openssl", "dgst", "-sha256", "-verify", pem, *sigopts, "-signature", sf, msg) == 0

    t.create_key("oed", key_type="ed25519")
    raw = unb64(vault.read("transit/export/public-key/oed")["data"]["keys"]["1"])
    der = bytes.fromhex("302a300506032b6570032100") + raw
    pem = os.path.join(workdir, "ed.pem")
    with open(pem, "w") as f:
        f.write("-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der).decode() + "\n-----END PUBLIC KEY-----\n")
    sig = t.sign_data("oed", hash_input=b64("verified by openssl"))["data"]["signature"]
    sf = os.path.join(workdir, "ed.sig")
    with open(sf, "wb") as f:
        f.write(unb64(sig.split(":", 2)[2]))
    assert run("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin", "-in", msg, "-sigfile", sf) == 0


def test_exported_key_decrypts_with_cryptography(vault):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    t = vault.secrets.transit
    t.create_key("exp", exportable=True)
    ct = t.encrypt_data("exp", plaintext=b64("outside the vault"))["data"]["ciphertext"]
    key = unb64(t.export_key("exp", "encryption-key", version="1")["data"]["keys"]["1"])
    raw = unb64(ct.split(":", 2)[2])
    assert AESGCM(key).decrypt(raw[:12], raw[12:], None) == b"outside the vault"


@pytest.mark.parametrize("key_type,alg,opts", [
    ("ecdsa-p256", "ES256", {}),
    ("ecdsa-p384", "ES384", {"hash_algorithm": "sha2-384"}),
    ("rsa-2048", "RS256", {"signature_algorithm": "pkcs1v15"}),
    ("rsa-2048", "PS256", {"signature_algorithm": "pss", "salt_length": "hash"}),
    ("ed25519", "EdDSA", {}),
])
def test_jws_signature_verifies_with_jwcrypto(vault, key_type, alg, opts):
    from jwcrypto import jwk, jws
    t = vault.secrets.transit
    t.create_key("jws", key_type=key_type)
    header = b64url(json.dumps({"alg": alg}).encode())
    payload = b64url(json.dumps({"sub": "tresor", "iat": 1700000000}).encode())
    signing_input = f"{header}.{payload}"
    sig = t.sign_data("jws", hash_input=b64(signing_input), marshaling_algorithm="jws", **opts)["data"]["signature"]
    token = signing_input + "." + sig.split(":", 2)[2]
    pub = t.read_key("jws")["data"]["keys"]["1"]["public_key"]
    if key_type == "ed25519":
        key = jwk.JWK(kty="OKP", crv="Ed25519", x=b64url(unb64(pub)))
    else:
        key = jwk.JWK.from_pem(pub.encode())
    obj = jws.JWS()
    obj.deserialize(token)
    obj.verify(key, alg=alg)  # raises on a bad signature
    assert obj.payload == json.dumps({"sub": "tresor", "iat": 1700000000}).encode()
    # and transit verifies its own JWS signature
    assert t.verify_signed_data("jws", hash_input=b64(signing_input), signature=sig, marshaling_algorithm="jws",
                                **opts)["data"]["valid"]


def test_backup_restore_and_export_errors(vault):
    t = vault.secrets.transit
    t.create_key("bk", exportable=True, allow_plaintext_backup=True)
    ct = t.encrypt_data("bk", plaintext=b64("keep"))["data"]["ciphertext"]
    backup = t.backup_key("bk")["data"]["backup"]
    t.restore_key(backup, name="bk-copy")
    assert unb64(t.decrypt_data("bk-copy", ciphertext=ct)["data"]["plaintext"]) == b"keep"
    with pytest.raises(hvac.exceptions.InternalServerError):
        t.restore_key(backup)  # exists, no force
    t.restore_key(backup, force=True)

    t.create_key("locked")
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        t.export_key("locked", "encryption-key")
    assert errors_of(e) == ["private key material is not exportable"]
    with pytest.raises(hvac.exceptions.InternalServerError):
        t.backup_key("locked")


def test_byok_import(vault):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
    pem = vault.read("transit/wrapping_key")["data"]["public_key"]
    wrapping = serialization.load_pem_public_key(pem.encode())
    target = os.urandom(32)
    eph = os.urandom(32)
    wrapped = wrapping.encrypt(eph, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                                label=None))
    blob = base64.b64encode(wrapped + aes_key_wrap_with_padding(eph, target)).decode()
    vault.write("transit/keys/byok/import", ciphertext=blob, exportable=True)
    assert unb64(vault.secrets.transit.export_key("byok", "encryption-key")["data"]["keys"]["1"]) == target
    assert vault.secrets.transit.read_key("byok")["data"]["imported_key"] is True


def test_cache_config_and_cli(vault):
    assert vault.read("transit/cache-config")["data"]["size"] == 0
    vault.write("transit/cache-config", size=20)
    assert vault.read("transit/cache-config")["data"]["size"] == 20
    s = vault.server
    r = s.cli("write", "-field=ciphertext", "transit/encrypt/cli", "plaintext=" + b64("from the cli"), token=s.root_token)
    assert r.returncode == 0, r.stderr
    ct = r.stdout.strip()
    assert ct.startswith("vault:v1:")
    r = s.cli("write", "-field=plaintext", "transit/decrypt/cli", "ciphertext=" + ct, token=s.root_token)
    assert r.returncode == 0, r.stderr
    assert unb64(r.stdout.strip()) == b"from the cli"
    r = s.cli("write", "transit/decrypt/cli", "ciphertext=vault:v1:AAAA", token=s.root_token)
    assert r.returncode == 2
    assert "invalid ciphertext length" in r.stderr


def test_raw_http_error_shape(vault):
    s = vault.server
    r = requests.post(s.addr + "/v1/transit/decrypt/none", headers={"X-Vault-Token": s.root_token},
                      json={"ciphertext": "vault:v1:AAAA"})
    assert r.status_code == 400
    assert r.json() == {"errors": ["encryption key not found"]}
