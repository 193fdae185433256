# Streaming verifier for Zigbee OTA upgrade files (docs/ota.md, zigbee-se.md section 9): fed the
# file in pieces of any size as they arrive, it checks the header (magic 0x0BEEF11E, header
# version 0x0100, header length, manufacturer, image type, hardware range, destination, file
# version vs the running one, total size) on the first ~60 bytes, walks the sub-elements, and at
# the end checks the SHA-256 carried in the trailing manufacturer sub-element 0xF100 (and the
# HMAC-SHA256 in 0xF101 when a device key is provisioned), then the ECDSA P-256 signature in
# 0xF102, which must be the last element (docs/ota.md "Signature"). The digest is integrity (a
# corrupt or truncated file is caught early and cheaply); the signature is authenticity: an
# image not signed by a trusted key (ota/trust.py) is refused unless the development setting
# allow_unsigned is on. The signature check itself is long (big-int arithmetic): async callers
# run signature_job() in steps between event-loop turns; finish() runs it at once otherwise.
# Allocation: feed() allocates nothing while a piece lies inside one element (the steady state:
# every ImageBlockResponse in the upgrade image); it slices a memoryview only at element
# boundaries (a handful per file). Errors are returned as small ints, never raised.
import hashlib
import struct

from micropython import const

MAGIC = const(0x0BEEF11E)
HEADER_VERSION = const(0x0100)
MIN_HEADER_LEN = const(56)
FC_SECURITY_CRED = const(0x0001)
FC_DEVICE_SPECIFIC = const(0x0002)
FC_HW_VERSIONS = const(0x0004)
TAG_UPGRADE_IMAGE = const(0x0000)
TAG_SHA256 = const(0xF100)  # ours: SHA-256 of every byte of the file before this element
TAG_HMAC = const(0xF101)  # ours, optional: HMAC-SHA256 (device key) over the same bytes
TAG_SIGNATURE = const(0xF102)  # ours: key id, ECDSA P-256 r, s; signs every byte but r and s
DIGEST_LEN = const(32)
KEY_ID_LEN = const(8)
SIG_LEN = const(72)  # key id 8 + r 32 + s 32
_HDR_MAX = const(72)  # 56 + 1 + 8 + 4 = 69 for every optional field; longer headers: skipped
_SUB_HDR = const(6)
_MAX_HEADER_LEN = const(1024)

# Result codes (0 = fine so far).
OK = const(0)
BAD_MAGIC = const(1)
BAD_HEADER = const(2)
WRONG_MANUFACTURER = const(3)
WRONG_IMAGE_TYPE = const(4)
WRONG_HARDWARE = const(5)
NOT_NEWER = const(6)  # same or older version and downgrades not allowed
WRONG_VERSION = const(7)  # not the version the server announced
BAD_SIZE = const(8)
BAD_ELEMENT = const(9)
BAD_DIGEST = const(10)
TRUNCATED = const(11)
BAD_HMAC = const(12)
NO_IMAGE = const(13)
WRONG_DESTINATION = const(14)
TOO_LONG = const(15)
UNSIGNED = const(16)
UNKNOWN_KEY = const(17)
BAD_SIGNATURE = const(18)
AFTER_SIGNATURE = const(19)

REASONS = (
    "ok", "bad magic", "bad header", "wrong manufacturer", "wrong image type",
    "wrong hardware", "not newer", "wrong version", "bad size", "bad element", "bad digest",
    "truncated", "bad hmac", "no upgrade image", "wrong destination", "longer than announced",
    "unsigned", "signed by an unknown key", "bad signature", "data after the signature",
)  # fmt: skip

_P_HDR = const(0)
_P_SUBHDR = const(1)
_P_DATA = const(2)
_P_TRAILER = const(3)
_P_DONE = const(4)


