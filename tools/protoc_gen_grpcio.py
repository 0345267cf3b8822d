"""A protoc plugin (for `buf generate`) that runs grpc_tools' own generators.

buf cannot use `grpc_python` as a protoc builtin, and the machines have no
protoc. grpc_tools ships protoc as a Python extension, so this plugin writes
the request's descriptors to a temporary descriptor set, lets grpc_tools emit
`*_pb2.py`, `*_pb2.pyi` and `*_pb2_grpc.py`, and hands the files back to buf.

Generated modules live under the `service.gen` package, so absolute imports of
our own protos (`from payment.v1 import ...`) are rewritten to match. The
plugin option `package=<dotted prefix>` (buf.gen.yaml's `opt`) names another
package: the payment-client library gets its own copy under `payment_client.gen`.
"""

from __future__ import annotations

import pathlib
import re
import sys
import tempfile

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc

PACKAGE_PREFIX = "service.gen."
OWN_IMPORT = re.compile(r"^from (payment\.v\d+) import ", re.MULTILINE)


def package_prefix(parameter: str) -> str:
    """`package=payment_client.gen` -> "payment_client.gen."; the default is service.gen."""
    options = dict(item.split("=", 1) for item in parameter.split(",") if "=" in item)
    prefix = options.get("package", "")
    return prefix.rstrip(".") + "." if prefix else PACKAGE_PREFIX


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    prefix = package_prefix(request.parameter)
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp, "out")
        out.mkdir()
        descriptor_set = pathlib.Path(tmp, "request.pb")
        descriptor_set.write_bytes(
            descriptor_pb2.FileDescriptorSet(file=request.proto_file).SerializeToString()
        )
        args = [
            "protoc",
            f"--descriptor_set_in={descriptor_set}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *request.file_to_generate,
        ]
        if protoc.main(args) != 0:
            response.error = "grpc_tools.protoc failed for " + ", ".join(request.file_to_generate)
            return response
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            content = OWN_IMPORT.sub(rf"from {prefix}\1 import ", path.read_text())
            response.file.add(name=str(path.relative_to(out)), content=content)
    return response


def main() -> None:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    sys.stdout.buffer.write(generate(request).SerializeToString())


if __name__ == "__main__":
    main()
