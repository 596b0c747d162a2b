"""The shape of the findings app: one package per concern, imports that point down, no cycles.

Every import counts, including one inside a function: a local import that dodges a cycle at
import time is still a cycle in the design.
"""

import ast
import inspect
import pkgutil
from importlib import import_module
from pathlib import Path

import pytest

import findings

ROOT = Path(findings.__file__).parent

# Lower numbers sit lower. A domain module may import its own package and packages below it.
RANKS = {
    "models": 0,
    "aws": 0,
    "export": 0,
    "audit": 1,
    "inventory": 1,
    "policy": 2,
    "detection": 3,
    "rightsizing": 4,
    "reviews": 5,
    "collection": 6,
    "notifications": 7,
    "dashboard": 8,
    "demo": 8,
    "monitoring": 8,
    "api": 9,
}
# Interfaces: they parse input, call the domain and present the result. Nothing imports them
# but other interface modules (and URL confs).
WEB_MODULE_NAMES = {
    "views",
    "exclusion_views",
    "forms",
    "urls",
    "display",
    "rows",  # HTML rows built in Python (reviews, inventory)
    "queue",
    "tasks",
    "admin",
    "apps",
}
WEB_PACKAGES = {"api", "management", "templatetags"}
ROOT_FILES = {"__init__.py", "apps.py", "admin.py", "urls.py"}
# Packages whose public functions are domain services or selectors: keyword-only and typed.
DOMAIN_PACKAGES = {
    "audit",
    "inventory",
    "policy",
    "detection",
    "rightsizing",
    "reviews",
    "collection",
    "notifications",
    "dashboard",
    "monitoring",
}


def module_name(path: Path) -> str:
    parts = ["findings", *path.relative_to(ROOT).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "migrations" not in p.relative_to(ROOT).parts)


MODULES = {module_name(path): path for path in source_files()}


def resolve(name: str) -> str | None:
    """The findings module an import refers to (a name imported from a package may be one)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text())
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            if name.startswith("findings") and (target := resolve(name)) and target != module:
                found.add(target)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (ROOT / parts[1]).is_dir() else ""


def is_web(module: str) -> bool:
    parts = module.split(".")
    return (
        package_of(module) in WEB_PACKAGES
        or parts[-1] in WEB_MODULE_NAMES
        or module
        in {
            "findings",
            "findings.urls",
        }
    )


def cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return found


def test_the_findings_modules_import_each_other_without_a_cycle():
    assert cycles() == []


def test_only_the_app_files_stay_at_the_root_of_findings():
    files = {p.name for p in ROOT.iterdir() if p.is_file() and p.suffix == ".py"}
    assert files <= ROOT_FILES


def test_every_package_is_ranked_or_an_interface():
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert packages - {"migrations"} <= set(RANKS) | WEB_PACKAGES


@pytest.mark.parametrize(
    "package",
    sorted(
        p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name != "migrations"
    ),
)
def test_every_package_says_what_it_owns_and_may_import(package):
    doc = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text()))
    assert doc and len([line for line in doc.splitlines() if line.strip()]) <= 3, package


def test_domain_modules_import_only_their_own_package_and_lower_ones():
    uphill = []
    for module, targets in GRAPH.items():
        if is_web(module) or not package_of(module):
            continue
        rank = RANKS[package_of(module)]
        for target in targets:
            same = package_of(target) == package_of(module)
            if is_web(target) or (not same and RANKS.get(package_of(target), 99) >= rank):
                uphill.append(f"{module} -> {target}")
    assert uphill == []


def test_the_aws_package_talks_to_aws_only():
    for module in (m for m in MODULES if package_of(m) == "aws"):
        source = MODULES[module].read_text()
        assert "django" not in source, module
        assert all(package_of(t) == "aws" for t in GRAPH[module]), module


def test_boto3_is_imported_only_by_the_aws_package_and_the_demo():
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        names = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (
                node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
            )
        }
        if names & {"boto3", "botocore"}:
            assert package_of(module) in {"aws", "demo"}, module


def public_functions():
    for module in sorted(MODULES):
        if package_of(module) not in DOMAIN_PACKAGES or is_web(module):
            continue
        loaded = import_module(module)
        for name, function in inspect.getmembers(loaded, inspect.isfunction):
            if function.__module__ == module and not name.startswith("_"):
                yield module, name, function


def test_services_and_selectors_take_keyword_only_typed_arguments():
    loose = []
    for module, name, function in public_functions():
        signature = inspect.signature(function)
        for parameter in signature.parameters.values():
            if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
                loose.append(f"{module}.{name}: {parameter.name} is positional")
            elif parameter.annotation is parameter.empty and parameter.kind is not (
                parameter.VAR_KEYWORD
            ):
                loose.append(f"{module}.{name}: {parameter.name} has no type")
        if signature.return_annotation is signature.empty:
            loose.append(f"{module}.{name}: no return type")
    assert loose == []


def test_every_module_of_findings_imports():
    for info in pkgutil.walk_packages([str(ROOT)], prefix="findings."):
        if ".migrations" not in info.name:
            import_module(info.name)


def test_the_readme_shows_the_layout_in_ten_lines_or_fewer():
    readme = (ROOT.parent / "README.md").read_text()
    block = readme.split("### Code layout", 1)[1].split("```", 2)[1]
    lines = [line for line in block.splitlines() if line.strip()]
    assert 0 < len(lines) <= 10
    for package in RANKS:
        assert f"{package}/" in block, package
