/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A stand-in for the kernel headers, for `gcc -fsyntax-only` of the generated C of the
 * common list, printk's hook, x86_64, arm64 and riscv (tests/emit/test_c_compiles.py). Every
 * header a generated file includes resolves to this one. It declares what those files
 * use with the kernel's types, and vmcoreinfo_append_str() with the kernel's
 * __printf(1, 2), so gcc checks each format against its argument. The kallsyms symbols
 * are in kallsyms_internal.h only, as in the kernel: a file that does not include it
 * does not compile.
 */
#ifndef VMCI_STUB_H
#define VMCI_STUB_H

#include <stddef.h>
#include <stdarg.h>
#include <string.h>

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef u32 Elf_Word;
typedef u64 phys_addr_t;
typedef long long time64_t;
typedef struct { long counter; } atomic_long_t;
typedef struct { unsigned long bits[16]; } nodemask_t;
typedef unsigned int gfp_t;

struct elf_note {
	Elf_Word n_namesz;
	Elf_Word n_descsz;
	Elf_Word n_type;
};

#define __init
#define __weak			__attribute__((weak))
#define __printf(a, b)		__attribute__((format(printf, a, b)))
#define subsys_initcall(fn)	int (*__initcall_##fn)(void) = fn
#define EXPORT_SYMBOL(sym)	extern int __export_##sym
#define DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))
#define min(a, b)		((a) < (b) ? (a) : (b))
#define WARN_ONCE(cond, ...)	((void)(cond))
#define pr_warn(...)		((void)0)
#define NULL_PAGE		0
#define GFP_KERNEL		0x10u
#define __GFP_ZERO		0x100u
#define ENOMEM			12
#define PAGE_SHIFT		12
#define PAGE_SIZE		(1UL << PAGE_SHIFT)
#define __pa(x)			((phys_addr_t)(unsigned long)(x))

int vscnprintf(char *buf, size_t size, const char *fmt, va_list args);
unsigned long get_zeroed_page(gfp_t gfp);
void free_page(unsigned long addr);
void *alloc_pages_exact(size_t size, gfp_t gfp);
time64_t ktime_get_real_seconds(void);

/* include/linux/vmcore_info.h (6.12) */
#define CRASH_CORE_NOTE_HEAD_BYTES	ALIGN(sizeof(struct elf_note), 4)
#define ALIGN(x, a)			(((x) + (a) - 1) & ~((a) - 1))
#define VMCOREINFO_BYTES		PAGE_SIZE
#define VMCOREINFO_NOTE_NAME		"VMCOREINFO"
#define VMCOREINFO_NOTE_NAME_BYTES	ALIGN(sizeof(VMCOREINFO_NOTE_NAME), 4)
#define VMCOREINFO_NOTE_SIZE		((CRASH_CORE_NOTE_HEAD_BYTES * 2) + VMCOREINFO_NOTE_NAME_BYTES + VMCOREINFO_BYTES)

void crash_update_vmcoreinfo_safecopy(void *ptr);
void crash_save_vmcoreinfo(void);
void arch_crash_save_vmcoreinfo(void);
__printf(1, 2) void vmcoreinfo_append_str(const char *fmt, ...);
phys_addr_t paddr_vmcoreinfo_note(void);
void log_buf_vmcoreinfo_setup(void);
extern unsigned char *vmcoreinfo_data;
extern size_t vmcoreinfo_size;
extern u32 *vmcoreinfo_note;
Elf_Word *append_elf_note(Elf_Word *buf, char *name, unsigned int type, void *data, size_t data_len);
void final_note(Elf_Word *buf);

extern const unsigned char vmlinux_build_id[20];

#define VMCOREINFO_OSRELEASE(value) \
	vmcoreinfo_append_str("OSRELEASE=%s\n", value)
/* 5.14 and later: VMCOREINFO_BUILD_ID() formats vmlinux_build_id; 5.10 to 5.13 passed
 * the hex string add_build_id_vmcoreinfo() had found: VMCOREINFO_BUILD_ID(value). */
