"""Serve side: the /docs page, a form per feature to try a prediction (no external assets)."""

from __future__ import annotations

import html
import json
from typing import Any

from ..artifact.format import Feature, Signature
from ..artifact.signature import json_type


def _field_html(feature: Feature, value: Any) -> str:
    name = html.escape(feature.name)
    note = html.escape(feature.dtype) + (" · nullable" if feature.nullable else "")
    label = f'<label for="f-{name}">{name} <small>{note}</small></label>'
    attrs = f'id="f-{name}" name="{name}" data-dtype="{feature.dtype}"'
    if feature.dtype == "bool":
        checked = " checked" if value else ""
        return f'{label}<input type="checkbox" {attrs}{checked}>'
    if feature.categories:
        options = "".join(
            f"<option{' selected' if c == value else ''}>{html.escape(str(c))}</option>"
            for c in feature.categories
        )
        return f"{label}<select {attrs}>{options}</select>"
    kind = "number" if json_type(feature.dtype) in ("number", "integer") else "text"
    step = ' step="any"' if kind == "number" else ""
    shown = "" if value is None else html.escape(str(value), quote=True)
    return f'{label}<input type="{kind}"{step} {attrs} value="{shown}">'


_SCRIPT = """
const form = document.getElementById('row');
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const row = {};
  for (const el of form.querySelectorAll('[data-dtype]')) {
    const t = el.dataset.dtype;
    if (t === 'bool') { row[el.name] = el.checked; continue; }
    if (el.value === '') { row[el.name] = null; continue; }
    const numeric = t.startsWith('float') || t.startsWith('int') || t.startsWith('uint');
    row[el.name] = numeric ? Number(el.value) : el.value;
  }
  const out = document.getElementById('out');
  out.textContent = '...';
  try {
    const res = await fetch(form.dataset.url, {
      method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({instances: [row]})});
    out.textContent = res.status + '\\n' + JSON.stringify(await res.json(), null, 2);
  } catch (err) { out.textContent = String(err); }
});
"""


def docs_page(signature: Signature, sample: dict[str, Any]) -> str:
    """A self-contained page (no external assets) with a form per feature."""
    first = (sample.get("inputs") or [{}])[0]
    fields = "\n".join(f"<div>{_field_html(f, first.get(f.name))}</div>" for f in signature.inputs)
    name = html.escape(signature.name)
    example = html.escape(json.dumps({"instances": (sample.get("inputs") or [])[:1]}, indent=2))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{name}: try a prediction</title>
<style>body{{font-family:sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}}
form div{{display:grid;grid-template-columns:16rem 1fr;margin:.3rem 0}}
pre{{background:#f4f4f4;padding:1rem}}
button{{margin-top:1rem;padding:.4rem 1.2rem}}</style></head><body>
<h1>{name}</h1><p>{html.escape(signature.cls)} · {html.escape(signature.task)} ·
<a href="/openapi.json">openapi.json</a> · <a href="/metrics">metrics</a></p>
<form id="row" data-url="/v1/models/{name}:predict">{fields}
<button type="submit">Predict</button></form>
<h2>Response</h2><pre id="out">(fill in the row and press Predict)</pre>
<h2>Example request</h2><pre>POST /v1/models/{name}:predict
{example}</pre>
<script>{_SCRIPT}</script></body></html>"""
