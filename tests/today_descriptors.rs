//! The transcription of today's Iris protos (`proto/today/`) is checked against the pinned wheel's
//! own Python descriptors, field by field: number, type, label, presence, real oneof and type name
//! of every field of every message (nested ones too), every enum value, and every method of the
//! three services. A field that drifts (a number changed by hand, an `optional` lost, a field the
//! script forgot) fails here.
//!
//! The one exemption is by name: the fields numbered from 100 that the crate adds and marks
//! "(iris-task)", which Iris does not have.

#[path = "iris/mod.rs"]
mod iris;

use std::collections::BTreeMap;
use std::process::Command;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};
use serde_json::{Value, json};

/// The fields the crate adds to Iris's messages, numbered from 100 and marked "(iris-task)".
const CRATE_ONLY: &[(&str, &str, i32)] = &[
    ("iris.job.TaskStatus", "ended_at", 100),
    ("iris.job.TaskAttempt", "assigned_at", 100),
    ("iris.job.TaskAttempt", "stopped_at", 101),
];

/// The three services a controller and a worker speak.
const SERVICES: &[&str] = &[
    "iris.cluster.ControllerService",
    "iris.cluster.WorkerService",
    "iris.cluster.EndpointService",
];

fn transcription() -> FileDescriptorSet {
    let root = iris::root().join("proto/today");
    protox::compile(["controller.proto", "worker.proto"], [root])
        .expect("the transcription compiles")
}

