//! Ids and timestamps: validation, parsing and display.

use iris_task::{AttemptId, IdError, IdKind, JobId, TaskId, Timestamp, WorkerId};
use proptest::prelude::*;

#[test]
fn job_and_worker_ids_reject_empty_strings() {
    assert_eq!(JobId::new(""), Err(IdError::Empty { kind: IdKind::Job }));
    assert_eq!(
        WorkerId::new(""),
        Err(IdError::Empty {
            kind: IdKind::Worker
        })
    );
    assert_eq!(JobId::new("").unwrap_err().to_string(), "job id is empty");
}

#[test]
fn worker_ids_reject_whitespace_and_job_ids_only_parts_of_it() {
    for spaced in [
        " job",
        "job ",
        "my job",
        "job\n",
        "tab\there",
        "nbsp\u{a0}x",
    ] {
        assert!(matches!(
            WorkerId::new(spaced),
            Err(IdError::Whitespace {
                kind: IdKind::Worker,
                ..
            })
        ));
        // Iris names jobs so (`/alice/my job`): a job id may hold whitespace within a part.
        assert_eq!(JobId::new(spaced).unwrap().as_str(), spaced);
    }
    for blank in [" ", "\t", "/alice/ /child", "a/\u{a0}", " /b"] {
        assert_eq!(
            JobId::new(blank),
            Err(IdError::BlankPart {
                kind: IdKind::Job,
                id: blank.to_owned()
            }),
            "{blank:?}"
        );
    }
    assert_eq!(
        WorkerId::new("w 1").unwrap_err().to_string(),
        "worker id \"w 1\" contains whitespace"
    );
    assert_eq!(
        JobId::new("/alice/ ").unwrap_err().to_string(),
        "job id \"/alice/ \" has a part that is only whitespace"
    );
}

#[test]
fn job_ids_may_nest_with_slashes() {
    let job = JobId::new("parent/child").unwrap();
    assert_eq!(job.as_str(), "parent/child");
    assert_eq!(job.to_string(), "parent/child");
    assert_eq!("parent/child".parse::<JobId>().unwrap(), job);
}

#[test]
fn task_ids_display_as_job_slash_task_index() {
    let id = TaskId::new(JobId::new("train").unwrap(), 12);
    assert_eq!(id.to_string(), "train/task-12");
    assert_eq!(id.job().as_str(), "train");
    assert_eq!(id.index(), 12);
}

#[test]
fn task_ids_parse_at_the_last_task_separator() {
    let id: TaskId = "parent/task-1/task-2".parse().unwrap();
    assert_eq!(id.job().as_str(), "parent/task-1");
    assert_eq!(id.index(), 2);
    let id: TaskId = "a/b/task-0".parse().unwrap();
    assert_eq!(id, TaskId::new(JobId::new("a/b").unwrap(), 0));
    let max: TaskId = "j/task-4294967295".parse().unwrap();
    assert_eq!(max.index(), u32::MAX);
}

#[test]
fn task_ids_without_a_numeric_index_are_rejected() {
    for (bad, index) in [
        ("job/task-x", "x"),
        ("job/task-", ""),
        ("job/task-01", "01"),
        ("job/task-+1", "+1"),
        ("job/task--1", "-1"),
        ("job/task-1.0", "1.0"),
        ("job/task-4294967296", "4294967296"),
    ] {
        assert_eq!(
            bad.parse::<TaskId>(),
            Err(IdError::BadTaskIndex {
                id: bad.to_owned(),
                index: index.to_owned()
            }),
            "{bad:?}"
        );
    }
    assert_eq!(
        "job/task-x".parse::<TaskId>().unwrap_err().to_string(),
        "task id \"job/task-x\" has index \"x\", which is not a number from 0 to 4294967295"
    );
}

#[test]
fn task_ids_without_a_job_or_separator_are_rejected() {
    for bad in ["task-1", "job/1", "job-task-1", "/task-1"] {
        assert_eq!(
            bad.parse::<TaskId>(),
            Err(IdError::NoTaskIndex { id: bad.to_owned() }),
            "{bad:?}"
        );
    }
    assert_eq!(
        "".parse::<TaskId>(),
        Err(IdError::Empty { kind: IdKind::Task })
    );
    assert!(matches!(
        " /task-1".parse::<TaskId>(),
        Err(IdError::BlankPart {
            kind: IdKind::Task,
            ..
        })
    ));
    assert_eq!(
        "my job/task-1".parse::<TaskId>().unwrap().job().as_str(),
        "my job"
    );
}

