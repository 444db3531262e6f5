"""Generate the protobuf and gRPC modules (and mypy stubs) from proto/ with grpcio-tools.

Usage: python scripts/gen_proto.py [OUT_DIR]   (default: core/, i.e. core/crossforce/v2/)
tests/unit/test_generated_code.py regenerates into a temporary folder and fails on any difference.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"


def generate(out_dir: Path) -> list[Path]:
    import grpc_tools
    from grpc_tools import protoc  # dev dependency: only needed to regenerate

    include = Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *[str(p) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    generated: list[Path] = []
    for pkg in sorted({p.parent.relative_to(PROTO_ROOT) for p in protos}):
        init = out_dir / pkg / "__init__.py"
        init.write_text('"""Generated from proto/ by scripts/gen_proto.py; do not edit."""\n')
        generated += [p for p in (out_dir / pkg).iterdir() if p.suffix in {".py", ".pyi"}]
    return sorted(generated)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "core"
    for path in generate(target):
        print(path.relative_to(target))
