# `python -m host_tools.ota` (host_tools/ota/cli.py): build --sign (every file it makes verified
# by `cryptography` and re-serialized by zigpy), keygen, inspect verdicts and exit codes, every
# bad input one line on stderr and a non-zero exit (never a traceback), --help everywhere, and
# apply --unix-flash: a dry run never writes the image, and no apply reformats an existing one
# (its geometry is read from its littlefs superblock).
#
# Needs the firmware to accept signed images (ECDSA element 0xF102, keys in the unix board's
# OTA_KEYS_FILE): test_apply_signed_verdicts_on_the_unix_port. The other apply tests hold
# whatever the firmware's verdict is.
import hashlib
import os
import shutil
import subprocess
import sys

import pytest
from zigpy.ota import image as Z

from host_tools import paths
from host_tools.history import export
from host_tools.ota import cli, signing
from host_tools.ota import fileformat as FF
from tests.host.test_ota_format import (
    FILES,
    OTHER_PEM,
    OTHER_PUB,
    TEST_KEY,
    TEST_PEM,
    TEST_PUB,
    check_signature,
    flash_image,
)

KID = signing.key_id(TEST_KEY).hex()
OTHER_KID = signing.key_id(signing.load_private_key(OTHER_PEM)).hex()


def _tree(root, files):
    for rel, data in files:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return _tree(tmp_path_factory.mktemp("tree"), FILES)


def _build(tmp_path, tree, name="fw.ota", *extra):
    out = tmp_path / name
    argv = ["build", "--version", "0.2.0.0", "--out", str(out), "--files", str(tree)]
    assert cli.main(argv + list(extra)) == 0
    return out


def _run(capsys, argv):
    # -> (exit code, stdout, stderr) of cli.main in this process; SystemExit counts as an exit.
    capsys.readouterr()  # only this call's output
    try:
        rc = cli.main(argv)
    except SystemExit as e:
        rc = e.code
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------- build --sign ----------------

_BUILDS = [
    # (id, extra files in the tree, build options, tags between 0x0000 and 0xF100, HMAC)
    ("plain", [], [], [], False),
    ("big_tree", [("ihd/blob.bin", bytes(range(256)) * 200), ("board.py", b"NAME='unix'\n")],
     ["--hw-min", "0x0100", "--hw-max", "0x01FF"], [], False),
    ("hmac", [], ["--hmac-key", "00112233445566778899aabbccddeeff"], [], True),
    ("elements", [("x/y.py", b"y = 1\n")], ["--element", "0x0004:PIC", "--element", "0xF0F0:PIC"],
     [0x0004, 0xF0F0], False),
    ("everything", [], ["--hmac-key", "aa" * 32, "--element", "4:PIC", "--source"], [4], True),
]  # fmt: skip


@pytest.mark.parametrize("case", _BUILDS, ids=[c[0] for c in _BUILDS])
def test_build_sign_verified_by_cryptography(tmp_path, capsys, case):
    _, files, opts, extra_tags, hmac = case
    tree = _tree(tmp_path / "tree", FILES + files)
    (tmp_path / "pic.bin").write_bytes(b"\x89PNG picture data")
    opts = [o.replace("PIC", str(tmp_path / "pic.bin")) for o in opts]
    out = _build(tmp_path, tree, "fw.ota", "--sign", TEST_PEM, *opts)
    text = capsys.readouterr()
    assert "signed, key id %s" % KID in text.out and text.err == ""
    data = out.read_bytes()
    assert check_signature(data).hex() == KID  # cryptography, from the bytes
    img, rest = Z.parse_ota_image(data)
    assert rest == b"" and img.serialize() == data and img.header.image_size == len(data)
    tags = [int(s.tag_id) for s in img.subelements]
    assert tags == [0] + extra_tags + [0xF100] + ([0xF101] if hmac else []) + [0xF102]
    if extra_tags:
        assert img.subelements[1].data == b"\x89PNG picture data"
    _, entries, _ = FF.parse_bundle(FF.upgrade_image(data))
    assert len(entries) == len(FILES) + len(files)
    rc, stdout, _ = _run(capsys, ["inspect", str(out), "--trust", TEST_PUB])
    assert rc == 0 and "signature: valid (key id %s)" % KID in stdout


