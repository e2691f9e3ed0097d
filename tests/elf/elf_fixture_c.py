"""Small C programs compiled at test time, and what the compiler says about
them.

`EXPECT` pairs a label with a C constant expression; the expressions are
compiled into the array `expect[]` of the fixture, so the compiler's own
sizeof/offsetof values can be read back from the image (this works for
cross-compiled, non-runnable fixtures too).  The native fixture also prints
them with printf.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Dict, List, Optional, Tuple

A_C = r"""
#include <stddef.h>

typedef struct { long counter; } atomic_long_t;
struct list_head { struct list_head *next, *prev; };
enum color { RED, GREEN = 5, BLUE, NEG = -3 };
enum flags8 { F_A = 1, F_B = 0x80, F_C = 0xff };
enum bigu { BIG_U = 0xfffffff0u };

struct page {
    unsigned long flags;
    union {
        struct {
            struct list_head lru;
            void *mapping;
            unsigned long index;
        };
        struct {
            unsigned long compound_head;
            unsigned char compound_dtor;
            unsigned char compound_order;
        };
    };
    union {
        int _mapcount;
        unsigned int page_type;
    };
    atomic_long_t refs;
    unsigned int bf1:3, bf2:5, bf3:20;
    char name[16][4];
    const volatile int cv;
    struct page *self;
    int (*fn)(int);
    int zero[0];
    int flex[];
};

typedef struct page page_t;
typedef page_t page_alias_t;
struct self_ref { struct self_ref *next; int x; };
struct only_declared;

extern int arr[];
int use_arr(void) { return arr[1]; }

struct page global_page = { .flags = 0x1234 };
struct page bf_probe = { .bf2 = 0x1f };
const char greeting[] = "hello, vmlinux";
const char *greeting_ptr = "pointer string";
long bss_var[100];
unsigned int init_value = 0xdeadbeef;
unsigned short short_value = 0xbeef;
struct self_ref self_ref_var;
struct only_declared *od_ptr;
enum color color_var = BLUE;
page_alias_t *alias_ptr;
static int static_counter = 42;
int *static_counter_ptr = &static_counter;

