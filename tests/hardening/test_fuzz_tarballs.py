"""`vmci audit source` on hostile tarballs: many members, damaged headers, long names,
pax records, truncation, names with control characters. Each case either audits or
ends in one line naming the tarball, exit status 2; memory stays bounded whatever the
member count (docs/limits.md)."""
import gzip
import io
import os
import random
import tarfile

import pytest

from hardening_support import ROOT, check_no_traceback, run_cli
from test_bounds import peak_rss_mib

TREE = os.path.join(ROOT, "tests", "data", "audit", "mini-tree")
SPECS = os.path.join(ROOT, "tests", "data", "audit", "mini-specs")
CASES = 1000 if os.environ.get("VMCI_FUZZ_LONG") else 200


def header(name: bytes, size: int = 0, kind: bytes = b"0") -> bytes:
    block = bytearray(512)
    block[:len(name)] = name
    block[100:108] = b"0000644\0"
    block[124:136] = b"%011o\0" % size
    block[156:157] = kind
    block[257:263] = b"ustar\0"
    block[263:265] = b"00"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def kernel_tarball() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(TREE, arcname="linux-source-6.12")
    return buffer.getvalue()


def without_end(data: bytes) -> bytes:
    """The members of a tar stream without its end-of-archive blocks (and record padding)."""
    while data.endswith(b"\0" * 512):
        data = data[:-512]
    return data


def audit(path):
    result = run_cli(["audit", "source", str(path), "--specs", SPECS, "--format", "json"], seconds=60)
    check_no_traceback(result)
    return result