def test_build_unsigned_warns(tmp_path, tree, capsys):
    out = _build(tmp_path, tree)
    cap = capsys.readouterr()
    assert "UNSIGNED" in cap.out
    assert cap.err.count("\n") == 1 and "devices refuse unsigned images by default" in cap.err
    assert FF.parse_ota(out.read_bytes())["signature"] is None


# ---------------- keygen ----------------


def test_keygen(tmp_path, tree, capsys):
    key = tmp_path / "k" / "vendor.pem"
    rc, out, err = _run(capsys, ["keygen", str(key)])
    assert rc == 0 and err == ""
    pub = tmp_path / "k" / "vendor.pub.pem"
    assert os.stat(key).st_mode & 0o777 == 0o600 and pub.exists()
    priv = signing.load_private_key(str(key))
    kid = signing.key_id(priv).hex()
    assert (
        "key id %s" % kid in out
        and signing.key_id(signing.load_public_keys(str(pub))[0]).hex() == kid
    )
    assert signing.sec1(priv).hex()[66:] in out  # the line for ihd/ota/trust.py
    # signs, and the file verifies against its own .pub.pem only
    fw = _build(tmp_path, tree, "fw.ota", "--sign", str(key))
    capsys.readouterr()
    assert _run(capsys, ["inspect", str(fw), "--trust", str(pub)])[0] == 0
    rc, out, _ = _run(capsys, ["inspect", str(fw), "--trust", TEST_PUB])
    assert rc == 1 and "signed by unknown key %s" % kid in out
    # never overwrites (the private key, nor a lone public half)
    before = key.read_bytes()
    rc, out, err = _run(capsys, ["keygen", str(key)])
    assert rc == 1 and err.count("\n") == 1 and "exists" in err and key.read_bytes() == before
    (tmp_path / "lone.pub.pem").write_bytes(b"x")
    rc, _, err = _run(capsys, ["keygen", str(tmp_path / "lone.pem")])
    assert rc == 1 and "exists" in err and not (tmp_path / "lone.pem").exists()


# ---------------- inspect verdicts ----------------


@pytest.fixture(scope="module")
def files(tmp_path_factory, tree):
    # The files inspect / apply are tried on, built once.
    d = tmp_path_factory.mktemp("ota")
    out = {}
    for name, extra in (("signed", ["--sign", TEST_PEM]), ("other", ["--sign", OTHER_PEM]),
                        ("unsigned", [])):  # fmt: skip
        out[name] = d / (name + ".ota")
        cli.main(["build", "--version", "0.2.0.0", "--out", str(out[name]),
                  "--files", str(tree)] + extra)  # fmt: skip
    data = out["signed"].read_bytes()

    def variant(name, blob):
        out[name] = d / (name + ".ota")
        out[name].write_bytes(blob)

    variant("flipped_payload", data[:100] + bytes((data[100] ^ 1,)) + data[101:])
    variant("flipped_s", data[:-1] + bytes((data[-1] ^ 1,)))
    variant("trailing", data + b"\0\0")
    # a wrong SHA-256 element under a valid signature: bad all the same
    info = FF.parse_ota(data)
    off = [o for tag, o, _ in info["elements"] if tag == FF.TAG_SHA256][0]
    wrong = bytearray(data[: info["signature"]["offset"]])
    wrong[off] ^= 1
    variant("bad_digest_signed", bytes(wrong) + signing.signature_element(bytes(wrong), TEST_KEY))
    variant("garbage", os.urandom(500))
    variant("empty", b"")
    both = d / "both.pub.pem"
    both.write_bytes(_cat(OTHER_PUB, TEST_PUB))
    out["both_keys"] = both
    return out


def _cat(*paths_):
    blob = b""
    for p in paths_:
        with open(p, "rb") as f:
            blob += f.read()
    return blob


