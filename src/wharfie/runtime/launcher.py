"""Write the `wharfie-runtime` launcher: the console script, without `site`, with its
start path in one file.

pip's console script starts the interpreter normally, and `site` (site-packages, .pth
files, the editable install's path hook) costs ~3 ms of CPU on every start, about a tenth
of a `run`. The runtime needs nothing from site-packages, so scripts/setup.sh replaces
pip's script with this one (after every `pip install`):

    .venv/bin/python -m wharfie.runtime.launcher .venv/bin/wharfie-runtime

It runs the same interpreter with `-S` and puts the directory holding the `wharfie`
package (the source tree of an editable install, or site-packages) first on sys.path.

**The module image.** Importing the ~45 modules of `run` one by one (a path search, a
stat, an open and a read of each .pyc) costs ~4 ms of CPU more than taking their code
from one file. So `write` also stores the compiled code of the runtime's modules in
`<launcher>.modules` (a marshal of ({name: (path, is_package, mtime_ns, size, code, pyc
path)}, [start path])), and the launcher serves imports from it through a finder placed
first on `sys.meta_path`. For `run`, `create` and `exec` it goes further: the start path's
modules (recorded at write time in the order their imports finish) are executed in that
order without importlib's per-module machinery, ~1.5 ms of CPU less.
Each module is checked against its source (mtime and size, as a .pyc is) when imported:
an edited module, or a missing or unreadable image, falls back to the ordinary import,
so the image can be stale but never wrong.

The garbage collector is disabled: its collections during the imports cost ~3 % of a
`run`, and the commands are short-lived (`events`, which runs for days, enables it).
"""

from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# The packages whose modules go into the image: everything wharfie-runtime runs.
IMAGE_PACKAGES = (
    "wharfie.runtime",
    "wharfie.cgroups",
    "wharfie.oci",
    "wharfie.syscalls",
    "wharfie.fsroot",
)
IMAGE_MODULES = ("wharfie", "wharfie.errors")
IMAGE_SUFFIX = ".modules"