#define OFF(t, m) ((unsigned long long)offsetof(t, m))
const unsigned long long expect[] = {
@EXPECT@
};
"""

B_C = r"""
int arr[7] = { 1, 2, 3 };
int matrix[3][5];
char buf256[256];               /* upper bound 255: data1 0xff */
unsigned char buf64k[65536];    /* upper bound 65535: data2 0xffff */
/* like kernel/configs.c with CONFIG_IKCONFIG */
const char kernel_config_data[] __attribute__((used)) = "IKCFG_ST@KCFG@IKCFG_ED";
"""

CONFIG_TEXT = "CONFIG_FOO=y\n# CONFIG_BAR is not set\nCONFIG_NODES_SHIFT=10\n"


def _c_bytes(data: bytes) -> str:
    return "".join(f"\\x{b:02x}\"\"" for b in data)


MAIN_C = r"""
#include <stdio.h>
#include <stddef.h>
extern const unsigned long long expect[];
int main(void)
{
    for (unsigned i = 0; i < @N@; i++)
        printf("%llu\n", expect[i]);
    return 0;
}
"""

EXPECT: List[Tuple[str, str]] = [
    ("sizeof struct page", "sizeof(struct page)"),
    ("struct page.flags", "OFF(struct page, flags)"),
    ("struct page.lru", "OFF(struct page, lru)"),
    ("struct page.lru.prev", "OFF(struct page, lru.prev)"),
    ("struct page.mapping", "OFF(struct page, mapping)"),
    ("struct page.index", "OFF(struct page, index)"),
    ("struct page.compound_head", "OFF(struct page, compound_head)"),
    ("struct page.compound_dtor", "OFF(struct page, compound_dtor)"),
    ("struct page.compound_order", "OFF(struct page, compound_order)"),
    ("struct page._mapcount", "OFF(struct page, _mapcount)"),
    ("struct page.page_type", "OFF(struct page, page_type)"),
    ("struct page.refs", "OFF(struct page, refs)"),
    ("struct page.refs.counter", "OFF(struct page, refs.counter)"),
    ("struct page.name", "OFF(struct page, name)"),
    ("struct page.cv", "OFF(struct page, cv)"),
    ("struct page.self", "OFF(struct page, self)"),
    ("struct page.fn", "OFF(struct page, fn)"),
    ("struct page.zero", "OFF(struct page, zero)"),
    ("struct page.flex", "OFF(struct page, flex)"),
    ("sizeof name", "sizeof(((struct page *)0)->name)"),
    ("sizeof atomic_long_t", "sizeof(atomic_long_t)"),
    ("sizeof struct list_head", "sizeof(struct list_head)"),
    ("struct list_head.prev", "OFF(struct list_head, prev)"),
    ("sizeof long", "sizeof(long)"),
    ("sizeof unsigned long", "sizeof(unsigned long)"),
    ("sizeof void *", "sizeof(void *)"),
    ("sizeof enum color", "sizeof(enum color)"),
    ("sizeof struct self_ref", "sizeof(struct self_ref)"),
    ("struct self_ref.x", "OFF(struct self_ref, x)"),
    ("RED", "RED"), ("GREEN", "GREEN"), ("BLUE", "BLUE"),
    ("NEG", "(unsigned long long)(long long)NEG"),
    ("F_B", "F_B"), ("F_C", "F_C"), ("BIG_U", "BIG_U"),
    ("sizeof int", "sizeof(int)"), ("sizeof char", "sizeof(char)"),
    ("sizeof short", "sizeof(short)"), ("sizeof long long", "sizeof(long long)"),
]

# (name, compiler, extra flags, runnable)
TARGETS = {
    "native": ("gcc", [], True),
    "aarch64": ("aarch64-linux-gnu-gcc", ["-ffreestanding", "-nostdlib", "-static", "-Wl,-e,0"], False),
    "s390x": ("s390x-linux-gnu-gcc", ["-ffreestanding", "-nostdlib", "-static", "-Wl,-e,0"], False),
    "armhf": ("arm-linux-gnueabihf-gcc", ["-ffreestanding", "-nostdlib", "-static", "-Wl,-e,0"], False),
    "i686": ("i686-linux-gnu-gcc", ["-ffreestanding", "-nostdlib", "-static", "-Wl,-e,0"], False),
}


def have(target: str) -> bool:
    return shutil.which(TARGETS[target][0]) is not None


def build(workdir: str, target: str = "native", dwarf: str = "-gdwarf-5",
          extra: Optional[List[str]] = None) -> str:
    """Compile and link the fixture; returns the executable's path."""
    cc, flags, runnable = TARGETS[target]
    os.makedirs(workdir, exist_ok=True)
    exp = ",\n".join(f"    {expr}" for _l, expr in EXPECT)
    with open(os.path.join(workdir, "a.c"), "w") as f:
        f.write(A_C.replace("@EXPECT@", exp))
    import gzip
    with open(os.path.join(workdir, "b.c"), "w") as f:
        f.write(B_C.replace("@KCFG@", _c_bytes(gzip.compress(CONFIG_TEXT.encode(), mtime=0))))
    srcs = ["a.c", "b.c"]
    if runnable:
        with open(os.path.join(workdir, "main.c"), "w") as f:
            f.write(MAIN_C.replace("@N@", str(len(EXPECT))))
        srcs.append("main.c")
    out = os.path.join(workdir, f"fixture-{target}{dwarf}")
    cmd = [cc, "-O0", dwarf, "-no-pie", "-fno-pie", "-Wl,--build-id", *flags, *(extra or []),
           "-o", out, *srcs]
    subprocess.run(cmd, cwd=workdir, check=True, capture_output=True, text=True)
    return out


def printed(exe: str) -> Dict[str, int]:
    out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout.split()
    return {label: int(v) for (label, _e), v in zip(EXPECT, out)}


def from_image(vm) -> Dict[str, int]:
    """The expect[] array as stored in the image (8-byte elements)."""
    addr = vm.symbol_address("expect")
    assert addr is not None
    return {label: vm.read_uint(addr + 8 * i, 8) for i, (label, _e) in enumerate(EXPECT)}
