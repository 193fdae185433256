# OTA file verification (ihd.ota.image): good files in any piece size, every rejection (magic,
# header version, manufacturer, image type, hardware range, downgrade, announced version/size,
# corrupt payload, corrupt digest, truncated, missing digest, trailing bytes), HMAC, the ECDSA
# P-256 signature (unsigned, unknown key, bad signature, in steps), and no allocation per
# block in the steady state.
import fwtest
import test_ota_helpers as H
from ihd.ota import image as IM

PORTABLE = True

NEW = 0x00020000


def _v(**kw):
    args = dict(manufacturer=H.MFR, image_type=H.ITYPE, running_version=H.RUNNING,
                hw_version=H.HW, keys=H.trusted_keys())  # fmt: skip
    args.update(kw)
    return IM.Verifier(**args)


def _run(data, v=None, piece=48, expect_version=None, expect_size=None):
    v = v or _v()
    v.reset(expect_version, expect_size)
    for i in range(0, len(data), piece):
        if v.feed(data[i : i + piece]):
            return v.error
    return v.finish()


def _payload(n=1000):
    return bytes((i * 7) & 0xFF for i in range(n))


def _good_case(data, piece):
    got = []
    v = _v()
    v.reset(NEW, len(data))
    v.sink = lambda b, off: got.append((off, bytes(b)))
    for i in range(0, len(data), piece):
        assert v.feed(data[i : i + piece]) == IM.OK, (piece, v.reason())
    assert v.finish() == IM.OK, (piece, v.reason())
    assert b"".join(b for _, b in got) == _payload()
    assert v.header.file_version == NEW and v.header.total_size == len(data)


def test_good_file_any_piece_size():
    data = H.ota(_payload(), NEW)
    for piece in (1, 5, 6, 48, 63, 64, 100, len(data)):
        _good_case(data, piece)


def test_header_rejections():
    p = _payload(200)
    cases = (
        (H.ota(p, NEW, magic=0x0BEEF11F), IM.BAD_MAGIC),
        (H.ota(p, NEW, hv=0x0200), IM.BAD_HEADER),
        (H.ota(p, NEW, mfr=0x1234), IM.WRONG_MANUFACTURER),
        (H.ota(p, NEW, itype=0x0101), IM.WRONG_IMAGE_TYPE),
        (H.ota(p, NEW, hw=(0x0200, 0x02FF)), IM.WRONG_HARDWARE),
        (H.ota(p, NEW, hw=(0x0000, 0x00FF)), IM.WRONG_HARDWARE),
        (H.ota(p, H.RUNNING), IM.NOT_NEWER),
        (H.ota(p, 0x00000100), IM.NOT_NEWER),
    )
    for data, want in cases:
        assert _run(data) == want, (want, _run(data))
    # The bad header is caught on the first block, before any download effort.
    v = _v()
    v.reset()
    assert v.feed(H.ota(p, NEW, mfr=0x1234)[:60]) == IM.WRONG_MANUFACTURER
    # Hardware inside the range, and downgrades with the documented policy flag.
    assert _run(H.ota(p, NEW, hw=(0x0100, 0x01FF))) == IM.OK
    assert _run(H.ota(p, 0x00000100), _v(allow_downgrade=True)) == IM.OK


def test_announced_version_and_size():
    data = H.ota(_payload(300), NEW)
    assert _run(data, expect_version=NEW + 1) == IM.WRONG_VERSION
    assert _run(data, expect_size=len(data) + 1) == IM.BAD_SIZE
    assert _run(data + b"\0", expect_size=len(data)) == IM.TOO_LONG
    assert _run(data + b"\0") == IM.BAD_SIZE  # beyond the header's total size


def test_corruption_and_truncation():
    data = bytearray(H.ota(_payload(), NEW))
    for pos in (70, 500, len(data) - 78 - 20):  # payload byte, payload byte, in the digest
        bad = bytearray(data)
        bad[pos] ^= 0x01
        assert _run(bytes(bad)) == IM.BAD_DIGEST, pos
    for cut in (10, 57, 64, 66, 700, len(data) - 78 - 38, len(data) - 78, len(data) - 1):
        assert _run(bytes(data[:cut])) == IM.TRUNCATED, cut
    assert _run(H.ota(_payload(), NEW, digest=False, signed=False)) in (IM.BAD_DIGEST,
                                                                       IM.TRUNCATED)  # fmt: skip
    # A signature without the digest element before it is out of place.
    assert _run(H.ota(_payload(), NEW, digest=False)) == IM.BAD_ELEMENT