TEMPLATE = """#!{python} -S
# wharfie-runtime without `site` (written by `python -m wharfie.runtime.launcher`)
import gc
import sys

gc.disable()  # ~1 ms of collections during the imports of a process that lives ~20 ms

sys.path.insert(0, {packages!r})
try:
    import marshal
    from posix import O_CLOEXEC, O_RDONLY, close as _close, fstat as _fstat
    from posix import open as _open, pread as _pread

    def _image_fd():
        fd = _open({image!r}, O_RDONLY | O_CLOEXEC)
        st = _fstat(fd)
        if _ident is not None and (st.st_ino, st.st_mtime_ns) != _ident:
            _close(fd)  # rewritten since the index was read
            raise OSError("module image replaced")
        return fd, st

    _ident = None
    _fd, _st = _image_fd()
    try:
        _n = int.from_bytes(_pread(_fd, 8, 0), "little")
        _modules, _start, _ext = marshal.loads(_pread(_fd, _n, 8))
    finally:
        _close(_fd)
    _ident, _base = (_st.st_ino, _st.st_mtime_ns), 8 + _n
except (OSError, EOFError, ValueError, TypeError):
    pass  # no module image (or an unreadable one): ordinary imports
else:
    from posix import stat as _stat

    _spec = sys.modules["_frozen_importlib"].ModuleSpec
    _ExtLoader = sys.modules["_frozen_importlib_external"].ExtensionFileLoader

    def _fresh(entry):
        try:
            st = _stat(entry[0])
        except OSError:
            return False
        return st.st_mtime_ns == entry[2] and st.st_size == entry[3]  # else edited since

    def _make_spec(name, entry):
        spec = _spec(name, _Image, origin=entry[0], is_package=entry[1])
        if entry[1]:
            spec.submodule_search_locations = [entry[0].rpartition("/")[0]]
        spec.has_location = True
        spec.cached = entry[6]  # else importlib derives it, ~20 us per module
        return spec

    class _Image:
        @staticmethod
        def find_spec(name, path=None, target=None):
            entry = _modules.get(name)
            if entry is None:
                so = _ext.get(name)  # a C extension of the stdlib: no search of sys.path
                if so is None:
                    return None
                try:
                    _stat(so)
                except OSError:
                    return None
                spec = _spec(name, _ExtLoader(name, so), origin=so)
                spec.has_location = True
                return spec
            if not _fresh(entry):
                return None
            try:
                fd, _ = _image_fd()
            except OSError:
                return None
            try:
                code = _pread(fd, entry[5], _base + entry[4])
            finally:
                _close(fd)
            spec = _make_spec(name, entry)
            spec.loader_state = code
            return spec

        @staticmethod
        def create_module(spec):
            return None

        @staticmethod
        def exec_module(module):
            exec(marshal.loads(module.__spec__.loader_state), module.__dict__)

    sys.meta_path.insert(0, _Image)

    def _start_path():
        entries = [(n, _modules.get(n)) for n in _start if n not in sys.modules]
        if not all(e is not None and _fresh(e) for _, e in entries):
            return  # a module was edited: ordinary (image) imports, in their own order
        made = []
        try:
            fd, _ = _image_fd()
        except OSError:
            return
        try:
            for name, entry in entries:
                module = type(sys)(name)
                module.__spec__ = spec = _make_spec(name, entry)
                module.__loader__ = _Image
                module.__file__ = entry[0]
                module.__cached__ = entry[6]
                module.__package__ = name if entry[1] else name.rpartition(".")[0]
                if entry[1]:
                    module.__path__ = spec.submodule_search_locations
                sys.modules[name] = module
                made.append((name, module, entry))
            for name, module, entry in made:
                # one read per module: its buffer is freed and reused for the next one
                exec(marshal.loads(_pread(fd, entry[5], _base + entry[4])), module.__dict__)
                parent, _, child = name.rpartition(".")
                if parent:
                    setattr(sys.modules[parent], child, module)
        except Exception:
            for name, _, _ in made:
                sys.modules.pop(name, None)
        finally:
            _close(fd)

    _args = iter(sys.argv[1:])
    for _arg in _args:
        if _arg in {valued!r}:
            next(_args, None)
        elif not _arg.startswith("-"):
            if _arg in ("run", "create", "exec"):
                _start_path()
            break
from wharfie.runtime.cli import entry

entry()
"""
# The global flags that take a value (the launcher skips them to find the command).
VALUED_FLAGS = ("--root", "--log", "--log-format", "--criu", "--rootless")
# What `run` imports, in the order the imports finish: the launcher executes these modules'
# code in that order without importlib's per-module machinery (~1.5 ms of CPU less) for
# run, create and exec. Recorded by `start_order` in a fresh interpreter.
START_IMPORTS = (
    "wharfie.runtime.cli",
    "wharfie.runtime.commands",
    "wharfie.runtime.container",
    "wharfie.runtime.foreground",
    "wharfie.runtime.lifecycle",
    "wharfie.cgroups._devices",
    "wharfie.cgroups._spec",
    "wharfie.cgroups._stats",
)
_RECORD = """
import importlib, sys
from importlib.machinery import PathFinder
sys.path.insert(0, {packages!r})
order = []
class Recorder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if not name.startswith("wharfie"):
            return None
        spec = PathFinder.find_spec(name, path, target)
        if spec is not None:
            run = spec.loader.exec_module
            def exec_module(module, run=run):
                run(module)
                order.append(module.__name__)
            spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, Recorder)
for name in {imports!r}:
    importlib.import_module(name)
from wharfie import cgroups
try:
    kind = cgroups.for_container(None, "probe").kind  # the host's driver, nothing made
except Exception:
    kind = None
if kind is not None:
    plan = "_plan_v2" if kind == "v2" else "_plan_v1"
    importlib.import_module("wharfie.cgroups." + plan)
print(repr(order))
"""


