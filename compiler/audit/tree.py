"""A kernel source tree as `audit source` reads it: a directory or a tarball.

Only three kinds of file matter: C files that mention VMCOREINFO (csource.MARKERS), the
Kbuild makefiles (gates) and the Kconfig files (rules). A directory is walked once; a
tarball (Debian's /usr/src/linux-source-X.tar.xz) is streamed once and only those
files are kept, in memory or, with `extract_audit_files`, on disk, so that CI never
unpacks the whole tree.
"""
from __future__ import annotations

import lzma
import os
import re
import zlib
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from vmci.files.inputs import NotRegularFile, kind_of, open_regular
from vmci.audit.csource import MARKERS
from vmci.errors import UnusableInput

MAX_FILE_BYTES = 8 << 20


class TreeError(UnusableInput):
    """A tree that cannot be read; str() is one line naming the path."""


def wanted(relpath: str) -> Optional[str]:
    """What a file is to the audit: 'c', 'kbuild', 'kconfig' or None."""
    name = relpath.rsplit("/", 1)[-1]
    if name.endswith(".c"):
        return "c"
    if name in ("Makefile", "Kbuild"):
        return "kbuild"
    if name.startswith("Kconfig"):
        return "kconfig"
    return None


def mentions_vmcoreinfo(data: bytes) -> bool:
    return any(marker in data for marker in MARKERS)


def version_of(makefile_text: str, where: str = "Makefile") -> Optional[Tuple[int, ...]]:
    """VERSION, PATCHLEVEL and SUBLEVEL from the top Makefile (`where` names it)."""
    fields = {}
    for number, line in enumerate(makefile_text.split("\n")[:40], 1):
        match = re.match(r"^(VERSION|PATCHLEVEL|SUBLEVEL)[ \t]*=[ \t]*([0-9]*)[ \t\r]*$", line)
        if match:
            if len(match.group(2)) > 6:  # the kernel packs each into a byte (KERNEL_VERSION)
                raise TreeError(f"{where}:{number}: {match.group(1)} is a {len(match.group(2))}-digit number; "
                                f"not a kernel's top Makefile")
            fields[match.group(1)] = match.group(2)
    if not fields.get("VERSION") or not fields.get("PATCHLEVEL"):
        return None
    parts = [int(fields["VERSION"]), int(fields["PATCHLEVEL"])]
    if fields.get("SUBLEVEL"):
        parts.append(int(fields["SUBLEVEL"]))
    return tuple(parts)


def read_tree_version(tree: str) -> Optional[Tuple[int, ...]]:
    """A directory tree's version from its top Makefile, None when it cannot be read;
    TreeError (or NotRegularFile) when the Makefile is there but no kernel's."""
    path = os.path.join(tree, "Makefile")
    try:
        with open_regular(path, "r", encoding="utf-8", errors="replace") as handle:
            return version_of(handle.read(4096), path)
    except OSError:
        return None


class KernelTree:
    """Read access to the files of one tree; paths are relative to its top."""

    def __init__(self, name: str, version: Tuple[int, ...], c_files: List[str], kconfig_files: List[str]):
        self.name = name
        self.version = version
        self.c_files = c_files  # the C files that mention VMCOREINFO
        self.kconfig_files = kconfig_files

    def read(self, relpath: str) -> Optional[str]:
        raise NotImplementedError

    def arches(self) -> List[str]:
        return sorted({p.split("/")[1] for p in self.kconfig_files
                       if p.startswith("arch/") and p.count("/") == 2 and p.endswith("/Kconfig")})

    @staticmethod
    def open(path: str, progress: Optional[Callable[[int, int, str], None]] = None) -> KernelTree:
        """The tree in a directory or a tarball; `progress(done, total, what)` follows the
        tarball's compressed bytes as they are read."""
        if os.path.isdir(path):
            return DirectoryTree(path)
        if os.path.isfile(path):
            return TarballTree(path, progress)
        if os.path.exists(path):  # a FIFO, device or socket: never opened
            raise TreeError(f"{path}: neither a directory nor a tarball ({kind_of(os.stat(path).st_mode)})")
        raise TreeError(f"{path}: no such directory or tarball")