def test_signature():
    # docs/ota.md "Signature": key id || r || s in 0xF102, last, over every byte but r || s.
    data = H.ota(_payload(), NEW)
    v = _v()
    assert _run(data, v) == IM.OK and v.sig_ok and v.signer == H.trusted_keys().popitem()[0]
    # Unsigned: refused, unless the development setting allows it.
    unsigned = H.ota(_payload(), NEW, signed=False)
    assert _run(unsigned) == IM.UNSIGNED
    assert _run(unsigned, _v(allow_unsigned=True)) == IM.OK
    # Signed by a key the device does not trust (even with unsigned images allowed), or with
    # no key provisioned at all: refused at the signature element, before any arithmetic.
    other = H.ota(_payload(), NEW, signer=(H.OTHER_D, H.OTHER_PUB))
    assert _run(other) == IM.UNKNOWN_KEY
    assert _run(other, _v(allow_unsigned=True)) == IM.UNKNOWN_KEY
    assert _run(data, _v(keys={})) == IM.UNKNOWN_KEY
    # A flipped bit in r, in s, or in the key id; a signature copied onto another file.
    for pos in (len(data) - 64, len(data) - 33, len(data) - 1):
        bad = bytearray(data)
        bad[pos] ^= 0x80
        assert _run(bytes(bad)) == IM.BAD_SIGNATURE, pos
    bad = bytearray(data)
    bad[len(data) - 65] ^= 0x01  # last key id byte: names no trusted key
    assert _run(bytes(bad)) == IM.UNKNOWN_KEY
    other_payload = bytearray(_payload())
    other_payload[10] ^= 1
    twin = H.ota(bytes(other_payload), NEW)  # its own valid digest; r || s copied from data
    spliced = twin[:-64] + data[-64:]
    assert len(twin) == len(data) and _run(spliced) == IM.BAD_SIGNATURE
    # An element after the signature, inside the header's total size: not covered, refused.
    import hashlib
    import struct

    from ihd.ota import p256

    body, extra = H.sub(0, _payload()), H.sub(0x0004, b"")
    covered = H.header(NEW, 56 + len(body) + 38 + 78 + len(extra)) + body
    head = covered + H.sub(0xF100, hashlib.sha256(covered).digest())
    head += struct.pack("<HI", 0xF102, 72) + p256.key_id(H.TEST_PUB)
    assert _run(head + H.sign(head)[8:] + extra) == IM.AFTER_SIGNATURE
    assert _run(data + b"\0") == IM.BAD_SIZE  # beyond the total size


def test_signature_in_steps_and_remembered():
    # The async route: step the job, then finish() has nothing left to compute; the same
    # bytes fed again (staging re-reads the download) verify without the arithmetic.
    data = H.ota(_payload(), NEW)
    v = _v()
    v.reset(NEW, len(data))
    assert v.feed(data) == IM.OK
    job = v.signature_job()
    steps = 0
    while job.step() is None:
        steps += 1
    assert job.result and steps > 10, steps
    assert v.finish() == IM.OK and v.signature_job() is None
    v.reset(NEW, len(data))
    assert v.feed(data) == IM.OK and v.sig_ok and v.signature_job() is None
    assert v.finish() == IM.OK
    # Another file: computed again, and a bad one is refused even after a good one.
    bad = bytearray(data)
    bad[-1] ^= 1
    v.reset(NEW, len(data))
    assert v.feed(bytes(bad)) == IM.OK and not v.sig_ok and v.finish() == IM.BAD_SIGNATURE


def test_bad_elements():
    p = _payload(100)
    # Digest element of the wrong length; an element after the digest.
    body = H.sub(0, p)
    total = 56 + len(body) + 6 + 31
    covered = H.header(NEW, total) + body
    assert _run(covered + H.sub(0xF100, bytes(31))) == IM.BAD_ELEMENT
    good = H.ota(p, NEW)
    # No upgrade image at all (only an unknown element): digest fine, no image.
    body = H.sub(0x0004, b"picture")
    total = 56 + len(body) + 38
    covered = H.header(NEW, total) + body
    import hashlib

    f = covered + H.sub(0xF100, hashlib.sha256(covered).digest())
    assert _run(f) == IM.NO_IMAGE
    assert _run(good) == IM.OK


def test_hmac():
    key = b"device-key-0123456789"
    data = H.ota(_payload(), NEW, hmac_key=key)
    assert _run(data, _v(hmac_key=key)) == IM.OK
    assert _run(data, _v(hmac_key=b"other key")) == IM.BAD_HMAC
    assert _run(data) == IM.OK  # no key provisioned: the MAC is carried, not checked
    # A key is provisioned: a file without a MAC is refused.
    assert _run(H.ota(_payload(), NEW), _v(hmac_key=key)) == IM.BAD_HMAC


def test_no_allocation_per_block():
    data = H.ota(_payload(4000), NEW)
    blocks = [data[i : i + 48] for i in range(0, len(data), 48)]
    v = _v()
    v.reset(NEW, len(data))
    for b in blocks[:3]:
        assert v.feed(b) == IM.OK
    # Blocks 3.. up to the one before the digest (38 B) and the signature (78 B) elements
    # are inside the upgrade image element.
    end = (len(data) - 38 - 78) // 48
    middle = blocks[3:end]
    with fwtest.HeapLocked():
        for b in middle:
            v.feed(b)
    for b in blocks[end:]:
        v.feed(b)
    assert v.error == IM.OK and v.finish() == IM.OK