#define VMCOREINFO_BUILD_ID(...) \
	__VA_OPT__(vmcoreinfo_append_str("BUILD-ID=%s\n", __VA_ARGS__); if (0)) \
	({ _Static_assert(sizeof(vmlinux_build_id) == 20, "build id"); \
	   vmcoreinfo_append_str("BUILD-ID=%20phN\n", vmlinux_build_id); })
#define VMCOREINFO_PAGESIZE(value) \
	vmcoreinfo_append_str("PAGESIZE=%ld\n", value)
#define VMCOREINFO_SYMBOL(name) \
	vmcoreinfo_append_str("SYMBOL(%s)=%lx\n", #name, (unsigned long)&name)
#define VMCOREINFO_SYMBOL_ARRAY(name) \
	vmcoreinfo_append_str("SYMBOL(%s)=%lx\n", #name, (unsigned long)name)
#define VMCOREINFO_SIZE(name) \
	vmcoreinfo_append_str("SIZE(%s)=%lu\n", #name, (unsigned long)sizeof(name))
#define VMCOREINFO_STRUCT_SIZE(name) \
	vmcoreinfo_append_str("SIZE(%s)=%lu\n", #name, (unsigned long)sizeof(struct name))
#define VMCOREINFO_OFFSET(name, field) \
	vmcoreinfo_append_str("OFFSET(%s.%s)=%lu\n", #name, #field, (unsigned long)offsetof(struct name, field))
#define VMCOREINFO_TYPE_OFFSET(name, field) \
	vmcoreinfo_append_str("OFFSET(%s.%s)=%lu\n", #name, #field, (unsigned long)offsetof(name, field))
#define VMCOREINFO_LENGTH(name, value) \
	vmcoreinfo_append_str("LENGTH(%s)=%lu\n", #name, (unsigned long)value)
#define VMCOREINFO_NUMBER(name) \
	vmcoreinfo_append_str("NUMBER(%s)=%ld\n", #name, (long)name)
#define VMCOREINFO_CONFIG(name) \
	vmcoreinfo_append_str("CONFIG_%s=y\n", #name)

/* the common list; 5.10 to 5.13 find the build ID in the kernel's notes themselves */
extern const void __start_notes __weak;
extern const void __stop_notes __weak;
#define SHA1_DIGEST_SIZE	20
#define PTR_ALIGN(p, a)		((typeof(p))ALIGN((unsigned long)(p), (a)))
char *bin2hex(char *dst, const void *src, size_t count);
struct list_head { struct list_head *next, *prev; };
struct new_utsname { char release[65]; };
struct uts_namespace { struct new_utsname name; };
extern struct uts_namespace init_uts_ns;
extern nodemask_t node_states[4];
#define N_ONLINE		1
#define node_online_map		node_states[N_ONLINE]
extern char swapper_pg_dir[];
extern char _stext[];
extern struct list_head vmap_area_list;
extern unsigned long vmalloc_base;
#define VMALLOC_START		vmalloc_base
struct page;
extern struct page *mem_map;
struct pglist_data { struct zone *node_zones; int nr_zones; struct page *node_mem_map;
	unsigned long node_start_pfn, node_spanned_pages; int node_id; };
extern struct pglist_data contig_page_data;
extern struct page *vmemmap;
struct mem_section { unsigned long section_mem_map; };
extern struct mem_section **mem_section;
#define NR_SECTION_ROOTS	64
#define SECTION_SIZE_BITS	27
#define MAX_PHYSMEM_BITS	46
struct free_area { struct list_head free_list[6]; unsigned long nr_free; };
struct zone { struct free_area free_area[11]; atomic_long_t vm_stat[12]; unsigned long spanned_pages; };
struct page { unsigned long flags; int _refcount; void *mapping; struct list_head lru; int _mapcount;
	unsigned long private; unsigned long compound_head; unsigned char compound_dtor, compound_order;
	unsigned long compound_info; };
struct folio { unsigned char _folio_dtor, _folio_order; };
struct vmap_area { unsigned long va_start; struct list_head list; };
#define MAX_ORDER		10
#define NR_PAGE_ORDERS		(MAX_ORDER + 1)
#define MIGRATE_TYPES		6
enum { NR_FREE_PAGES };
enum pageflags { PG_lru = 4, PG_private = 13, PG_swapcache = 13, PG_swapbacked = 19, PG_slab = 9,
	PG_hwpoison = 20, PG_head = 6, PG_hugetlb = 22 };
#define PG_head_mask		(1UL << PG_head)
enum pagetype { PGTY_buddy = 0xf0, PGTY_offline, PGTY_table, PGTY_guard, PGTY_hugetlb, PGTY_slab,
	PGTY_zsmalloc, PGTY_unaccepted };
#define PG_buddy		0x00000080
#define PG_offline		0x00000100
#define HUGETLB_PAGE_DTOR	2

/* printk */
struct printk_ringbuffer { int desc_ring, text_data_ring, fail; };
struct prb_desc_ring { unsigned int count_bits; void *descs, *infos; long head_id, tail_id; };
struct prb_desc { long state_var; int text_blk_lpos; };
struct prb_data_blk_lpos { unsigned long begin, next; };
struct printk_info { u64 seq, ts_nsec; u16 text_len; u32 caller_id; int dev_info; };
struct dev_printk_info { char subsystem[16]; char device[48]; };
struct prb_data_ring { unsigned int size_bits; char *data; long head_lpos, tail_lpos; };
struct latched_seq { u64 val[2]; };
extern struct printk_ringbuffer *prb;
extern struct printk_ringbuffer printk_rb_static;
extern struct latched_seq clear_seq;

/* x86_64 */
extern unsigned long phys_base;
extern char init_top_pgt[];
extern u64 sme_me_mask;
extern struct pglist_data *node_data[];
#define MAX_NUMNODES		64
int pgtable_l5_enabled(void);
unsigned long kaslr_offset(void);
#define KERNEL_IMAGE_SIZE	(1024 * 1024 * 1024)

/* arm64 */
#define VA_BITS			48
#define MODULES_VADDR		0xffff800000000000UL
#define MODULES_END		0xffff800080000000UL
#define VMALLOC_END		0xfffffdffbfff0000UL
#define VMEMMAP_START		0xfffffdffc0000000UL
#define VMEMMAP_END		0xfffffffffe000000UL
extern u64 kimage_voffset;
extern u64 memstart_addr;
#define PHYS_OFFSET		memstart_addr
extern u64 vabits_actual;
int system_supports_address_auth(void);
#define ptrauth_kernel_pac_mask()	0xff80000000000000ULL
/* read_sysreg() takes the register's name, as the kernel's (asm/sysreg.h) */
u64 __read_sysreg_tcr_el1(void);
#define read_sysreg(r)		__read_sysreg_##r()
#define TCR_T1SZ_OFFSET		16
#define TCR_T1SZ_MASK		(0x3fUL << TCR_T1SZ_OFFSET)
#define TCR_EL1_T1SZ_SHIFT	16	/* the sysreg-generated names, from 6.18 */
#define TCR_EL1_T1SZ_MASK	(0x3fUL << TCR_EL1_T1SZ_SHIFT)

/* riscv (VA_BITS, VMALLOC_END, VMEMMAP_* and MODULES_* as arm64's above) */
extern phys_addr_t phys_ram_base;
struct kernel_mapping {
	unsigned long virt_addr, virt_offset, page_offset, va_kernel_pa_offset;
};
extern struct kernel_mapping kernel_map;
#define PAGE_OFFSET		kernel_map.page_offset
#define KERNEL_LINK_ADDR	0xffffffff80000000UL
/* csr_read() takes the CSR's number, as the kernel's (asm/csr.h) */
#define CSR_SATP		0x180
unsigned long __csr_read(int csr);
#define csr_read(csr)		__csr_read(csr)

#endif /* VMCI_STUB_H */