class DirectoryTree(KernelTree):
    def __init__(self, root: str):
        self.root = root
        try:
            with open_regular(os.path.join(root, "Makefile"), "r", encoding="utf-8", errors="replace") as handle:
                version = version_of(handle.read(8192), os.path.join(root, "Makefile"))
        except NotRegularFile as error:
            raise TreeError(str(error))
        except OSError as error:
            raise TreeError(f"{os.path.join(root, 'Makefile')}: cannot read the top Makefile "
                            f"({error.strerror or error}); is {root} a kernel source tree?")
        if version is None:
            raise TreeError(f"{os.path.join(root, 'Makefile')}:1: no VERSION/PATCHLEVEL lines; not a kernel's top Makefile")
        c_files, kconfig_files = [], []
        for directory, subdirs, files in os.walk(root, onerror=self._walk_error):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for name in sorted(files):
                full = os.path.join(directory, name)
                relpath = os.path.relpath(full, root).replace(os.sep, "/")
                kind = wanted(relpath)
                if kind == "kconfig":
                    kconfig_files.append(relpath)
                elif kind == "c":
                    try:
                        with open_regular(full) as handle:
                            if mentions_vmcoreinfo(handle.read(MAX_FILE_BYTES)):
                                c_files.append(relpath)
                    except NotRegularFile as error:
                        raise TreeError(str(error))
                    except OSError as error:
                        raise TreeError(f"{full}: cannot read ({error.strerror or error})")
        super().__init__(root, version, c_files, kconfig_files)

    @staticmethod
    def _walk_error(error: OSError):
        raise TreeError(f"{error.filename}: cannot list ({error.strerror or error})")

    def read(self, relpath: str) -> Optional[str]:
        try:
            with open_regular(os.path.join(self.root, relpath), "r", encoding="utf-8", errors="replace") as handle:
                return handle.read(MAX_FILE_BYTES)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except NotRegularFile as error:  # the audit would be incomplete without it
            raise TreeError(str(error))
        except OSError as error:
            raise TreeError(f"{os.path.join(self.root, relpath)}: cannot read ({error.strerror or error})")


# What the audit keeps of a tarball. A kernel tree has about 5,000 Kconfig files and
# makefiles (6.12: 1,771 Kconfig, 3,117 Makefile/Kbuild, 6.4 MB in all) and a dozen C
# files that mention VMCOREINFO; anything far beyond that is not a kernel tree.
MAX_KEPT_FILES = 50_000
MAX_KEPT_BYTES = 128 << 20
# A GNU long name or a pax header: PATH_MAX is 4096; the rest of a pax header is skipped.
MAX_META_BYTES = 1 << 20
CHUNK = 1 << 20
# What liblzma writes per call. CPython's _lzma writes into blocks of 32 KiB, 64 KiB,
# 256 KiB ... and joins them into one new bytes object unless the output is exactly one
# full first block (_BlocksOutputBuffer_Finish): at 32 KiB a piece is liblzma's own
# buffer, at 1 MiB every byte was copied once more (1.5 GB for 6.12) into fresh pages.
XZ_PIECE = 32 << 10
BLOCK = 512
_REGULAR = (b"0", b"\0", b"7")
# Member types whose size field counts no data (tarfile and GNU tar skip none for them).
_NO_DATA = (b"1", b"2", b"3", b"4", b"5", b"6")


def _decompressed(path: str):
    """The tarball's bytes as an iterator of pieces (non-empty bytes, about CHUNK each)
    and the file under it: plain tar, gzip, xz, or bzip2 (what tar's -a picks and what
    Debian ships), chosen from the magic bytes, not the name."""
    import bz2
    import gzip
    try:
        raw = open(path, "rb")
        magic = raw.read(6)
        raw.seek(0)
    except OSError as error:
        raise TreeError(f"{path}: cannot read ({error.strerror or error})")
    if magic.startswith(b"\xfd7zXZ\0"):
        return _xz_pieces(raw), raw
    if magic.startswith(b"\x1f\x8b"):
        return _pieces(gzip.GzipFile(fileobj=raw, mode="rb")), raw
    if magic.startswith(b"BZh"):
        return _pieces(bz2.BZ2File(raw, "rb")), raw
    return _pieces(raw), raw


