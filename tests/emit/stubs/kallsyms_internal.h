/* SPDX-License-Identifier: GPL-2.0-only */
/* kernel/kallsyms_internal.h: the kallsyms tables, declared only here, as in the kernel. */
extern const unsigned long kallsyms_addresses[];
extern const int kallsyms_offsets[];
extern const unsigned char kallsyms_names[];
extern const unsigned int kallsyms_num_syms;
extern const unsigned long kallsyms_relative_base;
extern const char kallsyms_token_table[];
extern const unsigned short kallsyms_token_index[];