_VERDICTS = [
    # (file, --trust files, exit code, line in stdout)
    ("signed", [TEST_PUB], 0, "signature: valid (key id %s)" % KID),
    ("signed", ["both_keys"], 0, "signature: valid (key id %s)" % KID),
    ("signed", [OTHER_PUB, TEST_PUB], 0, "signature: valid (key id %s)" % KID),
    ("signed", [], 0, "signature: key id %s, not checked (no --trust key given)" % KID),
    ("signed", [OTHER_PUB], 1, "signature: signed by unknown key %s" % KID),
    ("other", [TEST_PUB], 1, "signature: signed by unknown key %s" % OTHER_KID),
    ("flipped_payload", [TEST_PUB], 1, "signature: BAD (key id %s)" % KID),
    ("flipped_s", [TEST_PUB], 1, "signature: BAD (key id %s)" % KID),
    ("bad_digest_signed", [TEST_PUB], 1, "SHA-256 element: BAD"),
    ("unsigned", [TEST_PUB], 1, "signature: unsigned"),
    ("unsigned", [], 0, "signature: unsigned"),
]


@pytest.mark.parametrize(
    "case", _VERDICTS, ids=["%s-%d" % (c[0], i) for i, c in enumerate(_VERDICTS)]
)
def test_inspect_verdicts(files, capsys, case):
    name, trust, want_rc, line = case
    argv = ["inspect", str(files[name])]
    for t in trust:
        argv += ["--trust", str(files.get(t, t))]
    rc, out, err = _run(capsys, argv)
    assert rc == want_rc, out + err
    assert line in out.splitlines()
    if rc:
        assert err.count("\n") == 1 and "refused" in err
    else:
        assert err == ""
    if name == "bad_digest_signed":
        assert "signature: valid (key id %s)" % KID in out  # the signature alone is fine


# ---------------- bad inputs ----------------


def _bad_cases(files, tmp_path):
    missing = str(tmp_path / "missing")
    garbage_img = tmp_path / "garbage.img"
    garbage_img.write_bytes(b"\x00not littlefs" * 1000)
    nokey = str(tmp_path / "nokey.pem")
    (tmp_path / "rsa.pem").write_bytes(_rsa_pem())
    sign, signed = str(files["signed"]), "--sign"
    build = ["build", "--version", "1", "--out", str(tmp_path / "o.ota"), "--files"]
    tree = str(tmp_path)
    return [
        (["inspect", missing], "cannot read"),
        (["inspect", str(files["garbage"])], "not a valid OTA file"),
        (["inspect", str(files["empty"])], "not a valid OTA file"),
        (["inspect", str(files["trailing"])], "after the signature"),
        (["inspect", sign, "--trust", missing], "cannot read"),
        (["inspect", sign, "--trust", os.path.join(paths.ROOT, "README.md")], "no PEM public key"),
        (["inspect", sign, "--trust", str(tmp_path / "rsa.pem")], "not an EC key"),
        (build + [tree, signed, nokey], "cannot read private key"),
        (build + [tree, signed, TEST_PUB], "not a PEM private key"),
        (build + [tree, signed, str(tmp_path / "rsa.pem")], "not an EC key"),
        (build + [missing], "not a directory"),
        (build + [tree, "--element", "0x0004:" + missing], "cannot read"),
        (build + [tree, "--hmac-key", "xyz"], "not hex"),
        (
            ["build", "--version", "1", "--out", missing + "/o.ota", "--files", tree],
            "cannot write",
        ),
        (["build", "--version", "1.2", "--out", "x"], "--version"),
        (["build", "--version", "1", "--out", "x", "--element", "0xF100:x"], "--element"),
        (["keygen", str(files["signed"]) + "/k.pem"], "cannot write"),
        (["apply", missing, "--unix-flash", str(tmp_path / "f.img")], "cannot read"),
        (["apply", str(files["garbage"]), "--unix-flash", str(tmp_path / "f.img")], "not a valid"),
        (["apply", str(files["trailing"]), "--unix-flash", str(tmp_path / "f.img")], "after"),
        (["apply", str(files["flipped_payload"]), "--unix-flash", missing], "SHA-256 wrong"),
        (["apply", sign, "--unix-flash", str(garbage_img)], "no littlefs superblock"),
        (["apply", sign], "needs --port"),
        (["inspect"], "required"),
        (["frobnicate"], "invalid choice"),
    ]


