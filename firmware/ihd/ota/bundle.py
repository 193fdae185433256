# Application bundle: the payload of the OTA upgrade image element (docs/ota.md "Bundle"). All
# integers little-endian:
#   0   4  magic b"IHB1"
#   4   2  file count N
#   6   2  manifest length M (bytes)
#   8   4  firmware file version (equals the OTA header's)
#   12  M  N entries: u8 path length, path (UTF-8, relative, "/"-separated, no "." or ".."
#          parts), u32 size, 32 B SHA-256 of the content
#   ... the N file contents, in manifest order, back to back
# Writer streams the bundle into a slot directory as it is fed (from the downloaded OTA file):
# each file is written, re-read from flash and its SHA-256 checked; the manifest is written last
# as "<slot>/.manifest" (runtime.atomic), the slot's "complete" marker.
import hashlib
import os
import struct

from micropython import const

from ihd.runtime import atomic

MAGIC = b"IHB1"
HDR_LEN = const(12)
_ENTRY_FIXED = const(37)  # u8 len + u32 size + 32 B hash (plus the path)
MANIFEST = ".manifest"
_MAX_MANIFEST = const(16384)
_MAX_FILES = const(512)
_CHUNK = const(512)


class BundleError(Exception):
    pass


def parse_manifest(raw):
    # raw = header + manifest bytes -> (version, [(path, size, sha256 bytes)]). Raises.
    if len(raw) < HDR_LEN or raw[:4] != MAGIC:
        raise BundleError("bad bundle magic")
    n, m, version = struct.unpack_from("<HHI", raw, 4)
    if n > _MAX_FILES or m > _MAX_MANIFEST or len(raw) < HDR_LEN + m:
        raise BundleError("bad bundle header")
    out = []
    off = HDR_LEN
    end = HDR_LEN + m
    for _ in range(n):
        if off >= end:
            raise BundleError("manifest truncated")
        pl = raw[off]
        if off + 1 + pl + 36 > end:
            raise BundleError("manifest truncated")
        path = bytes(raw[off + 1 : off + 1 + pl]).decode()
        size = struct.unpack_from("<I", raw, off + 1 + pl)[0]
        h = bytes(raw[off + 5 + pl : off + 5 + pl + 32])
        off += _ENTRY_FIXED + pl
        check_path(path)
        out.append((path, size, h))
    if off != end:
        raise BundleError("manifest length mismatch")
    return version, out


def check_path(path):
    if not path or path[0] == "/" or len(path) > 120:
        raise BundleError("bad path %r" % path)
    for part in path.split("/"):
        if part in ("", ".", "..") or part == MANIFEST:
            raise BundleError("bad path %r" % path)


def makedirs(path):
    # mkdir -p for the directory part of `path`.
    i = path.find("/", 1)
    while i > 0:
        try:
            os.mkdir(path[:i])
        except OSError:
            pass
        i = path.find("/", i + 1)


def rmtree(path):
    try:
        entries = list(os.ilistdir(path))
    except OSError:
        return
    for e in entries:
        p = path + "/" + e[0]
        if e[1] == 0x4000:
            rmtree(p)
        else:
            os.remove(p)
    try:
        os.rmdir(path)
    except OSError:
        pass


def sha256_file(path, buf=None):
    buf = buf or bytearray(_CHUNK)
    h = hashlib.sha256()
    mv = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(buf if n == len(buf) else mv[:n])
    return h.digest()


class Writer:
    # Fed the bundle bytes in order (Verifier.sink); writes the files under `slot_dir`.
    def __init__(self, slot_dir, expect_version=None, progress=None):
        self.dir = slot_dir
        self.expect_version = expect_version
        self.progress = progress  # fn(done_bytes) or None
        self.version = None
        self.entries = None
        self.files_done = 0
        self._raw = bytearray(HDR_LEN)
        self._need = HDR_LEN
        self._have_n = 0
        self._idx = -1
        self._f = None
        self._left = 0
        self._done = 0
        self._buf = bytearray(_CHUNK)

    def feed(self, buf, offset=0):
        # offset: position in the bundle (checked for continuity).
        if offset != self._done:
            raise BundleError("bundle gap at %d" % offset)
        n = len(buf)
        i = 0
        while i < n:
            if self.entries is None:
                k = min(n - i, self._need - self._have_n)
                self._raw[self._have_n : self._have_n + k] = buf[i : i + k]
                self._have_n += k
                i += k
                if self._have_n == self._need:
                    self._header_step()
                continue
            if self._f is None:
                raise BundleError("bytes after the last file")
            k = min(n - i, self._left)
            part = buf if (i == 0 and k == n) else memoryview(buf)[i : i + k]
            self._f.write(part)
            self._left -= k
            i += k
            if not self._left:
                self._close_file()
        self._done += n
        if self.progress is not None:
            self.progress(self._done)

    def _header_step(self):
        if self._need == HDR_LEN:
            if bytes(self._raw[:4]) != MAGIC:
                raise BundleError("bad bundle magic")
            n, m, version = struct.unpack_from("<HHI", self._raw, 4)
            if n > _MAX_FILES or m > _MAX_MANIFEST:
                raise BundleError("bad bundle header")
            if self.expect_version is not None and version != self.expect_version:
                raise BundleError(
                    "bundle version 0x%08x != 0x%08x" % (version, self.expect_version)
                )
            hdr = self._raw
            self._raw = bytearray(HDR_LEN + m)
            self._raw[:HDR_LEN] = hdr
            self._need = HDR_LEN + m
            if m:
                return
        self.version, self.entries = parse_manifest(self._raw)
        self._open_next()

    def _open_next(self):
        self._idx += 1
        while self._idx < len(self.entries):
            path, size, _ = self.entries[self._idx]
            full = self.dir + "/" + path
            makedirs(full)
            self._f = open(full, "wb")  # noqa: SIM115 - closed in _close_file
            self._left = size
            if size:
                return
            self._close_file()
            return
        self._f = None

    def _close_file(self):
        self._f.close()
        self._f = None
        path, _, want = self.entries[self._idx]
        if sha256_file(self.dir + "/" + path, self._buf) != want:
            raise BundleError("file %s: SHA-256 mismatch on flash" % path)
        self.files_done += 1
        self._open_next()

    def finish(self):
        # All bytes fed: every file complete? Then write the manifest marker.
        if self.entries is None or self._f is not None or self.files_done != len(self.entries):
            raise BundleError("bundle truncated")
        atomic.write(self.dir + "/" + MANIFEST, bytes(self._raw))
        return self.version


def read_marker(slot_dir):
    # -> (version, entries) of a completely staged slot, or None.
    raw = atomic.read(slot_dir + "/" + MANIFEST)
    if not raw:
        return None
    try:
        return parse_manifest(raw)
    except (BundleError, ValueError):
        return None


def verify_slot(slot_dir):
    # Full check (every file hashed): -> version or None.
    m = read_marker(slot_dir)
    if m is None:
        return None
    buf = bytearray(_CHUNK)
    for path, size, h in m[1]:
        try:
            if os.stat(slot_dir + "/" + path)[6] != size:
                return None
            if sha256_file(slot_dir + "/" + path, buf) != h:
                return None
        except OSError:
            return None
    return m[0]
