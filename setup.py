"""The build's one step beyond pyproject.toml: the protobuf and gRPC modules, generated from
proto/ into the built package (they are never committed; `make proto` makes them for a
checkout). An sdist carries proto/, so a wheel built from it generates them the same way."""
from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
GENERATED_PACKAGES = ("gametap.v1", "gametap.q3.v1")


class BuildWithProtos(build_py):
    def run(self) -> None:
        super().run()
        from grpc_tools import protoc  # a build requirement (pyproject.toml)

        out = Path(self.build_lib)
        protos = sorted(str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto").rglob("*.proto"))
        include = str(Path(protoc.__file__).parent / "_proto")  # google/protobuf/*.proto
        args = ["protoc", f"-I{ROOT / 'proto'}", f"-I{include}", f"--python_out={out}", f"--pyi_out={out}",
                f"--grpc_python_out={out}", *protos]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed on {', '.join(protos)}")
        for package in GENERATED_PACKAGES:
            (out / package.replace(".", "/") / "__init__.py").touch()


setup(cmdclass={"build_py": BuildWithProtos})
