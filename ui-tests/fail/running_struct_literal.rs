// A running task exists only because its worker confirmed it: its fields are private, so no struct
// literal can skip the transitions.
use iris_task::{Running, Task};

fn main() {
    let _forged: Task<Running> = Task {};
}
