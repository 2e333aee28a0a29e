// The states are sealed: a crate that could add a state could also add transitions.
use iris_task::{State, StateKind};

struct Paused;

impl State for Paused {
    const KIND: StateKind = StateKind::Pending;
}

fn main() {}
