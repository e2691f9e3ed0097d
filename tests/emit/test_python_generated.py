"""The generated Python (generated/python/vmcoreinfo) is the specs' second implementation
of the emission program: for every architecture, version and config it emits the same
keys in the same order as `vmci list`/`vmci resolve` select, and on the real Debian
kernels it produces exactly the text `vmci resolve` produces. What formats, cuts and
orders the lines is one module, vmci/runtime.py, which the package holds byte for byte;
a value it cannot resolve it reports with `vmci resolve`'s reason."""
import importlib
import os
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import GOLD_RELEASES, gold, kernel_path
from generate_support import GENERATED, copy_specs, vmci

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
    except SelectionError as error:  # list and resolve refuse it, and so does the generated module
        assert "builds no VMCOREINFO" in str(error), error
        return NO_VMCOREINFO


def generated_keys(vmcoreinfo, emitter, version, config, at_crash):
    module = vmcoreinfo.module(emitter.name.replace("-", "_"))
    try:
        lines = module.vmcoreinfo(ConstantResolver(), version, config.values, at_crash)
    except ValueError as error:
        assert "builds no VMCOREINFO" in str(error), error
        return NO_VMCOREINFO
    return [line.key for line in lines]


NO_VMCOREINFO = "refused: this config builds no VMCOREINFO"


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


def test_a_config_that_builds_no_vmcoreinfo_is_refused_not_answered_empty(vmcoreinfo):
    module = vmcoreinfo.module("x86_64")
    with pytest.raises(ValueError) as raised:
        module.vmcoreinfo(ConstantResolver(), (6, 12), {"CONFIG_X86_64": "y", "CONFIG_CRASH_CORE": "y"})
    assert str(raised.value) == ("this config builds no VMCOREINFO: Linux 6.12 writes it from the file of "
                                 "specs/common.yaml, which the config does not build")
    assert module.vmcoreinfo(ConstantResolver(), (6, 1), {"CONFIG_X86_64": "y", "CONFIG_CRASH_CORE": "y"})
    assert module.vmcoreinfo(ConstantResolver(), (6, 12), {"CONFIG_X86_64": "y", "CONFIG_VMCORE_INFO": "y"})


@pytest.mark.parametrize("release", GOLD_RELEASES)
def test_equals_vmci_resolve_on_the_real_kernel(vmcoreinfo, release, tmp_path):
    from vmci.spec.model import kernel_version_from_banner
    from vmci.elf import open_vmlinux
    from vmci.resolve.image_resolver import ImageResolver
    from vmci.resolve.engine import resolve
    from vmci.runtime import render
    from vmci.select import find_target_by_elf

    meta, text, config_path = gold(release)
    config = KernelConfig.from_file(config_path)
    with open_vmlinux(kernel_path(release), cache_dir=str(tmp_path)) as vm:
        version = kernel_version_from_banner(vm.linux_banner())
        target = find_target_by_elf(SPECS, vm.e_machine, vm.elf_class, vm.endianness)
        module = vmcoreinfo.for_elf(vm.e_machine, vm.elf_class, vm.endianness)
        assert module.EMITTER == target.emitters[0].name
        for at_crash in (True, False):
            ours = module.vmcoreinfo(ImageResolver(vm, config), version, config.values, at_crash)
            theirs = resolve(SPECS, vm, target, version, config, ("boot", "crash") if at_crash else ("boot",))
            assert [(line.key, line.value, line.reason) for line in theirs] == ours
            assert module.render(ours, partial=True) == render(theirs, partial=True)
        # and at boot every value resolves, and the text is the booted kernel's but for
        # the values fixed at run time
        differing = {a.split("=")[0] for a, b in zip(module.render(ours).splitlines(), text.splitlines()) if a != b}
        assert differing <= set(meta["runtime_keys"])


def test_the_runtime_and_abi_are_vmcis_modules_byte_for_byte():
    import vmci
    from vmci.emit.generate import COPIED_MODULES

    source = os.path.dirname(vmci.__file__)
    for copy, original in COPIED_MODULES.items():
        with open(os.path.join(GENERATED, "python", "vmcoreinfo", copy), "rb") as a, \
                open(os.path.join(source, original), "rb") as b:
            assert a.read() == b.read(), copy


def test_the_package_runs_without_vmci():
    """The copies import only each other: the package is whole without vmci."""
    import subprocess

    code = ("import sys; sys.path.insert(0, sys.argv[1]); import vmcoreinfo; "
            "[vmcoreinfo.module(name) for name in vmcoreinfo.EMITTERS]; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'vmci'))")
    result = subprocess.run([sys.executable, "-I", "-c", code, os.path.join(GENERATED, "python")],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_an_unresolved_value_is_reported_with_resolves_reason_not_dropped(tmp_path):
    """A spec naming a member the kernel lacks: `vmci resolve` reports the line with
    its reason, and the package generated from the same specs keeps the line, with the
    same reason, and will not render the text without saying so."""
    from vmci.spec.model import kernel_version_from_banner
    from vmci.elf import open_vmlinux
    from vmci.resolve.engine import resolve
    from vmci.resolve.image_resolver import ImageResolver
    from vmci.runtime import render
    from vmci.select import find_target_by_elf

    release = "6.1.0-57-cloud-amd64"
    specs = copy_specs(tmp_path / "specs")
    path = os.path.join(specs, "printk.yaml")
    with open(path) as handle:
        text = handle.read()
    assert "name: latched_seq\n        member: val" in text
    with open(path, "w") as handle:
        handle.write(text.replace("name: latched_seq\n        member: val", "name: latched_seq\n        member: nope"))
    code, _, err = vmci("generate", "--specs", specs, "-o", str(tmp_path / "gen"))
    assert code == 0, err
    broken, _ = load_specs(specs)
    key = "OFFSET(latched_seq.nope)"
    reason = "member 'nope' not found in struct latched_seq"
    package = str(tmp_path / "gen" / "python")
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] == "vmcoreinfo"}
    sys.path.insert(0, package)
    try:
        generated = importlib.import_module("vmcoreinfo")
        config = KernelConfig.from_file(gold(release)[2])
        with open_vmlinux(kernel_path(release), cache_dir=str(tmp_path / "cache")) as vm:
            version = kernel_version_from_banner(vm.linux_banner())
            theirs = resolve(broken, vm, find_target_by_elf(broken, vm.e_machine, vm.elf_class, vm.endianness),
                             version, config)
            module = generated.for_elf(vm.e_machine, vm.elf_class, vm.endianness)
            ours = module.vmcoreinfo(ImageResolver(vm, config), version, config.values)
        assert [line for line in theirs if line.value is None][0].reason == reason
        assert [(line.key, line.value, line.reason) for line in theirs] == ours
        assert module.Line(key, None, reason) in ours
        with pytest.raises(module.Unresolved) as raised:
            module.render(ours)
        assert raised.value.reason == f"{key} not resolved: {reason}"
        assert [line.key for line in raised.value.lines] == [key]
        partial = module.render(ours, partial=True)
        assert partial == render(theirs, partial=True)
        assert key not in partial and "SIZE(latched_seq)=" in partial
    finally:
        sys.path.remove(package)
        for name in [name for name in sys.modules if name.split(".")[0] == "vmcoreinfo"]:
            del sys.modules[name]
        sys.modules.update(saved)