def _pieces(stream) -> Iterator[bytes]:
    while True:
        piece = stream.read(CHUNK)
        if not piece:
            return
        yield piece


def _xz_pieces(raw) -> Iterator[bytes]:
    """xz data decompressed as lzma.LZMAFile does it (streams one after another, trailing
    bytes that start no stream ignored, the same errors), without its buffer layers:
    each piece (XZ_PIECE bytes or fewer) comes straight from liblzma, copied nowhere."""
    decompressor = lzma.LZMADecompressor()
    while True:
        if decompressor.eof:
            block = decompressor.unused_data or raw.read(CHUNK >> 3)
            if not block:
                return
            decompressor = lzma.LZMADecompressor()
            try:
                piece = decompressor.decompress(block, XZ_PIECE)
            except lzma.LZMAError:
                return  # not a next stream: trailing data
        else:
            if decompressor.needs_input:
                block = raw.read(CHUNK >> 3)
                if not block:
                    raise EOFError("Compressed file ended before the end-of-stream marker was reached")
            else:
                block = b""
            piece = decompressor.decompress(block, XZ_PIECE)
        if piece:
            yield piece


class _Reader:
    """Sequential reads of a decompressed stream, one piece at a time: memory is one
    piece plus what a caller keeps, whatever the member count (tarfile's stream mode
    keeps a TarInfo per member: 1.7 GB for a 822 KB gzip of 1.6 million empty members).
    Skipping a member copies nothing, and a C file is copied only when it is kept."""

    def __init__(self, pieces: Iterator[bytes], progress=None):
        self.pieces = pieces
        self.progress = progress  # called with no argument after each CHUNK or so
        self.unreported = 0  # bytes since the last call
        self.buffer = b""
        self.pos = 0
        self.offset = 0  # of the next byte, in the decompressed stream

    def _next_piece(self) -> bytes:
        piece = next(self.pieces, b"")
        if piece and self.progress is not None:
            self.unreported += len(piece)
            if self.unreported >= CHUNK:
                self.unreported = 0
                self.progress()
        return piece

    def read(self, size: int) -> bytes:
        end = self.pos + size
        if end <= len(self.buffer):
            data = self.buffer[self.pos:end]
            self.pos = end
            self.offset += size
            return data
        parts = [self.buffer[self.pos:]]
        have = len(parts[0])
        self.buffer, self.pos = b"", 0
        while have < size:
            piece = self._next_piece()
            if not piece:
                break
            if have + len(piece) <= size:
                parts.append(piece)
                have += len(piece)
            else:
                parts.append(piece[:size - have])
                self.buffer, self.pos = piece, size - have
                have = size
        data = b"".join(parts)
        self.offset += len(data)
        return data

    def read_mentioning(self, size: int, markers: Tuple[bytes, ...]) -> Tuple[Optional[bytes], int]:
        """The next `size` bytes if one of the markers is in them, else None; and how
        many bytes there were (fewer than size: the stream ended)."""
        end = self.pos + size
        if end <= len(self.buffer):
            buffer, start = self.buffer, self.pos
            self.pos = end
            self.offset += size
            for marker in markers:
                if buffer.find(marker, start, end) >= 0:
                    return buffer[start:end], size
            return None, size
        # the member runs on into the next pieces: look in each of its spans and across
        # each seam (a marker's length of bytes either side of it), and join the spans
        # only when a marker is there
        seam = max(len(marker) for marker in markers)
        spans: List[Tuple[bytes, int, int]] = []
        found = False
        before = b""  # the last `seam` bytes of the member so far
        left = size
        piece, start = self.buffer, self.pos
        while True:
            stop = min(len(piece), start + left)
            spans.append((piece, start, stop))
            if not found:
                across = before + piece[start:min(stop, start + seam)]
                found = any(marker in across or piece.find(marker, start, stop) >= 0 for marker in markers)
                before = (before + piece[max(start, stop - seam):stop])[-seam:]
            left -= stop - start
            if left == 0:
                self.buffer, self.pos = piece, stop
                break
            piece, start = self._next_piece(), 0
            if not piece:
                self.buffer, self.pos = b"", 0
                break
        got = size - left
        self.offset += got
        return (b"".join(piece[start:stop] for piece, start, stop in spans) if found else None), got

    def skip(self, size: int) -> bool:
        end = self.pos + size
        if end <= len(self.buffer):
            self.pos = end
            self.offset += size
            return True
        ahead = len(self.buffer) - self.pos
        size -= ahead
        self.offset += ahead
        self.buffer, self.pos = b"", 0
        while size > 0:
            piece = self._next_piece()
            if not piece:
                return False
            if len(piece) <= size:
                size -= len(piece)
                self.offset += len(piece)
            else:
                self.buffer, self.pos = piece, size
                self.offset += size
                size = 0
        return True


