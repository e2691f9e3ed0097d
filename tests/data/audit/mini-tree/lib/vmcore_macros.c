/* Macro definitions are directives, never emissions. */
#define VMCOREINFO_SYMBOL(name) \
	vmcoreinfo_append_str("SYMBOL(%s)=%lx\n", #name, (unsigned long)&name)
static int vmcoreinfo_size = VMCOREINFO_BYTES;
