// SPDX-License-Identifier: GPL-2.0-only
/* Fixture: the common list, with the shapes the real one has. */
#include <linux/vmcore_info.h>

/* vmcoreinfo_append_str() itself is a definition, not an emission */
void vmcoreinfo_append_str(const char *fmt, ...)
{
}

void __weak arch_crash_save_vmcoreinfo(void)
{}

static int __init crash_save_vmcoreinfo_init(void)
{
	VMCOREINFO_OSRELEASE(init_uts_ns.name.release);
	VMCOREINFO_PAGESIZE(PAGE_SIZE);
	// VMCOREINFO_SYMBOL(commented_out);
	VMCOREINFO_SYMBOL(init_uts_ns);
#ifndef CONFIG_NUMA
	VMCOREINFO_SYMBOL(mem_map);
#endif
#if defined(CONFIG_SPARSEMEM)
	VMCOREINFO_SYMBOL_ARRAY(mem_section);
#elif defined CONFIG_FLATMEM
	VMCOREINFO_OFFSET(pglist_data, node_mem_map);
#else
	VMCOREINFO_NUMBER(NO_MEMORY_MODEL);
#endif
	vmcoreinfo_append_str("NUMBER(VMALLOC_START)=0x%lx\n",
			      (unsigned long) VMALLOC_START);
	log_buf_vmcoreinfo_setup();
#define PAGE_BUDDY_MAPCOUNT_VALUE	(~PG_buddy)
	VMCOREINFO_NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE);
	arch_crash_save_vmcoreinfo();
	return 0;
}

subsys_initcall(crash_save_vmcoreinfo_init);