def start_order(packages_dir: str, python: str = sys.executable) -> list[str]:
    """The modules `run` imports on this host, in the order their imports finish."""
    code = _RECORD.format(packages=packages_dir, imports=START_IMPORTS)
    order: list[str] = _probe(python, code)
    return order


def _probe(python: str, code: str) -> Any:
    """Run `code` in `python -S`; its printed repr, evaluated."""
    import ast
    import subprocess

    out = subprocess.run([python, "-S", "-c", code], capture_output=True, text=True, check=True)
    return ast.literal_eval(out.stdout.strip())


# What the launcher asks of an interpreter, and the stdlib parts it serves from the image:
# the pure-Python modules found on sys.path (not frozen) and the C extensions the runtime
# imports, so that `run` never searches sys.path (each search lists a directory).
STDLIB_MODULES = ("__future__",)
STDLIB_EXTENSIONS = ("_ctypes", "_json", "resource", "select", "fcntl", "termios", "array")
_FACTS = """
import importlib.util, sys
ext = {{}}
for name in {extensions!r}:
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise SystemExit(name + " is missing")
    if spec.origin and spec.origin.endswith(".so"):
        ext[name] = spec.origin
pure = {{}}
for name in {modules!r}:
    spec = importlib.util.find_spec(name)
    if spec.origin and spec.origin.endswith(".py"):
        pure[name] = spec.origin
with open("/proc/self/maps") as f:
    shared = any("/libpython" in line for line in f)
print(repr((sys.version_info[:2], importlib.util.MAGIC_NUMBER, shared, ext, pure)))
"""
Facts = tuple[tuple[int, int], bytes, bool, dict[str, str], dict[str, str]]


def interpreter_facts(python: str) -> Facts | None:
    """(version, bytecode magic, libpython is a shared library, {extension: .so}, {stdlib
    module: .py}) of `python`; None if it cannot run the runtime."""
    import subprocess

    code = _FACTS.format(extensions=STDLIB_EXTENSIONS, modules=STDLIB_MODULES)
    try:
        facts: Facts = _probe(python, code)
    except (OSError, subprocess.CalledProcessError, ValueError, SyntaxError):
        return None
    return facts


def choose_python() -> tuple[str, Facts]:
    """The interpreter the launcher runs: this one, unless the host has the same Python
    (same version and bytecode) with libpython linked into the executable.

    A `--enable-shared` build (pyenv's, this venv's) pays ~1.5 ms of dynamic relocations
    and position-independent code on every start; Debian's /usr/bin/python3.X is static
    and built with PGO and LTO: ~9 % less CPU per `run` (interleaved, 40 rounds). The
    runtime needs nothing but the standard library, so either serves it.
    """
    own = interpreter_facts(sys.executable)
    if own is None:
        raise RuntimeError(f"{sys.executable} cannot run the runtime (a stdlib module is missing)")
    if not own[2]:
        return sys.executable, own
    name = f"python{own[0][0]}.{own[0][1]}"
    for d in ("/usr/bin", "/usr/local/bin"):
        candidate = os.path.join(d, name)
        if not os.access(candidate, os.X_OK) or os.path.samefile(candidate, sys.executable):
            continue
        facts = interpreter_facts(candidate)
        if facts is not None and facts[:2] == own[:2] and not facts[2]:
            return candidate, facts
    return sys.executable, own


def render(python: str, packages: str, image: str) -> str:
    return TEMPLATE.format(python=python, packages=packages, image=image, valued=VALUED_FLAGS)


def _module_files(packages_dir: str) -> dict[str, tuple[str, bool]]:
    """{module name: (source path, is a package)} of the image's modules."""
    out: dict[str, tuple[str, bool]] = {}
    for name in IMAGE_MODULES:
        base = os.path.join(packages_dir, *name.split("."))
        if os.path.isdir(base):
            out[name] = (os.path.join(base, "__init__.py"), True)
        else:
            out[name] = (base + ".py", False)
    for pkg in IMAGE_PACKAGES:
        d = os.path.join(packages_dir, *pkg.split("."))
        out[pkg] = (os.path.join(d, "__init__.py"), True)
        for entry in sorted(os.listdir(d)):
            if entry.endswith(".py") and entry != "__init__.py":
                out[f"{pkg}.{entry[:-3]}"] = (os.path.join(d, entry), False)
    return out


