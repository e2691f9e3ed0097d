// SPDX-License-Identifier: GPL-2.0-only
#include <linux/vmcore_info.h>

#ifdef CONFIG_PRINTK
static const char *greeting = "VMCOREINFO_SYMBOL(not_code) in a string";

#ifdef CONFIG_VMCORE_INFO
void log_buf_vmcoreinfo_setup(void)
{
	VMCOREINFO_SYMBOL(prb);
	VMCOREINFO_STRUCT_SIZE(printk_ringbuffer);
}
#endif
#endif /* CONFIG_PRINTK */
