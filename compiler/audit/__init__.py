"""The audit stage: who emits what, where, under which config, and whether the tools that
read dumps get what they need.

    vmci audit source KERNEL_TREE     the specs against a kernel source tree (drift)
    vmci audit note FILE --vmlinux V  a captured note against what vmci resolves
    vmci audit consumers              keys each dump tool needs that a kernel does not emit
    vmci coverage                     architectures x versions x config variants
    vmci diff A B                     two kernels' VMCOREINFO, entry by entry

Modules: csource/kbuild/kconfig_rules/logic/tree/source (source extraction and drift),
noteaudit (a captured note against the resolved lines), consumers, coverage, diff; the
commands are vmci.cli.audit's.
"""

