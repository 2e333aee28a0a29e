//! `StateKind`: labels, classes, colours, the capability partitions and the wire numbers.

use iris_task::{
    AnyTask, Assigned, Building, CoschedFailed, Failed, JobId, Killed, Pending, Preempted,
    ProtoError, RetryPolicy, Running, State, StateKind, Succeeded, Task, TaskId, Timestamp,
    Unschedulable, WorkerFailed, WorkerId, proto,
};

#[test]
fn all_lists_every_state_in_lifecycle_order() {
    let labels: Vec<&str> = StateKind::ALL.iter().map(|s| s.label()).collect();
    assert_eq!(
        labels,
        [
            "pending",
            "assigned",
            "building",
            "running",
            "succeeded",
            "failed",
            "killed",
            "worker_failed",
            "unschedulable",
            "preempted",
            "cosched_failed"
        ]
    );
    let mut sorted = StateKind::ALL;
    sorted.sort();
    assert_eq!(sorted, StateKind::ALL, "Ord follows the lifecycle");
}

#[test]
fn labels_display_and_parse_back() {
    for state in StateKind::ALL {
        assert_eq!(state.to_string(), state.label());
        assert_eq!(state.label().parse::<StateKind>(), Ok(state));
        assert_eq!(state.css_class(), format!("status-{}", state.label()));
    }
    for bad in ["", "ASSIGNED", "Assigned", "worker-failed", "assigned "] {
        let err = bad.parse::<StateKind>().unwrap_err();
        assert_eq!(err.input(), bad);
    }
}

#[test]
fn assigned_is_amber_and_distinct_from_its_neighbours() {
    assert_eq!(StateKind::Assigned.color(), "#bc4c00");
    assert_eq!(StateKind::Pending.color(), "#9a6700");
    assert_eq!(StateKind::Building.color(), "#8250df");
    assert_eq!(StateKind::Running.color(), "#0969da");
    assert_eq!(StateKind::Preempted.color(), "#1b7c83");
    assert_eq!(StateKind::CoschedFailed.color(), "#6c3f1d");
    let mut colors: Vec<&str> = StateKind::ALL.iter().map(|s| s.color()).collect();
    colors.sort();
    colors.dedup();
    assert_eq!(colors.len(), 11, "every state has its own colour");
}