def file_version_str(v):
    # appl release.build, stack release.build (WS split)
    return "%d.%d.%d.%d" % (v >> 24, (v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF)


class Header:
    # The parsed header fields (ints; the header string stays in the verifier's buffer).
    def __init__(self):
        self.clear()

    def clear(self):
        self.header_length = 0
        self.field_control = 0
        self.manufacturer = 0
        self.image_type = 0
        self.file_version = 0
        self.stack_version = 0
        self.total_size = 0
        self.hw_min = -1
        self.hw_max = -1


class Verifier:
    # policy: the running device (manufacturer, image_type, running file version, hardware
    # version or -1 if unknown, our EUI64 or None) and allow_downgrade (documented policy flag:
    # accept a file whose version is not newer than the running one; off by default).
    # keys: {key id: (x, y)} of the trusted signers (trust.load()); allow_unsigned: the
    # development setting that accepts a file without a signature element (off by default; a
    # signed file is checked whatever it says).
    # sink(buf, image_offset), optional: receives the bytes of the upgrade image element.
    def __init__(self, manufacturer, image_type, running_version, hw_version=-1, eui64=None,
                 allow_downgrade=False, hmac_key=None, keys=None,
                 allow_unsigned=False):  # fmt: skip
        self.manufacturer = manufacturer
        self.image_type = image_type
        self.running_version = running_version
        self.hw_version = hw_version
        self.eui64 = eui64
        self.allow_downgrade = allow_downgrade
        self.hmac_key = hmac_key
        self.keys = keys or {}
        self.allow_unsigned = allow_unsigned
        self._verified = None  # signed digest + signature of the last file that verified
        self.header = Header()
        self._hbuf = bytearray(_HDR_MAX)
        self._sub = bytearray(_SUB_HDR)
        self._trail = bytearray(DIGEST_LEN)
        self._sig = bytearray(SIG_LEN)
        self._digest = bytearray(DIGEST_LEN)
        self._ipad = bytearray(64)
        self.sink = None
        self.reset()

    def reset(self, expect_version=None, expect_size=None):
        # Start a new file. expect_*: what QueryNextImageResponse announced (None: anything).
        self.expect_version = expect_version
        self.expect_size = expect_size
        self.header.clear()
        self.error = OK
        self.pos = 0  # bytes consumed
        self.image_len = 0
        self.image_seen = False
        self.digest_ok = False
        self.hmac_ok = False
        self.signer = None  # key id (bytes) named by the signature element
        self.sig_ok = False
        self._job = None
        self._e = None  # type: bytes | None  # SHA-256 of the signed bytes
        self._sealed = False  # the digest element started: only trailer elements may follow
        self._phase = _P_HDR
        self._n = 0  # bytes collected in the current small buffer
        self._left = 0  # bytes left in the current element
        self._tag = 0
        self._img_off = 0
        self._sha = hashlib.sha256()  # the digest element's: every byte before 0xF100
        self._ssha = hashlib.sha256()  # the signature's: every byte but r and s
        self._mac = None
        if self.hmac_key is not None:
            k = self.hmac_key
            if len(k) > 64:
                k = hashlib.sha256(k).digest()
            p = self._ipad
            for i in range(64):
                p[i] = (k[i] if i < len(k) else 0) ^ 0x36
            self._mac = hashlib.sha256(p)

    def _fail(self, code):
        if not self.error:
            self.error = code
        return self.error

    def _hash(self, buf):
        self._sha.update(buf)
        self._ssha.update(buf)
        if self._mac is not None:
            self._mac.update(buf)

    def feed(self, buf):
        # -> OK or an error code (sticky). buf: bytes-like, any length.
        if self.error:
            return self.error
        n = len(buf)
        if self.expect_size is not None and self.pos + n > self.expect_size:
            return self._fail(TOO_LONG)
        i = 0
        mv = None
        while i < n:
            ph = self._phase
            if ph == _P_DATA:
                k = min(n - i, self._left)
                if i == 0 and k == n:
                    part = buf
                else:
                    if mv is None:
                        mv = memoryview(buf)
                    part = mv[i : i + k]
                self._hash(part)
                if self._tag == TAG_UPGRADE_IMAGE and self.sink is not None:
                    self.sink(part, self._img_off)
                self._img_off += k
                self._left -= k
                i += k
                if not self._left:
                    self._phase = _P_SUBHDR
                    self._n = 0
            elif ph == _P_HDR:
                i = self._collect_header(buf, i, n)
            elif ph == _P_SUBHDR:
                while i < n and self._n < _SUB_HDR:
                    self._sub[self._n] = buf[i]
                    self._n += 1
                    i += 1
                if self._n == _SUB_HDR:
                    self._sub_header()
            elif ph == _P_TRAILER:
                t = self._sig if self._tag == TAG_SIGNATURE else self._trail
                while i < n and self._left:
                    t[len(t) - self._left] = buf[i]
                    self._left -= 1
                    i += 1
                if not self._left:
                    self._trailer_done()
            elif self.signer is not None and self.pos + i < self.header.total_size:
                return self._fail(AFTER_SIGNATURE)  # an element the signature does not cover
            else:
                return self._fail(BAD_SIZE)  # bytes after the end
            if self.error:
                return self.error
        self.pos += n
        if self.header.total_size and self.pos > self.header.total_size:
            return self._fail(BAD_SIZE)
        return self.error

    def _collect_header(self, buf, i, n):
        h = self.header
        hb = self._hbuf
        while i < n:
            want = h.header_length if h.header_length else 8
            if self._n >= want:
                break
            if self._n < _HDR_MAX:
                hb[self._n] = buf[i]
            self._n += 1
            i += 1
            if self._n == 8:
                magic, hv, hl = struct.unpack_from("<IHH", hb, 0)
                if magic != MAGIC:
                    self._fail(BAD_MAGIC)
                    return i
                if hv != HEADER_VERSION or hl < MIN_HEADER_LEN or hl > _MAX_HEADER_LEN:
                    self._fail(BAD_HEADER)
                    return i
                h.header_length = hl
        if h.header_length and self._n == h.header_length:
            # Hash the header (the bytes beyond _HDR_MAX are not kept: hash what is kept,
            # then the skipped tail cannot be re-hashed -> such headers are rejected).
            if h.header_length > _HDR_MAX:
                self._fail(BAD_HEADER)
                return i
            self._hash(memoryview(hb)[: h.header_length])
            self._check_header()
            self._phase = _P_SUBHDR
            self._n = 0
        return i

    def _check_header(self):
        h = self.header
        hb = self._hbuf
        (h.field_control, h.manufacturer, h.image_type, h.file_version, h.stack_version) = (
            struct.unpack_from("<HHHIH", hb, 8)
        )
        h.total_size = struct.unpack_from("<I", hb, 52)[0]
        off = MIN_HEADER_LEN
        fc = h.field_control
        if fc & FC_SECURITY_CRED:
            off += 1
        dest = -1
        if fc & FC_DEVICE_SPECIFIC:
            dest = off
            off += 8
        if fc & FC_HW_VERSIONS:
            h.hw_min, h.hw_max = struct.unpack_from("<HH", hb, off)
            off += 4
        if off > h.header_length:
            return self._fail(BAD_HEADER)
        if h.manufacturer != self.manufacturer:
            return self._fail(WRONG_MANUFACTURER)
        if h.image_type != self.image_type:
            return self._fail(WRONG_IMAGE_TYPE)
        if self.expect_version is not None and h.file_version != self.expect_version:
            return self._fail(WRONG_VERSION)
        if h.file_version <= self.running_version and not self.allow_downgrade:
            return self._fail(NOT_NEWER)
        if self.expect_size is not None and h.total_size != self.expect_size:
            return self._fail(BAD_SIZE)
        if h.total_size < h.header_length + _SUB_HDR + DIGEST_LEN:
            return self._fail(BAD_SIZE)
        hw = self.hw_version
        if fc & FC_HW_VERSIONS and hw >= 0 and not h.hw_min <= hw <= h.hw_max:
            return self._fail(WRONG_HARDWARE)
        if dest >= 0:  # a device-specific file: ours only, and refused while we don't know
            e = self.eui64
            if e is None:
                return self._fail(WRONG_DESTINATION)
            for k in range(8):
                if hb[dest + k] != e[k]:
                    return self._fail(WRONG_DESTINATION)
        return OK

    def _sub_header(self):
        tag, length = struct.unpack_from("<HI", self._sub, 0)
        self._tag = tag
        self._n = 0
        if tag in (TAG_SHA256, TAG_HMAC, TAG_SIGNATURE):
            want = SIG_LEN if tag == TAG_SIGNATURE else DIGEST_LEN
            if length != want:
                return self._fail(BAD_ELEMENT)
            if tag == TAG_SHA256:
                if self._sealed:
                    return self._fail(BAD_ELEMENT)
                self._sealed = True
                self._digest[:] = self._sha.digest()
            elif not self._sealed:
                return self._fail(BAD_ELEMENT)  # HMAC and signature follow the digest
            self._ssha.update(self._sub)
            self._left = want
            self._phase = _P_TRAILER
            return OK
        if self._sealed:
            return self._fail(BAD_ELEMENT)  # only trailer elements after the digest
        self._hash(self._sub)
        if tag == TAG_UPGRADE_IMAGE:
            if self.image_seen:
                return self._fail(BAD_ELEMENT)
            self.image_seen = True
            self.image_len = length
            self._img_off = 0
        if length > 0x7FFFFFFF or (self.header.total_size and length > self.header.total_size):
            return self._fail(BAD_SIZE)
        self._left = length
        self._phase = _P_DATA if length else _P_SUBHDR
        return OK

    def _trailer_done(self):
        t = self._trail
        if self._tag == TAG_SIGNATURE:
            return self._signature_element()
        self._ssha.update(t)
        if self._tag == TAG_SHA256:
            if t != self._digest:
                return self._fail(BAD_DIGEST)
            self.digest_ok = True
        else:
            k = self.hmac_key
            mac = self._mac  # set by reset() when there is a key
            if mac is None or k is None:
                self.hmac_ok = False  # no key provisioned: the element is carried, not checked
            else:
                if len(k) > 64:
                    k = hashlib.sha256(k).digest()
                p = self._ipad
                for i in range(64):
                    p[i] = (k[i] if i < len(k) else 0) ^ 0x5C
                o = hashlib.sha256(p)
                o.update(mac.digest())
                if o.digest() != t:
                    return self._fail(BAD_HMAC)
                self.hmac_ok = True
        self._phase = _P_SUBHDR
        self._n = 0
        return OK

    def _signature_element(self):
        # The last element: what it signs is complete (every byte up to and including the key
        # id). Only cheap checks here; the arithmetic is signature_job().
        sig = self._sig
        self._ssha.update(memoryview(sig)[:KEY_ID_LEN])
        self._e = self._ssha.digest()
        self.signer = bytes(sig[:KEY_ID_LEN])
        self._phase = _P_DONE
        if self.signer not in self.keys:
            return self._fail(UNKNOWN_KEY)
        v = self._verified
        if v is not None and v[:DIGEST_LEN] == self._e and v[DIGEST_LEN:] == sig:
            self.sig_ok = True  # the same bytes verified before (download, then staging)
        return OK

    def signature_job(self):
        # -> the pending signature check (p256.Verify: call step() until it returns a bool),
        # or None when there is nothing to compute (no signature, an error, already verified).
        if self.error or self._e is None or self.sig_ok or self.signer not in self.keys:
            return None
        if self._job is None:
            from ihd.ota import p256

            sig = self._sig
            self._job = p256.Verify(self.keys[self.signer], self._e, bytes(sig[8:40]),
                                    bytes(sig[40:72]))  # fmt: skip
        return self._job

    def _signature_result(self):
        job = self.signature_job()
        e = self._e
        if job is not None and e is not None:
            while job.step() is None:  # no event loop to yield to: run it through
                pass
            if not job.result:
                return self._fail(BAD_SIGNATURE)
            self.sig_ok = True
            self._verified = e + bytes(self._sig)
        return OK if self.sig_ok else self._fail(BAD_SIGNATURE)

    def finish(self):
        # After the last byte: -> OK or an error code. Runs a pending signature check here
        # (synchronously) unless the caller stepped signature_job() to its end first.
        if self.error:
            return self.error
        h = self.header
        if not h.total_size or self.pos < h.total_size:
            return self._fail(TRUNCATED)
        if self._phase not in (_P_SUBHDR, _P_DONE) or self._n:
            return self._fail(TRUNCATED)
        if not self.image_seen:
            return self._fail(NO_IMAGE)
        if not self.digest_ok:
            return self._fail(BAD_DIGEST)
        if self._mac is not None and not self.hmac_ok:
            return self._fail(BAD_HMAC)  # a key is provisioned: a MAC is required
        if self.signer is None:
            return OK if self.allow_unsigned else self._fail(UNSIGNED)
        return self._signature_result()

    def reason(self):
        return REASONS[self.error] if self.error < len(REASONS) else "error %d" % self.error