def check_refused(result, *fragments):
    assert result.code == 2, str(result)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, str(result)
    assert lines[0].startswith("vmci audit source: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_a_million_members_cost_constant_memory(tmp_path):
    """1.2 million empty members (a 1.2 MB gzip): tarfile kept a TarInfo for each, 1.3 GB;
    the streaming reader keeps nothing of a member it does not need."""
    members = 1_200_000
    tarball = tmp_path / "many.tar.gz"
    top = kernel_tarball()
    one = header(b"linux-source-6.12/Documentation/empty.txt")
    with gzip.open(tarball, "wb", compresslevel=1) as out:
        out.write(without_end(top))  # the tree, without its end-of-archive blocks
        for _ in range(members // 10_000):
            out.write(one * 10_000)
        out.write(b"\0" * 1024)
    code, out, err, peak = peak_rss_mib(["audit", "source", str(tarball), "--specs", SPECS, "--format", "json"],
                                        tmp_path, timeout=300)
    assert code == 0, err
    assert '"drift": []' in out
    assert peak < 100, f"{peak:.0f} MiB for {members} members"


def test_too_many_kconfig_files_are_refused(tmp_path):
    """Every Kconfig file is kept (the audit follows `source` lines): 50,001 of them is no
    kernel tree, and is refused before they fill memory."""
    tarball = tmp_path / "kconfigs.tar.gz"
    with gzip.open(tarball, "wb", compresslevel=1) as out:
        out.write(without_end(kernel_tarball()))
        for i in range(50_001):
            out.write(header(b"linux-source-6.12/x/Kconfig.%d" % i))
        out.write(b"\0" * 1024)
    check_refused(audit(tarball), str(tarball), "more than 50000")


def test_gnu_long_names_and_pax_paths_are_read(tmp_path):
    """Members named by GNU `L` records or pax `path` records (a top directory longer
    than ustar's 100 + 155 bytes) are the files of those names."""
    long_top = "linux-source-" + "6" * 300
    plain = tmp_path / "plain.tar"
    plain.write_bytes(kernel_tarball())
    expected = audit(plain)
    assert expected.code == 0, str(expected)
    for name, fmt in (("gnu.tar", tarfile.GNU_FORMAT), ("pax.tar", tarfile.PAX_FORMAT)):
        path = tmp_path / name
        with tarfile.open(plain) as original, tarfile.open(path, "w", format=fmt) as copy:
            for member in original:
                member.name = member.name.replace("linux-source-6.12", long_top, 1)
                if fmt == tarfile.PAX_FORMAT:
                    member.pax_headers = {"comment": "x" * 300}
                copy.addfile(member, original.extractfile(member) if member.isfile() else None)
        result = audit(path)
        assert result.code == 0, str(result)
        assert result.out.replace(str(path), "T") == expected.out.replace(str(plain), "T")


def test_member_names_with_control_characters_reach_no_terminal(tmp_path):
    """A C file named with an escape sequence is reported with the sequence spelled out."""
    tree = tmp_path / "tree"
    import shutil
    shutil.copytree(TREE, tree)
    hostile = tree / "kernel" / "evil\x1b]0;owned\x07\x1b[2J.c"
    hostile.write_text("void f(void)\n{\n\tVMCOREINFO_SYMBOL(evil);\n}\n")
    tarball = tmp_path / "evil.tar"
    with tarfile.open(tarball, "w") as archive:
        archive.add(tree, arcname="linux-source-6.12")
    for argv in (["--format", "json"], []):
        result = run_cli(["audit", "source", str(tarball), "--specs", SPECS, *argv])
        check_no_traceback(result)
        assert "evil" in result.out
        assert "\x1b" not in result.out + result.err and "\x07" not in result.out + result.err


def _mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    blocks = len(data) // 512
    how = rng.randrange(6)
    if how == 0:  # cut anywhere
        return bytes(data[:rng.randrange(len(data))])
    if how == 1:  # a header field: size, type, checksum, name
        block = rng.randrange(blocks) * 512
        start, length = rng.choice(((124, 12), (156, 1), (148, 8), (0, 100), (345, 155)))
        for i in range(length):
            if rng.random() < 0.5:
                data[block + start + i] = rng.randrange(256)
        return bytes(data)
    if how == 2:  # a huge size with a right checksum
        block = rng.randrange(blocks) * 512
        data[block + 124:block + 136] = rng.choice((b"77777777777\0", b"\x80" + b"\xff" * 11, b"\xff" * 12,
                                                    b"%011o\0" % rng.randrange(1 << 33)))
    elif how == 3:  # a pax or GNU long-name record in front of a member
        block = rng.randrange(blocks) * 512
        body = rng.choice((b"%d path=%s\n" % (rng.randrange(5, 400), b"a/" * rng.randrange(100)),
                           b"30 size=" + b"9" * rng.randrange(1, 5000) + b"\n", b"x" * rng.randrange(2000),
                           b"\0" * 10))
        record = header(b"././@LongLink", len(body), rng.choice((b"L", b"x", b"g", b"K")))
        padded = body + b"\0" * (-len(body) % 512)
        return bytes(data[:block]) + record + padded + bytes(data[block:])
    elif how == 4:  # flip bits anywhere
        for _ in range(rng.randrange(1, 20)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data)
    else:  # a member type that has no data, or a directory with a size
        block = rng.randrange(blocks) * 512
        data[block + 156] = rng.choice(b"123456SDKVM")
    # a header edited above gets its checksum recomputed, so the edit itself is read
    block_bytes = data[block:block + 512]
    if block_bytes.strip(b"\0"):
        block_bytes[148:156] = b" " * 8
        data[block + 148:block + 156] = b"%06o\0 " % sum(block_bytes)
    return bytes(data)


@pytest.mark.parametrize("compression", ["", "gz"])
def test_damaged_tarballs_audit_or_fail_in_one_line(tmp_path, compression):
    rng = random.Random(14)
    source = kernel_tarball()
    for case in range(CASES // 2):
        data = _mutate(source, rng)
        path = tmp_path / f"case{case}.tar{'.gz' if compression else ''}"
        path.write_bytes(gzip.compress(data, 1) if compression else data)
        result = audit(path)
        if result.code == 2:
            check_refused(result, str(path))
        else:
            assert result.code in (0, 1), str(result)
            assert result.out.startswith("{"), str(result)
