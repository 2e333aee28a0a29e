#!/usr/bin/env python3
"""Transcribes the pinned Iris wheel's `.proto` files (edition 2023) to proto3, for protox.

protox, the Rust protobuf compiler build.rs uses, does not parse editions. A proto3 transcription
is wire-compatible once every singular scalar or enum field outside a oneof is marked `optional`
(edition 2023 gives every field explicit presence; the only editions feature Iris uses) and the
reserved names are quoted. Nothing else changes: names, numbers, comments and the Apache-2.0
notice are kept, and a line under the notice says the file was transcribed.

Moving the pin is one command once the venv has the new wheel:

    python3 scripts/transcribe_iris_protos.py [SITE_PACKAGES]

SITE_PACKAGES defaults to the test venv's (`target/iris/venv/lib/python3.12/site-packages`). The
output goes to `proto/today/`; `tests/today_descriptors.rs` then checks it field by field against
the wheel's own Python descriptors.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_SITE = ROOT / "target/iris/venv/lib/python3.12/site-packages"
OUT = ROOT / "proto/today"

# What controller.proto and worker.proto import, transitively. actor.proto and errors.proto are
# not part of the controller's or the worker's wire.
FILES = ["time.proto", "iris_logging.proto", "query.proto", "vm.proto", "job.proto",
         "controller.proto", "worker.proto"]

# What the crate carries that Iris lacks: fields numbered from 100, marked "(iris-task)", which Iris
# ignores as unknown fields. tests/today_descriptors.rs exempts exactly these by name.
EXTRAS = {
    ("job.proto", "TaskStatus"): [
        "  // (iris-task) When a task that has ended ended. Iris's finished_at is its current",
        "  // attempt's (none for a task that ended while pending, or whose stop is unconfirmed).",
        "  iris.time.Timestamp ended_at = 100;",
    ],
    ("job.proto", "TaskAttempt"): [
        "  // (iris-task) When the attempt was assigned. Iris dates an attempt by its start only; the",
        "  // crate carries the assignment time so that an open attempt round-trips exactly. A peer",
        "  // that leaves it unset gets the attempt dated on receipt.",
        "  iris.time.Timestamp assigned_at = 100;",
        "  // (iris-task) When the controller ended the attempt, for one whose worker has not yet",
        "  // confirmed the stop: Iris leaves finished_at unset until then, and so does the crate.",
        "  iris.time.Timestamp stopped_at = 101;",
    ],
}

SCALARS = {"double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
           "fixed32", "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes"}

FIELD = re.compile(r"^(\s*)(repeated\s+|optional\s+)?([\w.]+)\s+(\w+)\s*=\s*(\d+)\b")
BLOCK = re.compile(r"^\s*(message|enum|oneof|service)\s+(\w+)\s*\{")
RESERVED_NAMES = re.compile(r"^(\s*reserved\s+)([A-Za-z_][\w\s,]*);")


def enum_names(texts):
    """Every enum's simple name, across all files: a field of such a type is an enum field."""
    names = set()
    for text in texts:
        names.update(re.findall(r"^\s*enum\s+(\w+)\s*\{", text, re.M))
    return names


def message_names(texts):
    names = set()
    for text in texts:
        names.update(re.findall(r"^\s*message\s+(\w+)\s*\{", text, re.M))
    return names


def transcribe(name, text, enums, messages):
    out = []
    scopes = []  # the kind of each open block: message, enum, oneof, service
    header_done = False
    for line in text.splitlines():
        code = line.split("//", 1)[0]
        if not header_done and line.startswith("edition"):
            if line.strip() != 'edition = "2023";':
                raise SystemExit(f"{name}: unexpected edition line {line!r}")
            out.append('syntax = "proto3";')
            header_done = True
            continue
        if re.match(r"^\s*option\s+features\.field_presence\s*=\s*EXPLICIT\s*;", code):
            # Explicit presence is what `optional` gives every field below.
            out.append("// (transcribed) option features.field_presence = EXPLICIT: each field says `optional`.")
            continue
        if "features" in code:
            raise SystemExit(f"{name}: an editions feature this script does not transcribe: {line!r}")
        block = BLOCK.match(code)
        if block:
            scopes.append(block.group(1))
        elif RESERVED_NAMES.match(code):
            m = RESERVED_NAMES.match(code)
            names = [n.strip() for n in m.group(2).split(",") if n.strip()]
            comment = line[len(code):]
            line = m.group(1) + ", ".join(f'"{n}"' for n in names) + ";" + code[m.end():] + comment
        else:
            field = FIELD.match(code)
            if field and scopes and scopes[-1] == "message":
                label, type_name = field.group(2), field.group(3)
                simple = type_name.rsplit(".", 1)[-1]
                if label is None:
                    if type_name in SCALARS or (simple in enums and simple not in messages):
                        line = field.group(1) + "optional " + line[len(field.group(1)):]
                    elif simple in enums and simple in messages:
                        raise SystemExit(f"{name}: {type_name} is both an enum and a message name")
                    elif simple not in messages:
                        raise SystemExit(f"{name}: unknown type {type_name!r} in {line!r}")
        # Closing braces end blocks (a line may open and close one: `message Empty {}`).
        opens = code.count("{")
        closes = code.count("}")
        if block:
            opens -= 1
        for _ in range(closes - opens):
            if not scopes:
                raise SystemExit(f"{name}: unbalanced braces at {line!r}")
            scopes.pop()
        if opens > closes:
            raise SystemExit(f"{name}: a block this script does not know: {line!r}")
        out.append(line)
    if not header_done:
        raise SystemExit(f"{name}: no edition line")
    if scopes:
        raise SystemExit(f"{name}: unclosed blocks {scopes}")
    for (file, message), lines in EXTRAS.items():
        if file != name:
            continue
        start = next((i for i, line in enumerate(out) if line.startswith(f"message {message} {{")), None)
        if start is None:
            raise SystemExit(f"{name}: no top-level message {message} for the crate's extra fields")
        end = next(i for i in range(start, len(out)) if out[i].startswith("}"))
        out[end:end] = lines
    text = "\n".join(out) + "\n"
    notice_end = text.find('syntax = "proto3";')
    note = ("// Transcribed from edition 2023 to proto3 by iris-task's scripts/transcribe_iris_protos.py\n"
            f"// (marin-iris {VERSION}): `optional` on every singular scalar and enum field outside a\n"
            "// oneof, reserved names quoted. Wire-compatible with the original.\n\n")
    return text[:notice_end] + note + text[notice_end:]


def wheel_version(site):
    for info in site.glob("marin_iris-*.dist-info"):
        return info.name[len("marin_iris-"):-len(".dist-info")]
    raise SystemExit(f"no marin_iris wheel under {site}")


def main():
    global VERSION
    site = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SITE
    rpc = site / "iris/rpc"
    VERSION = wheel_version(site)
    texts = {f: (rpc / f).read_text() for f in FILES}
    enums = enum_names(texts.values())
    messages = message_names(texts.values())
    OUT.mkdir(parents=True, exist_ok=True)
    for f, text in texts.items():
        (OUT / f).write_text(transcribe(f, text, enums, messages))
    (OUT / "VERSION").write_text(VERSION + "\n")
    print(f"transcribed {len(FILES)} files of marin-iris {VERSION} into {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
