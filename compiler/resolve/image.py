"""What resolving needs to know of an image before the specs meet it: its target (from
the ELF header), its kernel version (--kernel-version, else the banner) and its config
(--config, else the image's IKCONFIG). `vmci resolve` and the audits that resolve an
image (audit/image.py: `audit note`, `diff`, the API) ask these questions with the same
words; each answer that makes the image unusable is an ImageError, one line naming the
file.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional

from vmci.errors import UnusableInput
from vmci.lang.kconfig import ConfigError, KernelConfig
from vmci.select import SelectionError, Target, find_target_by_elf
from vmci.spec.model import SpecSet, Version, kernel_version_from_banner, parse_kernel_version


class ImageError(UnusableInput):
    """A vmlinux, config or version that cannot be used; str() is one line."""


class ImageFacts(NamedTuple):
    target: Target
    version: Version
    config: KernelConfig


def parse_version_argument(text: str) -> Version:
    """--kernel-version: a version or a release such as 6.1.0-57-cloud-amd64."""
    try:
        return parse_kernel_version(text)
    except ValueError as error:
        raise ImageError(str(error))


def load_config(path: Optional[str]) -> Optional[KernelConfig]:
    """--config: the config in a file (`-`: standard input), plain or gzip; None without one."""
    if path is None:
        return None
    try:
        return KernelConfig.from_file(path)
    except ConfigError as error:
        raise ImageError(str(error))


def image_facts(specs: SpecSet, vm: Any, path: str, kernel_version: Optional[str] = None,
                config_path: Optional[str] = None) -> ImageFacts:
    """The target, version and config of the open image `vm` (vmci.elf's Vmlinux) at
    `path`; ImageError when the image cannot be resolved."""
    if not vm.has_dwarf:
        raise ImageError(f"{path}: no DWARF (.debug_info): this looks like a stripped or boot image; "
                         f"use the vmlinux with debug info (Debian: linux-image-RELEASE-dbg)")
    try:
        target = find_target_by_elf(specs, vm.e_machine, vm.elf_class, vm.endianness)
    except SelectionError as error:
        raise ImageError(f"{path}: {error}")
    if kernel_version:
        version = parse_version_argument(kernel_version)
    else:
        banner_version = kernel_version_from_banner(vm.linux_banner())
        if banner_version is None and vm.contents_stripped:
            raise ImageError(f"{path}: a debug-only image (its sections keep no code or data, as objcopy "
                             f"--only-keep-debug leaves them): the kernel version is not in it; pass --kernel-version")
        if banner_version is None:
            raise ImageError(f"{path}: no linux_banner to read the kernel version from; pass --kernel-version")
        version = banner_version
    config = load_config(config_path)
    if config is None:
        embedded = vm.embedded_config()
        if embedded is None:
            raise ImageError(f"{path}: the image embeds no config (CONFIG_IKCONFIG); pass --config PATH "
                             f"(the kernel's .config, e.g. /boot/config-RELEASE)")
        try:
            config = KernelConfig.from_text(embedded, f"{path}:IKCONFIG")
        except ConfigError as error:
            raise ImageError(str(error))
    return ImageFacts(target, version, config)
