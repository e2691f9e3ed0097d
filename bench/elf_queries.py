"""The query set used by bench/elf_bench.py and the real-kernel tests.

About what a VMCOREINFO compiler asks of one vmlinux: struct sizes and
member offsets, enumerators, variable types and symbol addresses.  Some
entries do not exist on every kernel (e.g. HUGETLB_PAGE_DTOR is gone in
6.12); answers are compared with drgn, absent ones included.
"""

# type -> member paths
TYPE_MEMBERS = {
    "struct page": ["flags", "_refcount", "mapping", "lru", "lru.next", "index", "private",
                    "_mapcount", "compound_head", "compound_dtor", "compound_order"],
    "struct pglist_data": ["node_zones", "nr_zones", "node_start_pfn", "node_present_pages",
                           "node_spanned_pages", "node_id"],
    "struct zone": ["free_area", "vm_stat", "spanned_pages", "name"],
    "struct free_area": ["free_list", "nr_free"],
    "struct list_head": ["next", "prev"],
    "struct mem_section": ["section_mem_map", "usage"],
    "struct uts_namespace": ["name", "name.release", "name.version", "name.machine"],
    "struct vmap_area": ["va_start", "va_end", "list"],
    "struct vm_struct": ["next", "addr", "size"],
    "struct printk_ringbuffer": ["desc_ring", "text_data_ring", "fail"],
    "struct prb_desc_ring": ["count_bits", "descs", "infos", "head_id", "tail_id"],
    "struct prb_desc": ["state_var", "text_blk_lpos"],
    "struct prb_data_blk_lpos": ["begin", "next"],
    "struct printk_info": ["seq", "ts_nsec", "text_len", "caller_id", "dev_info"],
    "struct dev_printk_info": ["subsystem", "device"],
    "struct prb_data_ring": ["size_bits", "data", "head_lpos", "tail_lpos"],
    "struct latched_seq": ["latch", "val"],
    "atomic_long_t": ["counter"],
    "nodemask_t": ["bits"],
    "struct hstate": ["order"],
}

# types asked for their size only
TYPE_SIZES = ["unsigned long", "int", "char", "long", "enum zone_type", "struct task_struct"]

ENUMERATORS = [
    "NR_FREE_PAGES", "PG_lru", "PG_private", "PG_swapcache", "PG_swapbacked", "PG_slab",
    "PG_head", "PG_hwpoison", "N_ONLINE", "HUGETLB_PAGE_DTOR", "MIGRATE_TYPES", "PG_reserved",
    "ZONE_NORMAL", "MAX_NR_ZONES", "N_MEMORY", "NR_FILE_PAGES",
]

VARIABLES = ["node_data", "mem_section", "node_states", "init_uts_ns", "prb", "clear_seq",
             "vmap_area_list"]

SYMBOLS = [
    "init_uts_ns", "node_online_map", "swapper_pg_dir", "_stext", "_text", "_end", "_etext",
    "vmap_area_list", "mem_map", "mem_section", "high_memory", "init_top_pgt", "vmemmap_base",
    "page_offset_base", "vmalloc_base", "phys_base", "node_data", "node_states", "prb",
    "printk_rb_static", "printk_rb_dynamic", "clear_seq", "log_buf", "log_buf_len",
    "vmcoreinfo_data", "vmcoreinfo_size", "vmcoreinfo_note", "init_task", "linux_banner",
    "jiffies", "jiffies_64", "max_pfn", "min_low_pfn", "max_low_pfn", "_totalram_pages",
    "contig_page_data", "kimage_voffset", "memstart_addr", "vabits_actual",
    "__pgtable_l5_enabled", "sme_me_mask", "no_such_symbol_anywhere",
]


def count() -> int:
    return (len(TYPE_MEMBERS) + sum(len(v) for v in TYPE_MEMBERS.values()) + len(TYPE_SIZES)
            + len(ENUMERATORS) + len(VARIABLES) + len(SYMBOLS))


def run(vm):
    """Ask every query of the set; returns a JSON-able dict of answers (None
    or {"error": reason} for absent things)."""
    from vmci.elf import LookupFailure

    out = {"types": {}, "enumerators": {}, "variables": {}, "symbols": {}}
    for tname, members in TYPE_MEMBERS.items():
        try:
            t = vm.find_type(tname)
        except LookupFailure as e:
            out["types"][tname] = {"error": e.reason}
            continue
        entry = {"size": t.resolved().size, "members": {}}
        for m in members:
            try:
                off, mt = t.member(m)
                entry["members"][m] = [off, mt.resolved().size]
            except LookupFailure as e:
                entry["members"][m] = {"error": e.reason}
        out["types"][tname] = entry
    for tname in TYPE_SIZES:
        try:
            out["types"][tname] = {"size": vm.find_type(tname).resolved().size, "members": {}}
        except LookupFailure as e:
            out["types"][tname] = {"error": e.reason}
    for e in ENUMERATORS:
        try:
            out["enumerators"][e] = vm.enumerator(e)
        except LookupFailure as x:
            out["enumerators"][e] = {"error": x.reason}
    for v in VARIABLES:
        try:
            t = vm.variable_type(v).resolved()
            out["variables"][v] = {"size": t.size, "length": t.length if t.kind == "array" else None}
        except LookupFailure as x:
            out["variables"][v] = {"error": x.reason}
    for s in SYMBOLS:
        out["symbols"][s] = vm.symbol_address(s)
    return out
