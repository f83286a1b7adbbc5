"""Architecture rules as tests: which packages may import which, and what the
runtime's start path must not pull in."""

import ast
import re
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "wharfie"

# package -> wharfie packages it may import (besides itself)
ALLOWED = {
    "errors": set(),
    "oci": {"errors"},
    "syscalls": set(),
    "fsroot": {"syscalls"},
    "cgroups": {"errors"},
    "units": {"errors"},
    "patterns": {"errors"},
    "times": {"errors", "units"},
    "statsmath": set(),
    "httpcore": set(),
    "runtime": {"errors", "oci", "syscalls", "cgroups", "fsroot"},
    "content": {"errors", "oci"},
    "snapshots": {"errors", "syscalls"},
    "images": {"errors", "oci", "content", "snapshots", "syscalls", "fsroot", "times"},
    "network": {"errors", "syscalls"},
    "logs": {"errors", "oci", "times"},
    "monitor": {"errors", "oci", "logs", "runtime", "syscalls"},
    "distribution": {"errors", "oci", "content", "images", "units"},
    "registry": {"errors", "oci", "content", "units", "httpcore"},
    "volumes": {"errors", "syscalls", "units"},
    "build": {"errors", "oci", "content", "images", "units", "patterns", "fsroot"},
    "engine": {
        "errors",
        "oci",
        "cgroups",
        "content",
        "snapshots",
        "images",
        "network",
        "logs",
        "monitor",
        "runtime",  # wharfie-runtime's read-only reports in-process: stats, OOM (streams.py)
        "syscalls",
        "units",
        "distribution",
        "volumes",
        "build",
        "times",
        "fsroot",
    },
    "api": {"errors", "oci", "engine", "monitor", "units", "httpcore", "cluster", "times"},
    "dashboard": {"errors", "oci", "api", "engine", "statsmath"},
    "daemon": {"errors", "api", "engine", "httpcore", "dashboard", "cluster", "logs", "units"},
    "client": {"errors", "oci", "patterns", "httpcore"},
    "compose": {"errors", "oci", "client", "units"},
    "cli": {"errors", "oci", "client", "units", "compose", "registry", "times", "statsmath", "vm"},
    "vm": {"errors", "syscalls", "cgroups"},
    "cluster": {"errors", "times", "syscalls"},
}


def _wharfie_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "wharfie":
                names = [f"wharfie.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "wharfie" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_packages_import_only_downwards() -> None:
    wrong = []
    for package, allowed in ALLOWED.items():
        files = [SRC / f"{package}.py"] if (SRC / f"{package}.py").exists() else []
        files += sorted((SRC / package).rglob("*.py")) if (SRC / package).is_dir() else []
        assert files, f"no files for package {package}"
        for f in files:
            for imported in _wharfie_imports(f) - allowed - {package, "__version__"}:
                wrong.append(f"{f.relative_to(SRC)} imports wharfie.{imported}")
    assert not wrong, "layering violations:\n" + "\n".join(wrong)


def test_every_package_has_layering_rules() -> None:
    """A new package (or top-level module) must say what it may import."""
    present = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    present |= {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    assert present - set(ALLOWED) == set(), "packages without layering rules"


def _private_imports(path: Path, package: str) -> list[str]:
    """Imports of another package's private modules (a name part starting with "_")."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        modules = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for module in modules:
            parts = module.split(".")
            if parts[0] != "wharfie" or len(parts) < 3 or parts[1] == package:
                continue
            if any(p.startswith("_") and not p.startswith("__") for p in parts[2:]):
                found.append(module)
    return found


def test_no_package_imports_another_packages_private_modules() -> None:
    wrong = []
    for f in sorted(SRC.rglob("*.py")):
        package = f.relative_to(SRC).parts[0].removesuffix(".py")
        wrong += [f"{f.relative_to(SRC)} imports {m}" for m in _private_imports(f, package)]
    assert not wrong, "private modules imported across packages:\n" + "\n".join(wrong)


HEAVY = (
    "re",
    "typing",
    "enum",
    "json",
    "subprocess",
    "dataclasses",
    "shutil",
    "logging",
    "argparse",
    "socket",
    "signal",
    "select",
    "contextlib",
    "functools",
    "ctypes",
)


def test_runtime_start_path_stays_lean() -> None:
    """`wharfie-runtime run` must not import modules that cost milliseconds at start-up."""
    code = (
        f"import sys; sys.path.insert(0, {str(SRC.parent)!r})\n"
        "import wharfie.runtime.cli, wharfie.runtime.commands, wharfie.runtime.container\n"
        "import wharfie.runtime.foreground, wharfie.runtime.init, wharfie.runtime.execproc\n"
        "from wharfie import cgroups\n"
        "cgroups.for_container('/wharfie-layering-test', 'x')\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"heavy modules on the start path: {out.stdout.strip()}"


# Services that still take the whole engine; each entry goes when its service takes its
# dependencies (issue 14). The list may only shrink: an entry whose class no longer takes
# the engine fails the test, so it cannot go stale.
STILL_TAKE_ENGINE: set[str] = set()


def _classes_taking_engine() -> set[str]:
    found = set()
    for f in sorted((SRC / "engine").glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if not isinstance(node, ast.ClassDef) or node.name == "Engine":
                continue
            for item in node.body:
                if not (isinstance(item, ast.FunctionDef) and item.name == "__init__"):
                    continue
                args = item.args.args + item.args.kwonlyargs + item.args.posonlyargs
                for arg in args:
                    text = ast.unparse(arg.annotation) if arg.annotation else ""
                    if re.search(r"\bEngine\b", text):
                        found.add(f"{f.name}:{node.name}")
    return found


def test_no_engine_service_takes_the_engine() -> None:
    """Every service names its dependencies in its constructor; only `Engine` (the
    wiring) sees them all."""
    taking = _classes_taking_engine()
    assert taking - STILL_TAKE_ENGINE == set(), "new services that take the whole Engine"
    assert STILL_TAKE_ENGINE - taking == set(), "no longer take the Engine: drop from the list"


def test_the_container_services_take_no_engine() -> None:
    taking = _classes_taking_engine()
    mine = {"Containers", "Health", "Recovery", "System", "ContainerListing", "ContainerAPI"}
    assert {entry.split(":")[1] for entry in taking} & mine == set()