def _rsa_pem():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    k = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption()) + k.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip


def test_bad_inputs_one_line_no_traceback(files, tmp_path, capsys):
    cases = _bad_cases(files, tmp_path)
    garbage_before = _sha(tmp_path / "garbage.img")
    for argv, msg in cases:
        rc, out, err = _run(capsys, argv)
        assert rc not in (0, None), argv
        lines = err.strip().splitlines()
        assert len(lines) == 1 and msg in lines[0], (argv, err)
        assert "Traceback" not in out + err
    assert _sha(tmp_path / "garbage.img") == garbage_before  # refused, not formatted
    assert not (tmp_path / "missing").exists() and not (tmp_path / "f.img").exists()


def test_bad_inputs_entry_point(files, tmp_path):
    # the same through `python -m host_tools.ota` (the real entry point), a few of them
    for argv, msg in [
        (["inspect", str(tmp_path / "missing.ota")], "cannot read"),
        (["inspect", str(files["garbage"])], "not a valid OTA file"),
        (["build", "--version", "1", "--out", "x", "--sign", str(tmp_path / "k.pem")],
         "cannot read private key"),
        (["inspect", str(files["flipped_s"]), "--trust", TEST_PUB], "bad signature"),
    ]:  # fmt: skip
        r = subprocess.run([sys.executable, "-m", "host_tools.ota"] + argv, cwd=paths.ROOT,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
        assert r.returncode == 1, argv
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and msg in lines[0] and "Traceback" not in r.stderr, r.stderr


def test_help(capsys):
    for argv in ([], ["build"], ["inspect"], ["apply"], ["keygen"]):
        rc, out, err = _run(capsys, argv + ["--help"])
        assert rc == 0 and out.startswith("usage: python -m host_tools.ota") and err == ""
    r = subprocess.run([sys.executable, "-m", "host_tools.ota", "--help"], cwd=paths.ROOT,
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0 and "keygen" in r.stdout


# ---------------- apply --unix-flash ----------------


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    # A flash image as `simulate` leaves it (the unix board's own storage code and geometry),
    # holding a file and the trusted key file.
    d = tmp_path_factory.mktemp("dev")
    return flash_image(d / "flash.img", {"hist/keep.bin": b"history " * 500}, trust=(TEST_PUB,))


def _lfs_file(image_path, name):
    fs, _, _ = export._mount(image_path.read_bytes())
    with fs.open(name, "rb") as f:
        return f.read()


def test_flash_geometry_from_the_superblock(device, files, tmp_path, capsys):
    bs, bc = cli._unix_board_geometry()
    assert cli.flash_geometry(str(device)) == (bs, bc) == (4096, 512)
    # a new image of another geometry (1 kB blocks, 100 of them) made by apply, then read back
    # as such, not guessed; later applies (no options) keep it
    small = tmp_path / "small.img"
    _run(capsys, ["apply", str(files["signed"]), "--unix-flash", str(small),
                  "--block-size", "1024", "--block-count", "100"])  # fmt: skip
    assert len(small.read_bytes()) == 100 * 1024
    assert cli.flash_geometry(str(small)) == (1024, 100)
    sha = _sha(small)
    rc, out, err = _run(capsys, ["apply", str(files["signed"]), "--unix-flash", str(small),
                                 "--dry-run"])  # fmt: skip
    assert _sha(small) == sha and "formatting" not in out and "does not mount" not in out
    assert cli.flash_geometry(str(tmp_path / "none.img")) is None
    blank = tmp_path / "blank.img"
    blank.write_bytes(b"\xff" * 8192)
    assert cli.flash_geometry(str(blank)) is None
    # block 0 of the superblock pair erased (a cut mid-compaction): its twin in block 1 is read
    img = bytearray(device.read_bytes())
    assert img[bs + 8 : bs + 16] == b"littlefs"
    img[:bs] = b"\xff" * bs
    half = tmp_path / "half.img"
    half.write_bytes(bytes(img))
    assert cli.flash_geometry(str(half)) == (bs, bc)


def test_apply_dry_run_never_writes(device, files, tmp_path, capsys):
    # Whatever the firmware decides (it may not know 0xF102 yet): the image is not written, the
    # exit code follows the verdict, the file on it stays.
    before = _sha(device)
    for name in ("signed", "unsigned", "other", "flipped_s"):
        rc, out, err = _run(capsys, ["apply", str(files[name]), "--unix-flash", str(device),
                                     "--dry-run"])  # fmt: skip
        assert _sha(device) == before, name
        assert (rc == 0) == ("verified" in out), out + err
        assert "formatting" not in out and "does not mount" not in out, out
    assert _lfs_file(device, "hist/keep.bin") == b"history " * 500
    # a dry run on an image that does not exist yet leaves none behind
    rc, out, _ = _run(capsys, ["apply", str(files["signed"]), "--unix-flash",
                               str(tmp_path / "new.img"), "--dry-run"])  # fmt: skip
    assert not (tmp_path / "new.img").exists()
    assert (rc == 0) == ("verified" in out)


def test_apply_dry_run_entry_point(device, files):
    # the reported case, through the real entry point
    before = _sha(device)
    r = subprocess.run([sys.executable, "-m", "host_tools.ota", "apply", "--unix-flash",
                        str(device), "--dry-run", str(files["signed"])], cwd=paths.ROOT,
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert _sha(device) == before
    assert (r.returncode == 0) == ("verified" in r.stdout) and "Traceback" not in r.stderr


def test_apply_signed_verdicts_on_the_unix_port(device, files, capsys):
    # Needs the firmware to accept signed images: signed by the trusted key -> verified; the
    # unsigned, unknown-signer and bad-signature files -> refused.
    want = {"signed": (0, "verified"), "unsigned": (1, "unsigned"),
            "other": (1, "unknown key"), "flipped_s": (1, "bad signature")}  # fmt: skip
    for name, (want_rc, word) in want.items():
        rc, out, err = _run(capsys, ["apply", str(files[name]), "--unix-flash", str(device),
                                     "--dry-run"])  # fmt: skip
        assert rc == want_rc and word in out, (name, out, err)


def test_apply_keeps_an_existing_image(device, files, tmp_path, capsys):
    # Without --dry-run too: an existing image is mounted with its own geometry, never
    # reformatted (a 512-block image used to be formatted as 256 blocks).
    img = tmp_path / "flash.img"
    shutil.copyfile(device, img)
    rc, out, err = _run(capsys, ["apply", str(files["signed"]), "--unix-flash", str(img)])
    assert "formatting" not in out and "does not mount" not in out, out
    assert (rc == 0) == ("activated" in out), out + err
    assert _lfs_file(img, "hist/keep.bin") == b"history " * 500
    assert len(img.read_bytes()) == len(device.read_bytes())
    # a geometry given on the command line that disagrees with the image: refused, untouched
    sha = _sha(img)
    for opt in (["--block-count", "256"], ["--block-size", "512"]):
        rc, out, err = _run(capsys, ["apply", str(files["signed"]), "--unix-flash", str(img)]
                            + opt)  # fmt: skip
        assert rc == 1 and err.count("\n") == 1 and "read from the image" in err, err
    assert _sha(img) == sha
    # an image whose size does not match its littlefs (+ the raw key region): refused, untouched
    grown = tmp_path / "grown.img"
    grown.write_bytes(device.read_bytes() + b"\xff" * 4096)
    sha = _sha(grown)
    for extra in ([], ["--dry-run"]):
        rc, out, err = _run(capsys, ["apply", str(files["signed"]), "--unix-flash", str(grown)]
                            + extra)  # fmt: skip
        assert rc == 1 and err.count("\n") == 1 and "would not mount" in err, err
    assert _sha(grown) == sha
