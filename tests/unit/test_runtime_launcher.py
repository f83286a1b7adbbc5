"""The site-less wharfie-runtime launcher that scripts/setup.sh writes."""

from __future__ import annotations

import importlib.util
import marshal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wharfie.runtime import launcher


def test_render() -> None:
    text = launcher.render("/venv/bin/python", "/src", "/venv/bin/wharfie-runtime.modules")
    assert text.startswith("#!/venv/bin/python -S\n")
    assert "sys.path.insert(0, '/src')" in text
    assert "_open('/venv/bin/wharfie-runtime.modules', O_RDONLY | O_CLOEXEC)" in text
    assert text.rstrip().endswith("entry()")


PROBE = """
import sys
sys.argv = ["wharfie-runtime", "--version"]
from wharfie.runtime import cli
loaders = {m: getattr(mod, "__loader__", None) for m, mod in list(sys.modules.items())}
served = [m for m, loader in loaders.items() if getattr(loader, "__name__", "") == "_Image"]
print(len(served), "wharfie.runtime.cli" in served, "wharfie.errors" in served)
print(cli.__file__)
print(cli.__cached__)
"""


def _run_probe(launcher_path: Path, probe: str = PROBE, argv: tuple[str, ...] = ()) -> list[str]:
    """Run `probe` under the launcher's own preamble (its finder), without `site`, as if the
    launcher had been given `argv`."""
    text = launcher_path.read_text()
    python = text.splitlines()[0].removeprefix("#!").split()[0]  # the launcher's interpreter
    preamble = text.split("from wharfie.runtime.cli import entry")[0]
    setup = f"import sys\nsys.argv = {['wharfie-runtime', *argv]!r}\n"
    out = subprocess.run(
        [python, "-S", "-c", setup + preamble + probe],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.splitlines()


EAGER = """
print("wharfie.runtime.container" in sys.modules, "wharfie.cgroups._v1" in sys.modules)
from wharfie.runtime import container
print(container.__loader__.__name__, container.__spec__.origin == container.__file__)
"""


def test_start_path_is_executed_up_front_for_run_create_exec(tmp_path: Path) -> None:
    path = tmp_path / "wharfie-runtime"
    launcher.write(str(path))
    for argv in (("run", "x"), ("--root", "/r", "create", "x"), ("--debug", "exec", "x", "ls")):
        assert _run_probe(path, EAGER, argv) == ["True True", "_Image True"], argv
    for argv in (("list",), ("--root", "run", "state", "x"), ()):  # "run" as --root's value
        assert _run_probe(path, EAGER, argv) == ["False False", "_Image True"], argv


def test_module_image_serves_the_start_path(tmp_path: Path) -> None:
    path = tmp_path / "wharfie-runtime"
    launcher.write(str(path))
    image, start, extensions = launcher.decode_image(
        (tmp_path / "wharfie-runtime.modules").read_bytes()
    )
    assert {"wharfie", "wharfie.errors", "wharfie.runtime.cli", "wharfie.cgroups._v1"} <= set(image)
    assert "__future__" in image  # the stdlib module every module imports first
    assert set(extensions) <= set(launcher.STDLIB_EXTENSIONS)
    assert all(p.endswith(".so") and Path(p).is_file() for p in extensions.values())
    assert start[:2] == ["wharfie", "wharfie.runtime"]
    # in the order imports finish: a module after those it imports at its top
    assert start.index("wharfie.runtime.state") < start.index("wharfie.runtime.lifecycle")
    assert start.index("wharfie.runtime.init") < start.index("wharfie.runtime.container")
    count, cli_served, errors_served = _run_probe(path)[0].split()
    assert int(count) > 3 and cli_served == "True" and errors_served == "True"
    lines = _run_probe(path)
    assert lines[1] == image["wharfie.runtime.cli"][0]  # __file__ is the source
    assert lines[2] == importlib.util.cache_from_source(lines[1])


def test_module_image_entry_that_no_longer_matches_its_source_is_not_used(
    tmp_path: Path,
) -> None:
    """A module edited after the image was written is imported from its source instead."""
    path = tmp_path / "wharfie-runtime"
    launcher.write(str(path))
    image_path = tmp_path / "wharfie-runtime.modules"
    image, start, extensions = launcher.decode_image(image_path.read_bytes())
    src, is_pkg, mtime, size, _code, cached = image["wharfie.errors"]
    stale = compile("raise RuntimeError('stale image used')", src, "exec")
    image["wharfie.errors"] = (src, is_pkg, mtime - 1, size, marshal.dumps(stale), cached)
    image_path.write_bytes(launcher.encode_image(image, start, extensions))
    _count, cli_served, errors_served = _run_probe(path)[0].split()
    assert cli_served == "True" and errors_served == "False"
    # nor is the start path executed up front: every module goes through the finder
    assert _run_probe(path, EAGER, ("run", "x")) == ["False False", "_Image True"]


def test_launcher_without_its_module_image_still_runs(tmp_path: Path) -> None:
    path = tmp_path / "wharfie-runtime"
    launcher.write(str(path))
    (tmp_path / "wharfie-runtime.modules").unlink()
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("wharfie-runtime version")
    assert _run_probe(path)[0].split()[0] == "0"


def test_written_launcher_runs_without_site(tmp_path: Path) -> None:
    path = tmp_path / "wharfie-runtime"
    launcher.write(str(path))
    assert path.stat().st_mode & 0o111
    python, _facts = launcher.choose_python()
    assert path.read_text().startswith(f"#!{python} -S\n")
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("wharfie-runtime version")
    probe = subprocess.run(
        [sys.executable, "-S", "-c", "import sys; print('site' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "False"


def test_chosen_interpreter_runs_the_same_bytecode() -> None:
    """Another interpreter is only chosen when it is the same Python with the same bytecode
    magic, and libpython linked into its executable."""
    python, facts = launcher.choose_python()
    own = launcher.interpreter_facts(sys.executable)
    assert own is not None
    assert facts[:2] == own[:2]
    if python != sys.executable:
        assert own[2] and not facts[2]
    assert launcher.interpreter_facts("/nonexistent/python") is None


def test_extension_modules_come_from_the_image_without_a_path_search(tmp_path: Path) -> None:
    path = tmp_path / "wharfie-runtime"
    launcher.write(str(path))
    _modules, _start, extensions = launcher.decode_image(
        (tmp_path / "wharfie-runtime.modules").read_bytes()
    )
    probe = (
        "import _json, sys\n"
        "print(type(_json.__loader__).__name__, _json.__file__)\n"
        "print([p for p in sys.path_importer_cache if 'lib-dynload' in p or p == sys.path[0]])\n"
    )
    lines = _run_probe(path, probe)
    if "_json" in extensions:  # a build with _json built in has nothing to serve
        assert lines[0] == f"ExtensionFileLoader {extensions['_json']}"
    assert lines[1] == "[]"  # neither the packages' directory nor lib-dynload was searched


def test_image_code_has_empty_docstrings_and_the_source_line_numbers() -> None:
    source = (
        b'"""Module doc."""\n\n\ndef f():\n    """F doc."""\n    return 1 / 0\n\n\n'
        b'class C:\n    """C doc."""\n'
    )
    namespace: dict[str, Any] = {}
    exec(compile(launcher.without_docstrings(source, "m.py"), "m.py", "exec"), namespace)
    f, c = namespace["f"], namespace["C"]
    assert namespace["__doc__"] == "" and f.__doc__ == "" and c.__doc__ == ""
    assert f.__code__.co_firstlineno == 4
    with pytest.raises(ZeroDivisionError) as info:
        f()
    assert info.traceback[-1].lineno + 1 == 6  # pytest's line numbers count from 0


def test_preload_imports_the_start_path() -> None:
    """The monitor calls runtime.preload() before forking runtimes in-process."""
    code = (
        "import sys; from wharfie import runtime; runtime.preload();"
        "missing = [m for m in runtime._MODULES if m not in sys.modules];"
        "print(missing)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
