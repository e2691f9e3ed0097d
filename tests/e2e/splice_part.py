"""Put a generated "VMCOREINFO part" into the kernel's file that also holds other code.

Before 6.9 the common list lives in kernel/crash_core.c beside the crashkernel= parser
(parse_crashkernel*(), between the vmcoreinfo variables and append_elf_note()), which
vmci does not describe. The generated file is the VMCOREINFO part only; this keeps the
kernel's other code where the kernel has it and takes everything else from the
generated file:

    python splice_part.py STOCK_FILE GENERATED_FILE > OUT
"""
import sys

AFTER = "static unsigned char *vmcoreinfo_data_safecopy;\n"  # the last vmcoreinfo variable
BEFORE = "Elf_Word *append_elf_note("  # the first vmcoreinfo function


def splice(stock: str, generated: str) -> str:
    other = stock[stock.index(AFTER) + len(AFTER):stock.index(BEFORE)]
    return generated[:generated.index(AFTER) + len(AFTER)] + other + generated[generated.index(BEFORE):]


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as stock, open(sys.argv[2], encoding="utf-8") as generated:
        sys.stdout.write(splice(stock.read(), generated.read()))
