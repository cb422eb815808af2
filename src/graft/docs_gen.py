"""Write the spec references ``docs/specs/TASK.md`` from the spec models of every task.

    python -m graft.docs_gen            # refresh docs/specs/ (run from the repository root)
    python -m graft.docs_gen --check    # exit 1 if a file differs from the models

A test runs the check, so a spec field added without regenerating the docs fails CI.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graft import tasks
from graft.spec_doc import spec_markdown


def task_reference(name: str) -> str | None:
    """The Markdown reference of one task's specs, or None if it declares none."""
    models = tasks.get(name).spec_models()
    if not models:
        return None
    kinds = ", ".join(f"`{kind}`" for kind in models)
    parts = [f"# `graft {name}` spec reference", "",
             "Generated from the spec models by `python -m graft.docs_gen`; do not edit by "
             f"hand. `graft {name} spec KIND` prints each spec ({kinds}) as commented YAML to "
             "start from. Unknown keys are errors; relative paths are relative to the folder of "
             "the spec file that holds them.", ""]
    for kind, model in models.items():
        parts.append(spec_markdown(model, f"{kind} spec", level=2))
    return "\n".join(parts).rstrip("\n") + "\n"


def references() -> dict[str, str]:
    """File name -> content for every task with spec models."""
    out = {}
    for name in tasks.available():
        text = task_reference(name)
        if text is not None:
            out[f"{name}.md"] = text
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write docs/specs/TASK.md from the spec models.")
    ap.add_argument("--out", type=Path, default=Path("docs/specs"), help="Target folder.")
    ap.add_argument("--check", action="store_true", help="Only compare; exit 1 on a difference.")
    args = ap.parse_args(argv)
    stale = []
    for name, text in references().items():
        path = args.out / name
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(str(path))
        if not args.check:
            from graft.fsutil import write_text

            write_text(path, text)
    verb = "differ from the spec models (run python -m graft.docs_gen)" if args.check \
        else "written"
    print(f"{len(stale)} file(s) {verb}" + (f": {', '.join(stale)}" if stale else ""))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
