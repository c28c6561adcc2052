"""Reads and rewrites Vault raft snapshot files with Python's standard library only, as a
check of Tresor's writer that shares no code with it: a gzip'd tar of meta.json,
state.bin (varint-delimited protobuf StorageEntry{1 key, 2 value}), SHA256SUMS and
SHA256SUMS.sealed."""
import gzip
import hashlib
import io
import json
import tarfile


def _varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, i
        shift += 7


def parse_state(state):
    """state.bin -> list of (key str, value bytes), in order."""
    out, i = [], 0
    while i < len(state):
        n, i = _varint(state, i)
        msg, i = state[i:i + n], i + n
        key, value, j = "", b"", 0
        while j < len(msg):
            tag, j = _varint(msg, j)
            assert tag & 7 in (0, 2), tag
            if tag & 7 == 0:
                _, j = _varint(msg, j)
                continue
            ln, j = _varint(msg, j)
            field, j = msg[j:j + ln], j + ln
            if tag >> 3 == 1:
                key = field.decode()
            elif tag >> 3 == 2:
                value = field
        out.append((key, value))
    return out


def read(path):
    """-> (member names in order, {name: bytes}); asserts that SHA256SUMS matches."""
    with tarfile.open(path, "r:gz") as t:
        names = t.getnames()
        files = {m.name: t.extractfile(m).read() for m in t.getmembers()}
    sums = dict(reversed(line.split("  ")) for line in files["SHA256SUMS"].decode().splitlines())
    assert set(sums) == {"meta.json", "state.bin"}, sums
    for name, digest in sums.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name
    json.loads(files["meta.json"])
    return names, files


def write(path, files, fix_sums):
    """Packs `files` (name -> bytes, in order) as a snapshot; `fix_sums` recomputes
    SHA256SUMS (SHA256SUMS.sealed is kept as given)."""
    files = dict(files)
    if fix_sums:
        files["SHA256SUMS"] = "".join(f"{hashlib.sha256(files[n]).hexdigest()}  {n}\n"
                                      for n in ("meta.json", "state.bin")).encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            t.addfile(info, io.BytesIO(data))
    with open(path, "wb") as f:
        f.write(gzip.compress(raw.getvalue()))


def encode_state(entries):
    """list of (key, value bytes) -> state.bin"""
    def varint(v):
        b = bytearray()
        while v >= 0x80:
            b.append(v & 0x7F | 0x80)
            v >>= 7
        b.append(v)
        return bytes(b)
    out = bytearray()
    for k, v in entries:
        k = k.encode()
        msg = (b"\x0a" + varint(len(k)) + k if k else b"") + (b"\x12" + varint(len(v)) + v if v else b"")
        out += varint(len(msg)) + msg
    return bytes(out)
