/* SPDX-License-Identifier: GPL-2.0-only */
/* kernel/kexec_internal.h: nothing the generated VMCOREINFO code uses. */
