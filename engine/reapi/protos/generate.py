"""Regenerate engine/reapi/pb/ from the .proto files here (run after changing them).

    .venv/bin/pip install grpcio-tools && .venv/bin/python engine/reapi/protos/generate.py

The generated modules are committed (so installing jbuild needs no code generator), flattened
into one package: their `from google.api import x_pb2` imports become `from . import x_pb2`,
so they never collide with another copy of the googleapis modules (google.protobuf's
well-known types still come from the protobuf package).
"""

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE.parent / "pb"


def main() -> None:
    protos = sorted(str(p.relative_to(HERE)) for p in HERE.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{HERE}", f"--python_out={tmp}",
                        f"--grpc_python_out={tmp}", *protos], check=True)
        shutil.rmtree(OUT, ignore_errors=True)
        OUT.mkdir()
        (OUT / "__init__.py").write_text('"""Generated from engine/reapi/protos/ by its generate.py: do not edit."""\n')
        for path in sorted(Path(tmp).rglob("*.py")):
            text = re.sub(r"^from (?!google\.protobuf)[\w.]+ import (\w+_pb2)", r"from . import \1", path.read_text(),
                          flags=re.M)
            (OUT / path.name).write_text(text)


if __name__ == "__main__":
    main()
