"""Human-readable `nb2svc analyze` output (the JSON form is Analysis.to_json())."""

from __future__ import annotations

from typing import Any


def render_analysis(data: dict[str, Any]) -> str:
    """Text for `nb2svc analyze`, from the same dict `--json` prints."""
    lines: list[str] = []
    for nb in data["notebooks"]:
        lines.append(
            f"{nb['path']}  (sha256 {nb['sha256'][:12]}, {nb['code_cells']} code cells, "
            f"kernel {nb['kernel'] or '?'})"
        )
    lines.append(f"python: {data['python_version']} (from {data['python_version_source']})")
    lines += _model(data["model"])
    lines += _section("dependencies", [_dep(d) for d in data.get("dependencies", [])])
    lines += _section("unresolved imports", [_unresolved(u) for u in data.get("unresolved", [])])
    for nb in data["notebooks"]:
        lines += _section("data files", [_data(d) for d in nb["data_files"]])
        lines += _section("network use", [_net(n) for n in nb["network"]])
        if nb["parameters"]:
            lines += _section("parameters", [_param(nb["parameters"])])
    lines += _section("warnings", [str(w) for w in data["warnings"]])
    return "\n".join(lines)


def _section(title: str, rows: list[str]) -> list[str]:
    if not rows:
        return [f"{title}: none"]
    return [f"{title}:", *[f"  {r}" for r in rows]]


def _model(model: dict[str, Any]) -> list[str]:
    variable = model.get("variable")
    if not variable:
        return ["model: not found by analysis (the build picks the last object with predict())"]
    return [f"model: `{variable}` ({model.get('reason', '')})"]


def _where(row: dict[str, Any]) -> str:
    parts = []
    if row.get("cell") is not None:
        parts.append(f"cell {row['cell']}")
    if row.get("line") is not None:
        parts.append(f"line {row['line']}")
    return ", ".join(parts)


def _dep(dep: dict[str, Any]) -> str:
    spec = dep.get("specifier") or (f"=={dep['locked']}" if dep.get("locked") else "")
    sources = dep.get("provenance") or []
    first = sources[0] if sources else {}
    imports = ", ".join(dep.get("imports") or [])
    where = _where(first) if isinstance(first, dict) else ""
    extra = f" (import {imports})" if imports else ""
    return f"{dep['name']}{spec:<12} {dep.get('source', '')}: {where}{extra}"


def _unresolved(item: dict[str, Any]) -> str:
    return f"{item.get('module')}  {_where(item)}"


def _data(item: dict[str, Any]) -> str:
    resolved = item.get("resolved") or "NOT FOUND"
    return f"{item.get('reference')} -> {resolved} ({item.get('how')}) {_where(item)}"


def _net(item: dict[str, Any]) -> str:
    return f"{item.get('what')} {_where(item)}"


def _param(params: dict[str, Any]) -> str:
    values = params.get("values") or {}
    return ", ".join(f"{k}={v}" for k, v in values.items()) + f" (cell {params.get('cell')})"