ImageEntry = tuple[str, bool, int, int, bytes, str]


def without_docstrings(source: bytes, path: str) -> Any:
    """The module's syntax tree with every docstring emptied (kept as "", so no body is
    left empty and line numbers stay): the start path's docstrings are a tenth of its
    code and unmarshalling them (UTF-8 decoding) about 40 % of the time, ~0.4 ms per run.
    Nothing on the runtime's paths reads __doc__ (help texts live in cli_help)."""
    import ast

    tree = ast.parse(source, path)
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(tree):
        if isinstance(node, kinds) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                first.value.value = ""
    return tree


def build_image(packages_dir: str, stdlib: dict[str, str] | None = None) -> dict[str, ImageEntry]:
    """Compile the image's modules (as the interpreter would, with no optimisation), and
    the `stdlib` ones given as {name: source path}."""
    import importlib.util

    image: dict[str, ImageEntry] = {}
    files = _module_files(packages_dir)
    files.update((name, (path, False)) for name, path in (stdlib or {}).items())
    for name, (path, is_pkg) in files.items():
        with open(path, "rb") as f:
            source = f.read()
        st = os.stat(path)
        code = compile(without_docstrings(source, path), path, "exec", dont_inherit=True)
        cached = importlib.util.cache_from_source(path)
        image[name] = (path, is_pkg, st.st_mtime_ns, st.st_size, marshal.dumps(code), cached)
    return image


def encode_image(
    modules: dict[str, ImageEntry], start: list[str], extensions: dict[str, str]
) -> bytes:
    """The image file: an 8-byte length, the marshalled index ({name: (source, is a package,
    mtime_ns, size, offset, length, pyc path)}, start path, {extension: .so}), then the
    modules' marshalled code, the start path first and in its order.

    The launcher reads the index, then each module's code with its own pread (the start
    path's in one open): a module's buffer is freed and reused for the next, where
    reading the whole ~600 KB file cost ~300 page faults.
    """
    order = [n for n in start if n in modules] + [n for n in modules if n not in start]
    index: dict[str, tuple[str, bool, int, int, int, int, str]] = {}
    blob = bytearray()
    for name in order:
        path, is_pkg, mtime, size, code, cached = modules[name]
        index[name] = (path, is_pkg, mtime, size, len(blob), len(code), cached)
        blob += code
    header = marshal.dumps((index, start, extensions))
    return len(header).to_bytes(8, "little") + header + bytes(blob)


def decode_image(data: bytes) -> tuple[dict[str, ImageEntry], list[str], dict[str, str]]:
    """encode_image's arguments back from the file's bytes."""
    n = int.from_bytes(data[:8], "little")
    index, start, extensions = marshal.loads(data[8 : 8 + n])
    base = 8 + n
    modules = {
        name: (path, is_pkg, mtime, size, data[base + off : base + off + length], cached)
        for name, (path, is_pkg, mtime, size, off, length, cached) in index.items()
    }
    return modules, start, extensions


def _write_atomic(path: str, data: bytes, mode: int) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write(path: str) -> None:
    """Write the launcher at `path` and its module image at `path` + IMAGE_SUFFIX."""
    import wharfie

    packages = os.path.dirname(os.path.dirname(os.path.abspath(wharfie.__file__)))
    image_path = os.path.abspath(path) + IMAGE_SUFFIX
    python, (_version, _magic, _shared, extensions, stdlib) = choose_python()
    modules = build_image(packages, stdlib)
    data = encode_image(modules, start_order(packages, python), extensions)
    _write_atomic(image_path, data, 0o644)
    _write_atomic(path, render(python, packages, image_path).encode(), 0o755)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m wharfie.runtime.launcher PATH")
    write(sys.argv[1])
