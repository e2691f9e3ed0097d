"""The generated Python (generated/python/vmcoreinfo) is the specs' second implementation
of the emission program: for every architecture, version and config it emits the same
keys in the same order as `vmci list`/`vmci resolve` select, and on the real Debian
kernels it produces exactly the text `vmci resolve` produces."""
import importlib
import os
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import GOLD_RELEASES, gold, kernel_path
from generate_support import GENERATED

from vmci.lang import cexpr
from vmci.emit.generate import version_bounds
from vmci.lang.kconfig import KernelConfig
from vmci.select import SelectionError, Target, select_entries
from vmci.spec.load import load_specs

SPECS, _ = load_specs()


@pytest.fixture(scope="module")
def vmcoreinfo():
    path = os.path.join(GENERATED, "python")
    sys.path.insert(0, path)
    try:
        yield importlib.import_module("vmcoreinfo")
    finally:
        sys.path.remove(path)


class ConstantResolver:
    def build_id(self):
        return "ab" * 20

    def string(self, expression, scope):
        return "release"

    def integer(self, expression, c_type, scope):
        return 1


def selected_keys(emitter, version, config, at_crash):
    target = Target(emitter.target.arch, emitter.target.machines[0], [emitter])
    phases = ("boot", "crash") if at_crash else ("boot",)
    try:
        return [item.key for item in select_entries(SPECS, target, version, config, phases)]
    except SelectionError as error:  # list and resolve refuse it; the generated module writes nothing
        assert "builds no VMCOREINFO" in str(error), error
        return []


def generated_keys(vmcoreinfo, emitter, version, config, at_crash):
    module = vmcoreinfo.module(emitter.name.replace("-", "_"))
    return [key for key, _ in module.vmcoreinfo(ConstantResolver(), version, config.values, at_crash)]


ARCH_EMITTERS = [e for e in SPECS.emitters if e.target is not None]
VERSIONS = [v for v in version_bounds(SPECS) if any(e.versions.contains(v) for e in SPECS.general_emitters())]
CONDITIONS = [condition for emitter in SPECS.emitters
              for condition in [s.gate for s in emitter.sources] + [e.when for e in emitter.entries()]
              + [d.when for d in emitter.defines]
              + [m.config for m in (emitter.target.machines if emitter.target else [])]]
SYMBOLS = sorted({name for condition in CONDITIONS for name in condition.symbols()})


def _compared_numbers(node):
    """The numbers conditions compare CONFIG_ values with (CONFIG_PGTABLE_LEVELS == 3)."""
    if isinstance(node, cexpr.Binary) and node.op in ("==", "!=", "<", ">", "<=", ">="):
        yield node.right.value
    elif isinstance(node, cexpr.Binary):
        yield from _compared_numbers(node.left)
        yield from _compared_numbers(node.right)
    elif isinstance(node, cexpr.Unary):
        yield from _compared_numbers(node.operand)


NUMBERS = sorted({str(n + delta) for c in CONDITIONS if c.node is not None
                  for n in _compared_numbers(c.node) for delta in (-1, 0, 1)})


@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_same_keys_as_select_for_every_emitter_and_version_under_real_configs(vmcoreinfo, release):
    _, _, config_path = gold(release)
    config = KernelConfig.from_file(config_path)
    for emitter in ARCH_EMITTERS:
        for version in VERSIONS:
            for at_crash in (False, True):
                assert generated_keys(vmcoreinfo, emitter, version, config, at_crash) == \
                    selected_keys(emitter, version, config, at_crash), (emitter.name, version)


@settings(max_examples=300, deadline=None)
@given(emitter=st.sampled_from(ARCH_EMITTERS), version=st.sampled_from(VERSIONS),
       values=st.dictionaries(st.sampled_from(SYMBOLS), st.sampled_from(["y", "m"] + NUMBERS)))
def test_same_keys_as_select_for_any_config(vmcoreinfo, emitter, version, values):
    config = KernelConfig(values)
    assert generated_keys(vmcoreinfo, emitter, version, config, True) == \
        selected_keys(emitter, version, config, True)


def test_versions_outside_the_specs_are_refused(vmcoreinfo):
    module = vmcoreinfo.module("x86_64")
    with pytest.raises(ValueError):
        module.vmcoreinfo(ConstantResolver(), (5, 4), {})


@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_equals_vmci_resolve_on_the_real_kernel(vmcoreinfo, release, tmp_path):
    from vmci.spec.model import kernel_version_from_banner
    from vmci.elf import open_vmlinux
    from vmci.resolve.image_resolver import ImageResolver
    from vmci.resolve.engine import render_text, resolve
    from vmci.select import find_target_by_elf

    meta, text, config_path = gold(release)
    config = KernelConfig.from_file(config_path)
    with open_vmlinux(kernel_path(release), cache_dir=str(tmp_path)) as vm:
        version = kernel_version_from_banner(vm.linux_banner())
        target = find_target_by_elf(SPECS, vm.e_machine, vm.elf_class, vm.endianness)
        module = vmcoreinfo.for_elf(vm.e_machine, vm.elf_class, vm.endianness)
        assert module.EMITTER == target.emitters[0].name
        for at_crash in (False, True):
            ours = module.vmcoreinfo(ImageResolver(vm, config), version, config.values, at_crash)
            theirs = resolve(SPECS, vm, target, version, config, ("boot", "crash") if at_crash else ("boot",))
            assert [(line.key, line.value) for line in theirs] == ours
            assert module.render(ours) == render_text(theirs)
        # and the text is the booted kernel's but for the values fixed at run time
        differing = {a.split("=")[0] for a, b in zip(module.render(ours).splitlines(), text.splitlines()) if a != b}
        assert differing <= set(meta["runtime_keys"])
