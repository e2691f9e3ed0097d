/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A small program with kernel-shaped data for the hardening tests: the types,
 * variables, enumerators and banner that tests/hardening/data/specs resolve
 * against. Built with gcc -g (DWARF 5, as Debian's GCC 12 writes it) into an
 * executable, so the vmlinux reader sees a linked image, a symbol table and a
 * build ID. Damaged copies of it are what the reader-side fuzz feeds vmci.
 */
#include <stddef.h>

typedef struct { int counter; } atomic_t;
typedef struct { long counter; } atomic_long_t;
struct list_head { struct list_head *next, *prev; };

enum pageflags { PG_locked, PG_referenced, PG_uptodate, PG_dirty, PG_lru, PG_head = 16,
                 PG_private = 13, __NR_PAGEFLAGS = 24 };
enum zone_stat_item { NR_FREE_PAGES, NR_ZONE_LRU_BASE, NR_VM_ZONE_STAT_ITEMS = 12 };
enum node_states { N_POSSIBLE, N_ONLINE, N_NORMAL_MEMORY, N_MEMORY, NR_NODE_STATES };
enum { MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_TYPES = 6 };

struct page {
	unsigned long flags;
	union {
		struct {
			struct list_head lru;
			void *mapping;
			unsigned long index;
			unsigned long private;
		};
		struct {
			unsigned long compound_head;
		};
	};
	union {
		atomic_t _mapcount;
		unsigned int page_type;
	};
	atomic_t _refcount;
	unsigned long memcg_data;
};

struct free_area {
	struct list_head free_list[MIGRATE_TYPES];
	unsigned long nr_free;
};

struct zone {
	unsigned long _watermark[4];
	struct free_area free_area[11];
	unsigned long spanned_pages;
	atomic_long_t vm_stat[NR_VM_ZONE_STAT_ITEMS];
	const char *name;
};

typedef struct pglist_data {
	struct zone node_zones[4];
	int nr_zones;
	unsigned long node_start_pfn;
	unsigned long node_spanned_pages;
	int node_id;
} pg_data_t;

struct mem_section { unsigned long section_mem_map; unsigned long *usage; };
typedef struct { unsigned long bits[16]; } nodemask_t;

struct new_utsname {
	char sysname[65], nodename[65], release[65], version[65], machine[65], domainname[65];
};
struct uts_namespace { struct new_utsname name; void *user_ns; int ns_count; };

const char linux_banner[] =
	"Linux version 6.1.0-99-fuzz (vmci@example.invalid) (gcc-12 (Debian 12.2.0-14) 12.2.0, "
	"GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.123-1 (2025-01-01)\n";
struct uts_namespace init_uts_ns = {
	.name = { .sysname = "Linux", .release = "6.1.0-99-fuzz", .machine = "x86_64" },
	.ns_count = 2,
};
nodemask_t node_states[NR_NODE_STATES] = { [N_ONLINE] = { { 1 } } };
struct mem_section **mem_section;
struct page *mem_map;
pg_data_t contig_page_data = { .nr_zones = 3, .node_spanned_pages = 0x40000 };
unsigned long swapper_pg_dir[512] __attribute__((aligned(4096)));
unsigned long phys_base = 0x1000000;
unsigned long long sme_me_mask;
int pgtable_levels = 4;
enum pageflags last_pageflag = __NR_PAGEFLAGS;
enum node_states last_node_state = NR_NODE_STATES;

int main(void)
{
	/* keep every object alive */
	return (int)(long)&init_uts_ns + (int)(long)&node_states + (int)(long)&mem_section +
	       (int)(long)&mem_map + contig_page_data.nr_zones + (int)(long)&swapper_pg_dir +
	       (int)phys_base + (int)sme_me_mask + pgtable_levels + linux_banner[0] +
	       last_pageflag + last_node_state;
}