_ZERO_BLOCK = bytes(512)


def _octal(field: bytes) -> Optional[int]:
    """A numeric header field: octal digits (space or NUL padded), or GNU base-256.

    The digits are ` *[0-7]{1,22} *` up to the first NUL (anything may follow it); a
    field of only spaces and NULs is 0; anything else is None."""
    if field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        return -value if field[0] & 0x40 else value
    digits = field.split(b"\0", 1)[0].strip(b" ")
    if 0 < len(digits) <= 22 and not digits.translate(None, b"01234567"):
        return int(digits, 8)
    return 0 if not field.strip(b" \0") else None


def _byte_sum(block: bytes) -> int:
    """The sum of a header's 512 bytes, as its checksum counts them. Adler-32's low half
    is 1 + the sum of the bytes modulo 65521 (RFC 1950 section 8.2); 256 bytes sum to at
    most 65,280, so each half's is exact: one C call each instead of a Python sum."""
    return (zlib.adler32(block[:256]) & 0xFFFF) + (zlib.adler32(block[256:]) & 0xFFFF) - 2


def _pax_records(data: bytes) -> Dict[str, str]:
    """`LENGTH key=value\n` records (POSIX pax); a damaged record ends the list."""
    records: Dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos, pos + 20)
        if space < 0 or not data[pos:space].isdigit():
            break
        length = int(data[pos:space])
        record = data[space + 1:pos + length]
        if length <= 0 or not record.endswith(b"\n") or b"=" not in record:
            break
        key, value = record[:-1].split(b"=", 1)
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        pos += length
    return records


