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
# as "<slot>/.manifest" (runtime.atomic format), the slot's "complete" marker.
# The manifest itself is streamed too: written to "<slot>/.manifest.part" in runtime.atomic's
# format (CRC computed as it arrives) and read back one entry at a time, so staging never needs
# a manifest-sized buffer (4.5 KB for the firmware tree, up to 16 KB allowed) nor a list of
# entries: on a board's small fragmented heap a contiguous block that size may not exist. The
# finished .part becomes the marker by rename (atomic on littlefs).
import binascii
import hashlib
import os
import struct

from micropython import const

from ihd.runtime import atomic

MAGIC = b"IHB1"
HDR_LEN = const(12)
_ENTRY_FIXED = const(37)  # u8 len + u32 size + 32 B hash (plus the path)
MANIFEST = ".manifest"
_PART = ".manifest.part"
_ATOMIC = "<4sII"  # runtime.atomic's header: magic, length, crc32
_ATOMIC_MAGIC = b"IHD1"
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
        if part in ("", ".", "..") or part.startswith(MANIFEST):  # also .part, .tmp
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
        self.n_files = 0
        self.files_done = 0
        self._hdr = bytearray(HDR_LEN)
        self._have = 0  # header bytes received
        self._m_left = -1  # manifest bytes still to receive (-1: header first)
        self._crc = 0
        self._mf = None  # the .manifest.part file (writing, then reading entries)
        self._entries_left = 0
        self._f = None
        self._left = 0
        self._done = 0
        self._buf = bytearray(_CHUNK)
        self._ent = bytearray(1 + 120 + 36)  # one entry: u8 len, path, u32 size, sha256
        self._path = None
        self._want = bytearray(32)

    def feed(self, buf, offset=0):
        # offset: position in the bundle (checked for continuity).
        if offset != self._done:
            raise BundleError("bundle gap at %d" % offset)
        n = len(buf)
        mv = memoryview(buf)
        i = 0
        while i < n:
            if self._m_left < 0:  # bundle header
                k = min(n - i, HDR_LEN - self._have)
                self._hdr[self._have : self._have + k] = mv[i : i + k]
                self._have += k
                i += k
                if self._have == HDR_LEN:
                    self._header()
                continue
            if self._m_left > 0:  # manifest bytes -> .manifest.part
                mf = self._mf
                assert mf is not None  # open from the header to the last entry
                k = min(n - i, self._m_left)
                part = mv[i : i + k]
                mf.write(part)
                self._crc = binascii.crc32(part, self._crc)
                self._m_left -= k
                i += k
                if not self._m_left:
                    self._manifest_done()
                continue
            if self._f is None:
                raise BundleError("bytes after the last file")
            k = min(n - i, self._left)
            self._f.write(buf if (i == 0 and k == n) else mv[i : i + k])
            self._left -= k
            i += k
            if not self._left:
                self._close_file()
        self._done += n
        if self.progress is not None:
            self.progress(self._done)

    def _header(self):
        h = self._hdr
        if bytes(h[:4]) != MAGIC:
            raise BundleError("bad bundle magic")
        n, m, version = struct.unpack_from("<HHI", h, 4)
        if n > _MAX_FILES or m > _MAX_MANIFEST:
            raise BundleError("bad bundle header")
        if self.expect_version is not None and version != self.expect_version:
            raise BundleError("bundle version 0x%08x != 0x%08x" % (version, self.expect_version))
        self.version = version
        self.n_files = self._entries_left = n
        self._m_len = m
        self._mf = open(self.dir + "/" + _PART, "wb")  # noqa: SIM115 - closed in _manifest_done
        self._mf.write(bytes(12))  # runtime.atomic header, filled in when the CRC is known
        self._mf.write(h)
        self._crc = binascii.crc32(h)
        self._m_left = m
        if not m:
            self._manifest_done()

    def _manifest_done(self):
        f = self._mf
        assert f is not None
        f.seek(0)
        f.write(struct.pack(_ATOMIC, _ATOMIC_MAGIC, HDR_LEN + self._m_len, self._crc & 0xFFFFFFFF))
        f.close()
        self._mf = open(self.dir + "/" + _PART, "rb")  # noqa: SIM115 - closed after the last entry
        self._mf.seek(12 + HDR_LEN)
        self._m_pos = 0
        self._open_next()

    def _next_entry(self):
        # The next manifest entry into self._path / self._want; -> size. Raises on a bad one.
        e = self._ent
        mv = memoryview(e)
        end = self._m_len
        mf = self._mf
        assert mf is not None
        if self._m_pos >= end or mf.readinto(mv[:1]) != 1:
            raise BundleError("manifest truncated")
        pl = e[0]
        if pl > 120 or self._m_pos + 1 + pl + 36 > end or mf.readinto(mv[1 : 37 + pl]) != 36 + pl:
            raise BundleError("manifest truncated")
        try:
            path = bytes(e[1 : 1 + pl]).decode()
        except UnicodeError:  # bytes off the air: a refusal, never a crash of the OTA task
            raise BundleError("bad path (not UTF-8)") from None
        check_path(path)
        self._path = path
        self._want[:] = mv[5 + pl : 37 + pl]
        self._m_pos += _ENTRY_FIXED + pl
        return struct.unpack_from("<I", e, 1 + pl)[0]

    def _open_next(self):
        while self._entries_left:
            self._entries_left -= 1
            size = self._next_entry()
            full = self.dir + "/" + self._path
            makedirs(full)
            self._f = open(full, "wb")  # noqa: SIM115 - closed in _close_file
            self._left = size
            if size:
                return
            self._close_file()
            return
        if self._m_pos != self._m_len:
            raise BundleError("manifest length mismatch")
        assert self._mf is not None
        self._mf.close()
        self._mf = None
        self._f = None

    def _close_file(self):
        assert self._f is not None
        self._f.close()
        self._f = None
        if sha256_file(self.dir + "/" + self._path, self._buf) != self._want:
            raise BundleError("file %s: SHA-256 mismatch on flash" % self._path)
        self.files_done += 1
        self._open_next()

    def finish(self):
        # All bytes fed: every file complete? Then the manifest becomes the slot's marker.
        if self._m_left != 0 or self._f is not None or self.files_done != self.n_files:
            raise BundleError("bundle truncated")
        os.rename(self.dir + "/" + _PART, self.dir + "/" + MANIFEST)
        return self.version

    def close(self):
        # Abandoned (error): release the open files; the slot is wiped before the next stage.
        for f in (self._f, self._mf):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
        self._f = self._mf = None


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
