"""The searches that stand in for a plain one: each must answer exactly what the plain
one answers (vmlinux._find for bytes.find over .debug_info; ElfFile.symbol for the
symbol table read whole)."""
import random

from vmci.elf.elffile import ElfFile
from vmci.elf.vmlinux import _find


def test_find_answers_as_bytes_find():
    """Buffers and needles rich in the bytes _find searches around (0x00, 0xff), at
    every kind of start and end, the needle inside the range, across its ends, or
    longer than the range."""
    rnd = random.Random(15)
    alphabet = bytes([0, 0, 0, 0xFF, 0xFF, 1, 2, 3, 0x82, 0xA1])
    for _ in range(5000):
        buf = bytes(rnd.choice(alphabet) for _ in range(rnd.randint(0, 200)))
        if buf and rnd.random() < 0.6:
            at = rnd.randrange(len(buf))
            needle = buf[at:at + rnd.randint(1, 10)]
        else:
            needle = bytes(rnd.choice(alphabet) for _ in range(rnd.randint(1, 10)))
        start = rnd.randint(0, len(buf))
        end = rnd.randint(start, len(buf) + 3)
        assert _find(buf, needle, start, end) == buf.find(needle, start, end), (buf, needle, start, end)


def test_symbol_answers_as_the_whole_table(native_exe):
    """Every name of the fixture's table, names that are the tail of another (linkers
    merge string tails), and names it lacks: the same answer looked up alone."""
    whole = ElfFile(native_exe).symbols()
    alone = ElfFile(native_exe)
    names = sorted(whole)
    asked = names + [n[1:] for n in names] + [n[:-1] for n in names] + ["no_such_symbol", "\u20ac", ""]
    assert len(whole) > 10
    for name in asked:
        assert alone.symbol(name) == whole.get(name), name
