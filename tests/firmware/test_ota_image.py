# OTA file verification (ihd.ota.image): good files in any piece size, every rejection (magic,
# header version, manufacturer, image type, hardware range, downgrade, announced version/size,
# corrupt payload, corrupt digest, truncated, missing digest, trailing bytes), HMAC, and no
# allocation per block in the steady state.
import fwtest
import test_ota_helpers as H
from ihd.ota import image as IM

PORTABLE = True

NEW = 0x00020000


def _v(**kw):
    args = dict(manufacturer=H.MFR, image_type=H.ITYPE, running_version=H.RUNNING,
                hw_version=H.HW)  # fmt: skip
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
    for pos in (70, 500, len(data) - 40):  # payload byte, payload byte, in the digest
        bad = bytearray(data)
        bad[pos] ^= 0x01
        assert _run(bytes(bad)) == IM.BAD_DIGEST, pos
    for cut in (10, 57, 64, 66, 700, len(data) - 38, len(data) - 1):
        assert _run(bytes(data[:cut])) == IM.TRUNCATED, cut
    assert _run(H.ota(_payload(), NEW, digest=False)) in (IM.BAD_DIGEST, IM.TRUNCATED)


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
    # Blocks 3.. up to the one before the digest are inside the upgrade image element.
    middle = blocks[3:-3]
    with fwtest.HeapLocked():
        for b in middle:
            v.feed(b)
    for b in blocks[-3:]:
        v.feed(b)
    assert v.error == IM.OK and v.finish() == IM.OK
