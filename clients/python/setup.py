"""Build hook: the protobuf code of EnvService is generated into the wheel at build time.

The project never commits generated code (`make proto` makes the service's copy); this package
makes its own from the same `.proto` files (`proto/` links to the repository's), with the
grpcio-tools the build requires, so `pip install ./clients/python` needs no other step. The
modules keep their proto package names (`alfagent.env.v1.env_pb2`, `alfagent.trajectory.v1…`),
as protoc generates imports between them by those names.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PROTOS = ("alfagent/trajectory/v1/trajectory.proto", "alfagent/env/v1/env.proto")


def proto_root() -> Path:
    for candidate in (HERE / "proto", HERE.parent.parent / "proto"):
        if (candidate / PROTOS[0]).is_file():
            return candidate
    raise FileNotFoundError(f"no {PROTOS[0]} under {HERE / 'proto'}: build from the repository")


def generate(out: Path) -> None:
    from grpc_tools import protoc

    out.mkdir(parents=True, exist_ok=True)
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root()}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *PROTOS,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")


class BuildWithProtos(build_py):
    def run(self) -> None:
        super().run()
        generate(Path(self.build_lib))


setup(cmdclass={"build_py": BuildWithProtos})