#[test]
fn attempt_ids_and_timestamps_are_plain_ordered_numbers() {
    assert_eq!(AttemptId::new(3).get(), 3);
    assert_eq!(AttemptId::new(3).to_string(), "3");
    assert!(AttemptId::new(2) < AttemptId::new(3));
    assert_eq!(Timestamp::from_millis(-5).as_millis(), -5);
    assert_eq!(Timestamp::from_millis(42).to_string(), "42ms");
    assert!(Timestamp::from_millis(1) < Timestamp::from_millis(2));
}

#[test]
fn task_ids_sort_by_job_then_index() {
    let id = |s: &str| s.parse::<TaskId>().unwrap();
    let mut ids = vec![id("b/task-0"), id("a/task-10"), id("a/task-2")];
    ids.sort();
    assert_eq!(ids, [id("a/task-2"), id("a/task-10"), id("b/task-0")]);
}

proptest! {
    #[test]
    fn every_task_id_round_trips_through_text(job in "[a-z0-9_./-]{1,20}", index: u32) {
        let job = JobId::new(job).unwrap();
        let id = TaskId::new(job, index);
        prop_assert_eq!(id.to_string().parse::<TaskId>(), Ok(id));
    }

    #[test]
    fn parsing_any_text_never_panics_and_what_parses_round_trips(text in any::<String>()) {
        if let Ok(id) = text.parse::<TaskId>() {
            prop_assert_eq!(id.to_string(), text.clone());
        }
        if let Ok(job) = text.parse::<JobId>() {
            prop_assert_eq!(job.as_str(), text.as_str());
        }
    }
}

#[test]
fn every_whitespace_character_is_rejected_and_nothing_else() {
    // The ASCII fast path of the worker check must agree with `char::is_whitespace`, and so must
    // the job check of a part made of one character.
    let samples = (0u32..0x3000)
        .filter_map(char::from_u32)
        .chain(['\u{feff}', '\u{205f}']);
    for c in samples {
        let id = format!("a{c}b");
        assert_eq!(
            WorkerId::new(id.as_str()).is_err(),
            c.is_whitespace(),
            "{:?}",
            c
        );
        assert!(JobId::new(id.as_str()).is_ok() || c == '/', "{c:?}");
        assert_eq!(
            JobId::new(format!("/a/{c}")).is_err(),
            c.is_whitespace(),
            "{:?}",
            c
        );
        assert_eq!(
            format!("j/{c}/task-1").parse::<TaskId>().is_err(),
            c.is_whitespace(),
            "{:?}",
            c
        );
    }
}

#[test]
fn display_honours_width_and_fill() {
    let job = JobId::new("job").unwrap();
    assert_eq!(
        format!("{:>12}", TaskId::new(job.clone(), 0)),
        "  job/task-0"
    );
    assert_eq!(
        format!("{:-<12}", TaskId::new(job.clone(), 0)),
        "job/task-0--"
    );
    assert_eq!(format!("{:<5}|", WorkerId::new("w1").unwrap()), "w1   |");
    assert_eq!(format!("{:^7}", job), "  job  ");
    assert_eq!(format!("{:>4}", AttemptId::new(7)), "   7");
    assert_eq!(format!("{:>8}", Timestamp::from_millis(5)), "     5ms");
    // Without a width, nothing changes.
    assert_eq!(TaskId::new(job, 3).to_string(), "job/task-3");
    assert_eq!(Timestamp::from_millis(-2).to_string(), "-2ms");
}

#[test]
fn ids_built_apart_are_equal_hash_equal_and_sort_as_their_text() {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, RandomState};

    // The same text in separate allocations: parsed, built, cloned.
    let built = JobId::new("train").unwrap();
    let parsed = "train/task-0".parse::<TaskId>().unwrap().job().clone();
    assert_eq!(built, parsed);
    let hasher = RandomState::new();
    assert_eq!(hasher.hash_one(&built), hasher.hash_one(&parsed));
    assert_eq!(hasher.hash_one(&built), hasher.hash_one(built.clone()));
    let set: HashSet<JobId> = [built.clone(), parsed, built.clone()].into_iter().collect();
    assert_eq!(set.len(), 1);
    let (a, b) = (JobId::new("a").unwrap(), JobId::new("b").unwrap());
    assert!(a < b && a.cmp(&JobId::new("a").unwrap()).is_eq());

    let w1 = WorkerId::new("w1").unwrap();
    let again: WorkerId = "w1".parse().unwrap();
    assert_eq!(w1, again);
    assert_eq!(hasher.hash_one(&w1), hasher.hash_one(&again));
    assert!(WorkerId::new("w1").unwrap() < WorkerId::new("w2").unwrap());
    assert_eq!(format!("{w1:?}"), r#"WorkerId("w1")"#);
    assert_eq!(format!("{built:?}"), r#"JobId("train")"#);
}