def _tar_files(path: str, progress: Optional[Callable[[int, int, str], None]] = None):
    """(member path, data) of each regular file the audit keeps (every Kconfig file and
    makefile, the C files that mention VMCOREINFO), in archive order, from one pass over
    the tarball; data is at most MAX_FILE_BYTES, the rest skipped."""
    pieces, raw = _decompressed(path)
    size_on_disk = os.fstat(raw.fileno()).st_size
    reader = _Reader(pieces, None if progress is None else
                     lambda: progress(raw.tell(), size_on_disk, "reading the tarball"))
    long_name: Optional[str] = None
    pax: Dict[str, str] = {}
    members = 0
    with raw:
        while True:
            where = reader.offset
            start = reader.pos
            if start + BLOCK <= len(reader.buffer):  # reader.read(BLOCK) without the call: once per member
                header = reader.buffer[start:start + BLOCK]
                reader.pos = start + BLOCK
                reader.offset = where + BLOCK
            else:
                header = reader.read(BLOCK)
            if len(header) < BLOCK:
                if members == 0:
                    raise TreeError(f"{path}: not a directory or a readable tarball")
                if header:
                    raise TreeError(f"{path}: damaged tarball: cut short at byte {where} of its tar stream")
                return  # no end-of-archive blocks, as some writers leave it
            if header == _ZERO_BLOCK:
                return  # the end-of-archive block
            checksum_field = header[148:156]
            checksum = _octal(checksum_field)  # over the header, its own field as 8 spaces
            if checksum is None or checksum != _byte_sum(header) - sum(checksum_field) + 256:
                raise TreeError(f"{path}: " + ("not a directory or a readable tarball" if members == 0 else
                                              f"damaged tarball: bad header checksum at byte {where} of its tar stream"))
            members += 1
            size = _octal(header[124:136])
            if "size" in pax:
                text = pax["size"]
                size = int(text) if text.isascii() and text.isdigit() and len(text) <= 20 else None
            if size is None or size < 0:
                raise TreeError(f"{path}: damaged tarball: bad member size at byte {where} of its tar stream")
            kind = header[156:157]
            padded = -(-size // BLOCK) * BLOCK
            if kind in (b"L", b"x", b"g", b"K"):
                if size > MAX_META_BYTES:
                    raise TreeError(f"{path}: damaged tarball: a {size}-byte tar extended header at byte {where} "
                                    f"(vmci reads at most {MAX_META_BYTES})")
                data = reader.read(padded)[:size]
                if len(data) < size:
                    raise TreeError(f"{path}: damaged tarball: cut short at byte {reader.offset} of its tar stream")
                if kind == b"L":
                    long_name = data.split(b"\0", 1)[0].decode("utf-8", "replace")
                elif kind == b"x":
                    pax = _pax_records(data)
                continue
            name = long_name if long_name is not None else None
            if "path" in pax:
                name = pax["path"]
            if name is None:
                header_name = header[:100].split(b"\0", 1)[0]
                if header[257:263] == b"ustar\0" and header[345:346] != b"\0":
                    header_name = header[345:500].split(b"\0", 1)[0] + b"/" + header_name
                name = header_name.decode("utf-8", "replace")
            long_name = None
            if pax:
                pax = {}
            if kind in _NO_DATA:
                continue
            while name.startswith("./"):
                name = name[2:]
            what = wanted(name) if kind in _REGULAR else None
            member: Optional[bytes] = None  # the member's bytes, when the audit keeps it
            if what is not None:
                keep = min(size, MAX_FILE_BYTES)
                if what == "c":  # kept only when it mentions VMCOREINFO
                    member, got = reader.read_mentioning(keep, MARKERS)
                else:
                    member = reader.read(keep)
                    got = len(member)
                complete = got == keep and reader.skip(padded - keep)
            else:
                complete = reader.skip(padded)
            if not complete:
                raise TreeError(f"{path}: damaged tarball: cut short at byte {reader.offset} of its tar stream")
            if member is not None:
                yield name, member


def _members(path: str, progress: Optional[Callable[[int, int, str], None]] = None) -> Dict[str, bytes]:
    """relative path -> bytes of every file of a kernel tarball the audit needs.

    Paths are relative to the tree's top: the tarball's own top directory
    (linux-source-6.1/) is dropped when there is one."""
    found: Dict[str, bytes] = {}
    kept = 0
    try:
        for name, data in _tar_files(path, progress):
            kept += len(data) - len(found.get(name, b""))
            found[name] = data
            if len(found) > MAX_KEPT_FILES or kept > MAX_KEPT_BYTES:
                raise TreeError(f"{path}: more than {MAX_KEPT_FILES} Kconfig, Makefile and VMCOREINFO C files or "
                                f"{MAX_KEPT_BYTES >> 20} MiB of them; not a kernel source tarball")
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as error:
        raise TreeError(f"{path}: damaged tarball ({getattr(error, 'strerror', None) or error})")
    if "Makefile" in found:
        return found
    tops = {name.split("/", 1)[0] for name in found if "/" in name}
    top = next((t for t in sorted(tops) if f"{t}/Makefile" in found), None)
    if top is None:
        return found
    return {name[len(top) + 1:]: data for name, data in found.items() if name.startswith(top + "/")}


class TarballTree(KernelTree):
    def __init__(self, path: str, progress: Optional[Callable[[int, int, str], None]] = None):
        self.files: Dict[str, str] = {relpath: data.decode("utf-8", "replace")
                                      for relpath, data in _members(path, progress).items()}
        top = self.files.get("Makefile")
        version = version_of(top, f"{path}: Makefile") if top else None
        if version is None:
            raise TreeError(f"{path}: no top Makefile with VERSION/PATCHLEVEL in the tarball; not a kernel source tarball")
        super().__init__(path, version, sorted(p for p in self.files if wanted(p) == "c"),
                         sorted(p for p in self.files if wanted(p) == "kconfig"))

    def read(self, relpath: str) -> Optional[str]:
        return self.files.get(relpath)


def extract_audit_files(tarball: str, destination: str) -> int:
    """Write the files `audit source` needs from a kernel tarball under destination;
    return how many. The result is a DirectoryTree with the same audit as the tarball."""
    count = 0
    for relpath, data in _members(tarball).items():
        target = os.path.join(destination, *relpath.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(data)
        count += 1
    return count

