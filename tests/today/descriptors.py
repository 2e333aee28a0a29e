"""Prints the pinned Iris wheel's own protobuf descriptors as JSON, for tests/today_descriptors.rs.

Run with the test venv's python. Every message (nested ones too), enum and service of the files
the crate transcribes, as the wheel's generated `*_pb2` modules hold them: for each field its
number, type, label, presence, real oneof and type name; for each enum its values; for each
service every method with its input and output types and streaming flags.
"""

import json

from iris.rpc import (controller_pb2, iris_logging_pb2, job_pb2, query_pb2, time_pb2, vm_pb2,
                      worker_pb2)

MODULES = [time_pb2, iris_logging_pb2, query_pb2, vm_pb2, job_pb2, controller_pb2, worker_pb2]


def field(f, map_entry=False):
    oneof = f.containing_oneof
    # A proto3 `optional` makes a synthetic oneof; editions never do. Only real oneofs count.
    real_oneof = oneof.name if oneof is not None and not getattr(oneof, "is_synthetic", False) else None
    return {
        "name": f.name,
        "number": f.number,
        "type": f.type,
        "label": 3 if f.is_repeated else 1,
        # A map entry's key and value are always written; presence means nothing there (and
        # editions and proto3 describe it differently).
        "presence": None if map_entry else f.has_presence,
        "oneof": real_oneof,
        "type_name": (f.message_type or f.enum_type).full_name if (f.message_type or f.enum_type) else None,
    }


def message(m, out):
    out["messages"][m.full_name] = {
        "fields": [field(f, m.GetOptions().map_entry) for f in m.fields],
        "oneofs": sorted(o.name for o in m.oneofs
                         if not (len(o.fields) == 1 and o.fields[0].has_presence and o.name == "_" + o.fields[0].name)),
    }
    # Map entries too: a map's key and value types are their fields.
    for nested in m.nested_types:
        message(nested, out)
    for e in m.enum_types:
        enum(e, out)


def enum(e, out):
    out["enums"][e.full_name] = {v.name: v.number for v in e.values}


def main():
    out = {"files": [], "messages": {}, "enums": {}, "services": {}}
    for module in MODULES:
        fd = module.DESCRIPTOR
        out["files"].append(fd.name)
        for m in fd.message_types_by_name.values():
            message(m, out)
        for e in fd.enum_types_by_name.values():
            enum(e, out)
        for s in fd.services_by_name.values():
            out["services"][s.full_name] = {
                meth.name: {
                    "input": meth.input_type.full_name,
                    "output": meth.output_type.full_name,
                    "client_streaming": meth.client_streaming,
                    "server_streaming": meth.server_streaming,
                }
                for meth in s.methods
            }
    print(json.dumps(out, sort_keys=True))


main()
