"""The JSON answer cache."""

import json
import os
import subprocess
import sys

from elf_support import ROOT

from compiler.elf import LookupFailure, open_vmlinux

WARM_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
from compiler.elf import open_vmlinux, LookupFailure
vm = open_vmlinux(sys.argv[1], cache_dir=sys.argv[2])
out = {}
for name in ("struct page", "atomic_long_t", "struct nope"):
    try:
        out[name] = vm.find_type(name).to_json()
    except LookupFailure as e:
        out[name] = e.reason
out["off"] = vm.find_type("struct page").member("lru.next")[0]
out["arr"] = vm.variable_type("arr").length
out["BLUE"] = vm.enumerator("BLUE")
out["sym"] = vm.symbol_address("arr")
out["banner"] = vm.linux_banner()
out["config"] = vm.embedded_config()
vm.close()
out["seconds"] = time.perf_counter() - t0
out["modules"] = sorted(m for m in sys.modules if m.startswith(("elftools", "compiler.elf")))
print(json.dumps(out))
"""


def _ask(vm):
    out = {}
    for name in ("struct page", "atomic_long_t", "struct nope"):
        try:
            out[name] = vm.find_type(name).to_json()
        except LookupFailure as e:
            out[name] = e.reason
    out["off"] = vm.find_type("struct page").member("lru.next")[0]
    out["arr"] = vm.variable_type("arr").length
    out["BLUE"] = vm.enumerator("BLUE")
    out["sym"] = vm.symbol_address("arr")
    out["banner"] = vm.linux_banner()
    out["config"] = vm.embedded_config()
    return out


def _warm(exe, cache_dir):
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", WARM_SCRIPT, exe, cache_dir], env=env,
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def test_cold_then_warm(native_exe, tmp_path):
    cache = str(tmp_path / "cache")
    with open_vmlinux(native_exe, cache_dir=cache) as vm:
        cold = _ask(vm)
        bid = vm.build_id
    files = os.listdir(cache)
    assert files == [f"vmlinux-{bid}.json"]
    warm = _warm(native_exe, cache)
    for k, v in cold.items():
        assert warm[k] == v, k
    # the warm process neither parsed DWARF nor imported pyelftools
    assert "compiler.elf.dwarf" not in warm["modules"]
    assert "compiler.elf.types" not in warm["modules"]
    assert not [m for m in warm["modules"] if m.startswith("elftools")]


def test_cache_for_other_file_is_ignored(native_exe, tmp_path):
    cache = str(tmp_path / "cache")
    with open_vmlinux(native_exe, cache_dir=cache) as vm:
        vm.find_type("struct page")
        bid = vm.build_id
    path = os.path.join(cache, f"vmlinux-{bid}.json")
    data = json.load(open(path))
    data["file_size"] += 1
    data["types"]["struct page"] = {"failure": "poisoned"}
    json.dump(data, open(path, "w"))
    with open_vmlinux(native_exe, cache_dir=cache) as vm:
        assert vm.find_type("struct page").name == "page"
    # garbage in the cache file is ignored as well
    open(path, "w").write("{not json")
    with open_vmlinux(native_exe, cache_dir=cache) as vm:
        assert vm.find_type("struct page").name == "page"
    assert json.load(open(path))["file_size"] == os.path.getsize(native_exe)


def test_writers_merge_and_leave_no_temp_files(native_exe, tmp_path):
    cache = str(tmp_path / "cache")
    a = open_vmlinux(native_exe, cache_dir=cache)
    b = open_vmlinux(native_exe, cache_dir=cache)
    a.find_type("struct page")
    b.enumerator("RED")
    a.close()
    b.close()
    files = os.listdir(cache)
    assert len(files) == 1 and files[0].endswith(".json")
    data = json.load(open(os.path.join(cache, files[0])))
    assert "struct page" in data["types"] and data["enumerators"]["RED"] == 0


def test_unwritable_cache_dir_is_harmless(native_exe, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with open_vmlinux(native_exe, cache_dir=str(blocker / "sub")) as vm:
        assert vm.find_type("struct page").size