/// Distinct is not enough on a dashboard: no two states' colours are near each other (Euclidean
/// distance in RGB of at least 40 of 441).
#[test]
fn state_colours_are_far_apart() {
    let rgb = |color: &str| -> [f64; 3] {
        let channel = |at: usize| f64::from(u8::from_str_radix(&color[at..at + 2], 16).unwrap());
        [channel(1), channel(3), channel(5)]
    };
    for a in StateKind::ALL {
        for b in StateKind::ALL.into_iter().filter(|&b| b > a) {
            let (x, y) = (rgb(a.color()), rgb(b.color()));
            let distance = x
                .iter()
                .zip(&y)
                .map(|(p, q)| (p - q).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(distance >= 40.0, "{a} and {b} are {distance:.0} apart");
        }
    }
}

#[test]
fn capability_partitions_match_the_domain() {
    use StateKind::*;
    let active: Vec<StateKind> = StateKind::ALL
        .into_iter()
        .filter(|s| s.is_active())
        .collect();
    assert_eq!(active, [Assigned, Building, Running]);
    let executing: Vec<StateKind> = StateKind::ALL
        .into_iter()
        .filter(|s| s.is_executing())
        .collect();
    assert_eq!(executing, [Building, Running]);
    let terminal: Vec<StateKind> = StateKind::ALL
        .into_iter()
        .filter(|s| s.is_terminal())
        .collect();
    assert_eq!(
        terminal,
        [
            Succeeded,
            Failed,
            Killed,
            WorkerFailed,
            Unschedulable,
            Preempted,
            CoschedFailed
        ]
    );
    let schedulable: Vec<StateKind> = StateKind::ALL
        .into_iter()
        .filter(|s| s.is_schedulable())
        .collect();
    assert_eq!(schedulable, [Pending]);
}

#[test]
fn markers_name_their_kind() {
    assert_eq!(Pending::KIND, StateKind::Pending);
    assert_eq!(Assigned::KIND, StateKind::Assigned);
    assert_eq!(Building::KIND, StateKind::Building);
    assert_eq!(Running::KIND, StateKind::Running);
    assert_eq!(Succeeded::KIND, StateKind::Succeeded);
    assert_eq!(Failed::KIND, StateKind::Failed);
    assert_eq!(Killed::KIND, StateKind::Killed);
    assert_eq!(WorkerFailed::KIND, StateKind::WorkerFailed);
    assert_eq!(Unschedulable::KIND, StateKind::Unschedulable);
    assert_eq!(Preempted::KIND, StateKind::Preempted);
    assert_eq!(CoschedFailed::KIND, StateKind::CoschedFailed);
}

#[test]
fn wire_numbers_keep_their_historical_values_and_assigned_is_nine_then_today_s_iris() {
    let expected = [
        (StateKind::Pending, 1),
        (StateKind::Building, 2),
        (StateKind::Running, 3),
        (StateKind::Succeeded, 4),
        (StateKind::Failed, 5),
        (StateKind::Killed, 6),
        (StateKind::WorkerFailed, 7),
        (StateKind::Unschedulable, 8),
        (StateKind::Assigned, 9),
        (StateKind::Preempted, 10),
        (StateKind::CoschedFailed, 11),
    ];
    for (state, number) in expected {
        assert_eq!(proto::TaskState::from(state) as i32, number, "{state}");
        assert_eq!(StateKind::try_from(number), Ok(state));
        assert_eq!(
            StateKind::try_from(proto::TaskState::from(state)),
            Ok(state)
        );
    }
    assert_eq!(proto::TaskState::Assigned as i32, 9);
    assert_eq!(
        proto::TaskState::Assigned.as_str_name(),
        "TASK_STATE_ASSIGNED"
    );
    assert_eq!(
        proto::TaskState::Preempted.as_str_name(),
        "TASK_STATE_PREEMPTED"
    );
    assert_eq!(
        proto::TaskState::CoschedFailed.as_str_name(),
        "TASK_STATE_COSCHED_FAILED"
    );
    assert_eq!(proto::TaskState::Missing as i32, 12);
    assert_eq!(
        proto::TaskState::Missing.as_str_name(),
        "TASK_STATE_MISSING"
    );
}

/// MISSING (12) is only ever a worker's report: as a state it is an error of its own.
#[test]
fn missing_is_a_report_never_a_state() {
    assert_eq!(
        StateKind::try_from(12),
        Err(ProtoError::ReportOnlyState {
            field: "TaskState".to_owned()
        })
    );
    assert_eq!(
        StateKind::try_from(proto::TaskState::Missing),
        StateKind::try_from(12)
    );
    assert!(
        StateKind::try_from(12)
            .unwrap_err()
            .to_string()
            .contains("only a worker's report")
    );
    assert!(
        StateKind::ALL
            .iter()
            .all(|s| proto::TaskState::from(*s) != proto::TaskState::Missing)
    );
}

#[test]
fn unspecified_and_unknown_wire_numbers_are_errors_never_a_default() {
    assert_eq!(
        StateKind::try_from(0),
        Err(ProtoError::UnspecifiedState {
            field: "TaskState".to_owned()
        })
    );
    assert_eq!(
        StateKind::try_from(proto::TaskState::Unspecified),
        Err(ProtoError::UnspecifiedState {
            field: "TaskState".to_owned()
        })
    );
    for unknown in [13, 14, -1, i32::MIN, i32::MAX] {
        assert_eq!(
            StateKind::try_from(unknown),
            Err(ProtoError::UnknownState {
                field: "TaskState".to_owned(),
                value: unknown
            })
        );
    }
    assert_eq!(
        StateKind::try_from(0).unwrap_err().to_string(),
        "TaskState: TASK_STATE_UNSPECIFIED is not a valid task state"
    );
}

#[test]
fn any_task_converts_to_and_from_the_typed_task() {
    let task = Task::new(
        TaskId::new(JobId::new("j").unwrap(), 0),
        RetryPolicy::default(),
    )
    .assign(WorkerId::new("w").unwrap(), Timestamp::from_millis(1));
    let any = AnyTask::from(task.clone());
    assert!(matches!(any, AnyTask::Assigned(_)));
    assert_eq!(any.state(), StateKind::Assigned);
    assert_eq!(any.id(), task.id());
    assert_eq!(any.attempts(), task.attempts());
    assert_eq!(any.current_attempt(), task.current_attempt());
    assert_eq!(Task::<Assigned>::try_from(any.clone()), Ok(task));

    // The wrong state gives the task back untouched.
    let err = Task::<Running>::try_from(any.clone()).unwrap_err();
    assert_eq!(err.expected(), StateKind::Running);
    assert_eq!(err.task(), &any);
    assert_eq!(err.to_string(), "task j/task-0 is assigned, not running");
    assert_eq!(err.into_task(), any);
}

#[test]
fn discriminants_are_positions_in_all() {
    // `StateCounts` indexes its buckets by discriminant.
    for (position, state) in StateKind::ALL.into_iter().enumerate() {
        assert_eq!(state as usize, position, "{state}");
    }
}

#[test]
fn display_honours_width_and_fill() {
    assert_eq!(format!("{:>10}", StateKind::Pending), "   pending");
    assert_eq!(format!("{:*<10}", StateKind::Assigned), "assigned**");
    assert_eq!(format!("{:>9}", iris_task::JobState::Running), "  running");
}

#[test]
fn job_states_have_what_task_states_have() {
    use iris_task::JobState;
    let labels: Vec<&str> = JobState::ALL.iter().map(|s| s.label()).collect();
    assert_eq!(
        labels,
        [
            "pending",
            "running",
            "succeeded",
            "failed",
            "killed",
            "worker_failed",
            "unschedulable"
        ]
    );
    for state in JobState::ALL {
        // Styled as the task state of the same name, so a dashboard has one palette.
        let task_state: StateKind = state.label().parse().unwrap();
        assert_eq!(state.css_class(), task_state.css_class());
        assert_eq!(state.color(), task_state.color());
        assert_eq!(state.to_string().parse::<JobState>(), Ok(state));
        assert_eq!(
            state.is_terminal(),
            !matches!(state, JobState::Pending | JobState::Running)
        );
    }
    let err = "RUNNING".parse::<JobState>().unwrap_err();
    assert_eq!(err.input(), "RUNNING");
    for task_only in ["assigned", "preempted", "cosched_failed"] {
        assert!(
            task_only.parse::<JobState>().is_err(),
            "{task_only}: a task state, not a job state"
        );
    }
}
