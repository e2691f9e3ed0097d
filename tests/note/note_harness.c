// SPDX-License-Identifier: GPL-2.0-only
/*
 * Drives the generated C note builder (generated/c/vmcoreinfo_note.c) from user space:
 *   note_harness TEXT little|big OUT
 * writes the VMCOREINFO note record for TEXT and the terminating empty note to OUT.
 */
#include <stdio.h>
#include <stdlib.h>

#include "vmcoreinfo_note.c"

int main(int argc, char **argv)
{
	static unsigned char text[1 << 20];
	Elf_Word *buf;
	size_t len, size;
	FILE *in, *out;

	if (argc != 4)
		return 2;
	in = fopen(argv[1], "rb");
	if (!in)
		return 2;
	len = fread(text, 1, sizeof(text), in);
	fclose(in);
	size = vmcoreinfo_note_size(len);
	buf = malloc(size);
	if (!buf)
		return 2;
	vmcoreinfo_note(buf, text, len, argv[2][0] == 'b');
	out = fopen(argv[3], "wb");
	if (!out || fwrite(buf, 1, size, out) != size)
		return 2;
	fclose(out);
	free(buf);
	return 0;
}
