//! The per-task counts `task_has_work` reads (`timers_by_task`, `uncounted_by_task`) against the
//! tables they count, over any sequence of arming, clearing, firing, stream calls, answers and
//! task ends: invariant "a task has an entry exactly when it has a timer or an uncounted call,
//! and the entry is that number"; and "a task that ends well keeps the calls it made that are
//! not handed out yet (they go out), one that ends badly takes them with it, and an answer to
//! either finds no task".

use std::collections::HashMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Step {
    Arm { id: u32, task: u32, ms: u64 },
    Clear { id: u32 },
    FireDue { after_ms: u64 },
    StreamCall { call: u32, task: u32 },
    Answer { call: u32 },
    End { task: u32, sent: bool },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u32..12, 1u32..5, 0u64..50).prop_map(|(id, task, ms)| Step::Arm { id, task, ms }),
        (0u32..12).prop_map(|id| Step::Clear { id }),
        (0u64..60).prop_map(|after_ms| Step::FireDue { after_ms }),
        (100u32..112, 1u32..5).prop_map(|(call, task)| Step::StreamCall { call, task }),
        (100u32..112).prop_map(|call| Step::Answer { call }),
        (1u32..5, any::<bool>()).prop_map(|(task, sent)| Step::End { task, sent }),
    ]
}

fn counted(pairs: impl Iterator<Item = u32>) -> HashMap<u32, usize> {
    let mut out = HashMap::new();
    for task in pairs {
        *out.entry(task).or_default() += 1;
    }
    out
}

proptest! {
    #[test]
    fn per_task_counts_match_the_tables(steps in proptest::collection::vec(step(), 1..120)) {
        let mut st = HostState::new(1 << 20, 100, 100);
        let start = Instant::now();
        let mut seq = 0;
        for step in steps {
            match step {
                Step::Arm { id, task, ms } => {
                    st.disarm_timer(id); // re-arming replaces, as host_set_timer does
                    seq += 1;
                    st.arm_timer((start + Duration::from_millis(ms), seq), id, task);
                }
                Step::Clear { id } => st.disarm_timer(id),
                Step::FireDue { after_ms } => {
                    while st.take_due(start + Duration::from_millis(after_ms)).is_some() {}
                }
                Step::StreamCall { call, task } => {
                    if !st.calls_pending.contains_key(&call) {
                        let name = "body.read".to_owned();
                        st.send_uncounted(HostCallOut { task, call, name, payload: Vec::new() });
                    }
                }
                Step::Answer { call } => {
                    st.call_answered(call);
                }
                Step::End { task, sent } => {
                    let made = |st: &HostState| -> Vec<u32> {
                        st.calls_out.iter().filter(|c| c.task == task).map(|c| c.call).collect()
                    };
                    let before = made(&st);
                    st.end_task(task, sent);
                    let after = made(&st);
                    prop_assert_eq!(&after, &if sent { before } else { Vec::new() });
                    prop_assert!(!st.calls_pending.values().any(|t| *t == task), "an answer finds task {}", task);
                }
            }
            prop_assert_eq!(&st.timers_by_task, &counted(st.timers.values().map(|(_, t)| *t)));
            let uncounted = st.calls_uncounted.iter().filter_map(|c| st.calls_pending.get(c).copied());
            prop_assert_eq!(&st.uncounted_by_task, &counted(uncounted));
            for task in 1..5 {
                let has = st.timers.values().any(|(_, t)| *t == task)
                    || st.calls_pending.values().any(|t| *t == task);
                prop_assert_eq!(st.task_has_work(task), has, "task {}", task);
            }
        }
    }
}