/// The transcription's descriptors in the shape `tests/today/descriptors.py` prints.
fn described(fds: &FileDescriptorSet) -> Value {
    let mut messages = BTreeMap::new();
    let mut enums = BTreeMap::new();
    let mut services = BTreeMap::new();
    let enum_of = |e: &prost_types::EnumDescriptorProto| -> Value {
        e.value
            .iter()
            .map(|v| (v.name().to_owned(), json!(v.number())))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    fn message(
        prefix: &str,
        m: &DescriptorProto,
        messages: &mut BTreeMap<String, Value>,
        enums: &mut BTreeMap<String, Value>,
        enum_of: &dyn Fn(&prost_types::EnumDescriptorProto) -> Value,
    ) {
        let name = format!("{prefix}.{}", m.name());
        let real_oneof = |index: Option<i32>| -> Option<String> {
            let index = usize::try_from(index?).ok()?;
            let oneof = m.oneof_decl.get(index)?;
            // A proto3 `optional` makes a synthetic oneof; Iris's editions files have none.
            let synthetic = m
                .field
                .iter()
                .any(|f| f.proto3_optional() && f.oneof_index == Some(index as i32));
            (!synthetic).then(|| oneof.name().to_owned())
        };
        let fields: Vec<Value> = m
            .field
            .iter()
            .filter(|f| {
                !CRATE_ONLY
                    .iter()
                    .any(|(message, field, _)| *message == name && *field == f.name())
            })
            .map(|f| {
                let repeated = f.label() == Label::Repeated;
                let oneof = real_oneof(f.oneof_index);
                // A map entry's key and value are always written: presence means nothing there.
                let map_entry = m.options.as_ref().is_some_and(|o| o.map_entry());
                let presence = (!map_entry).then_some(
                    !repeated
                        && (f.r#type() == Type::Message || f.proto3_optional() || oneof.is_some()),
                );
                json!({
                    "name": f.name(),
                    "number": f.number(),
                    "type": f.r#type() as i32,
                    "label": if repeated { 3 } else { 1 },
                    "presence": presence,
                    "oneof": oneof,
                    "type_name": f.type_name.as_deref().map(|t| t.trim_start_matches('.')),
                })
            })
            .collect();
        let mut oneofs: Vec<String> = (0..m.oneof_decl.len())
            .filter_map(|i| real_oneof(i32::try_from(i).ok()))
            .collect();
        oneofs.sort();
        messages.insert(name.clone(), json!({ "fields": fields, "oneofs": oneofs }));
        // Map entries too: a map's key and value types are their fields.
        for nested in &m.nested_type {
            message(&name, nested, messages, enums, enum_of);
        }
        for e in &m.enum_type {
            enums.insert(format!("{name}.{}", e.name()), enum_of(e));
        }
    }
    let mut files = Vec::new();
    for file in &fds.file {
        files.push(file.name().to_owned());
        let package = file.package();
        for m in &file.message_type {
            message(package, m, &mut messages, &mut enums, &enum_of);
        }
        for e in &file.enum_type {
            enums.insert(format!("{package}.{}", e.name()), enum_of(e));
        }
        for s in &file.service {
            let methods: serde_json::Map<String, Value> = s
                .method
                .iter()
                .map(|m| {
                    let method = json!({
                        "input": m.input_type().trim_start_matches('.'),
                        "output": m.output_type().trim_start_matches('.'),
                        "client_streaming": m.client_streaming(),
                        "server_streaming": m.server_streaming(),
                    });
                    (m.name().to_owned(), method)
                })
                .collect();
            services.insert(format!("{package}.{}", s.name()), Value::Object(methods));
        }
    }
    files.sort();
    json!({ "files": files, "messages": messages, "enums": enums, "services": services })
}

fn wheel() -> Option<Value> {
    let python = iris::python()?;
    let output = Command::new(python)
        .arg(iris::root().join("tests/today/descriptors.py"))
        .output()
        .expect("the venv's python runs");
    assert!(
        output.status.success(),
        "tests/today/descriptors.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut wheel: Value = serde_json::from_slice(&output.stdout).expect("the dump is JSON");
    if let Some(files) = wheel["files"].as_array_mut() {
        files.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
    Some(wheel)
}

/// Every difference between the two descriptions, one line each, naming the message and field.
fn differences(ours: &Value, theirs: &Value) -> Vec<String> {
    let mut found = Vec::new();
    if ours["files"] != theirs["files"] {
        found.push(format!(
            "files: ours {} , the wheel's {}",
            ours["files"], theirs["files"]
        ));
    }
    for kind in ["messages", "enums", "services"] {
        let (ours, theirs) = (&ours[kind], &theirs[kind]);
        let names = |v: &Value| -> Vec<String> {
            v.as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        for name in names(theirs) {
            if ours.get(&name).is_none() {
                found.push(format!("{kind}: {name} is missing from the transcription"));
            }
        }
        for name in names(ours) {
            let Some(their) = theirs.get(&name) else {
                found.push(format!("{kind}: {name} is not in the wheel"));
                continue;
            };
            let our = &ours[&name];
            if kind != "messages" {
                if our != their {
                    found.push(format!("{kind}: {name}: ours {our}, the wheel's {their}"));
                }
                continue;
            }
            if our["oneofs"] != their["oneofs"] {
                found.push(format!(
                    "{name}: oneofs ours {}, the wheel's {}",
                    our["oneofs"], their["oneofs"]
                ));
            }
            let by_name = |v: &Value| -> BTreeMap<String, Value> {
                v["fields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|f| (f["name"].as_str().unwrap_or_default().to_owned(), f.clone()))
                    .collect()
            };
            let (our_fields, their_fields) = (by_name(our), by_name(their));
            for (field, theirs) in &their_fields {
                match our_fields.get(field) {
                    None => found.push(format!("{name}.{field}: missing from the transcription")),
                    Some(ours) if ours != theirs => {
                        found.push(format!("{name}.{field}: ours {ours}, the wheel's {theirs}"))
                    }
                    Some(_) => {}
                }
            }
            for field in our_fields.keys() {
                if !their_fields.contains_key(field) {
                    found.push(format!("{name}.{field}: not in the wheel (and not exempt)"));
                }
            }
        }
    }
    found
}

#[test]
fn the_transcription_matches_the_wheels_descriptors_field_by_field() {
    let Some(wheel) = wheel() else { return };
    let ours = described(&transcription());
    let found = differences(&ours, &wheel);
    assert!(
        found.is_empty(),
        "proto/today/ differs from marin-iris {}'s descriptors ({} differences; rerun \
         scripts/transcribe_iris_protos.py):\n{}",
        iris::pinned(),
        found.len(),
        found.join("\n")
    );
    // What was compared, so that a vacuous pass cannot hide.
    let count = |kind: &str| wheel[kind].as_object().map_or(0, |o| o.len());
    let fields: usize = wheel["messages"]
        .as_object()
        .into_iter()
        .flat_map(|o| o.values())
        .map(|m| m["fields"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(
        count("messages") > 100 && fields > 500,
        "{} messages, {fields} fields",
        count("messages")
    );
    for service in SERVICES {
        let methods = wheel["services"][service]
            .as_object()
            .map_or(0, |o| o.len());
        assert!(methods > 0, "{service} has no methods in the wheel");
    }
    eprintln!(
        "proto/today/ matches marin-iris {}: {} messages, {fields} fields, {} enums, {} methods",
        iris::pinned(),
        count("messages"),
        count("enums"),
        SERVICES
            .iter()
            .map(|s| wheel["services"][s].as_object().map_or(0, |o| o.len()))
            .sum::<usize>()
    );
}

/// The exemption covers exactly the crate's own fields: each is in the transcription, numbered
/// from 100, and marked "(iris-task)" in the comment just above it.
#[test]
fn only_the_crates_own_fields_are_exempt() {
    let fds = transcription();
    for (message, field, number) in CRATE_ONLY {
        assert!(
            *number >= 100,
            "{message}.{field}: the crate's fields are numbered from 100"
        );
        let (package, name) = message.rsplit_once('.').expect("a qualified name");
        let found = fds
            .file
            .iter()
            .filter(|f| f.package() == package)
            .flat_map(|f| &f.message_type)
            .filter(|m| m.name() == name)
            .flat_map(|m| &m.field)
            .find(|f| f.name() == *field)
            .unwrap_or_else(|| panic!("{message}.{field} is not in the transcription"));
        assert_eq!(found.number(), *number, "{message}.{field}");
    }
    let job =
        std::fs::read_to_string(iris::root().join("proto/today/job.proto")).expect("job.proto");
    let marked = job.lines().filter(|l| l.contains("(iris-task)")).count();
    assert_eq!(
        marked,
        CRATE_ONLY.len(),
        "every (iris-task) mark is an exempt field, and back"
    );
}
