//! Checking time on histories of the size the simulator produces: thousands
//! of operations on one key from eight or so concurrent clients, some of
//! them timing out. Times are printed (`cargo test -- --nocapture`), never
//! asserted; verdicts and step counts (the work done) are.

use std::time::Instant;

use paxon_linz::{check, CheckResult, ClientId, History, Op, Operation, Outcome, Ret, Time};

/// Operations in a history.
const OPERATIONS: usize = 5_000;
/// The longest an operation takes, in ticks.
const LATENCY_TICKS_MAX: u64 = 20;

/// The shape of a generated history.
struct Workload {
    seed: u64,
    /// Concurrent clients, each issuing its operations back to back.
    clients: u64,
    /// Operations whose answer is lost; half of them never take effect.
    lost: usize,
    /// Writes draw their values from `0..values`.
    values: u64,
}

/// SplitMix64: a tiny seeded generator, so the histories never change.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max`.
    fn up_to(&mut self, max: u64) -> u64 {
        self.next() % (max + 1)
    }
}

/// An operation with its linearization point, before it is run.
struct Planned {
    client: u64,
    invoke: u64,
    point: u64,
    ret: u64,
}

/// The clients issue operations back to back on key 0; each takes effect at
/// a random point of its interval. The operations are then run in the order
/// of those points on a real register.
fn simulate(workload: &Workload) -> History<u8, u64> {
    let values = workload.values;
    let mut rng = Rng(workload.seed);
    let mut planned = plan(&mut rng, workload.clients);
    planned.sort_by_key(|op| (op.point, op.client));
    let mut lost = vec![false; planned.len()];
    for _ in 0..workload.lost {
        lost[rng.up_to(planned.len() as u64 - 1) as usize] = true;
    }
    let mut register = None;
    let mut history = History::new();
    for (plan, lost) in planned.iter().zip(lost) {
        let op = random_op(&mut rng, register, values);
        let takes_effect = !lost || rng.up_to(1) == 0;
        let ret = if takes_effect {
            apply(&mut register, &op)
        } else {
            Ret::Written
        };
        let outcome = if lost {
            Outcome::Unknown
        } else {
            Outcome::Returned {
                ret,
                time: Time(plan.ret),
            }
        };
        let client = ClientId(plan.client);
        let operation = Operation {
            client,
            key: 0,
            op,
            invoke: Time(plan.invoke),
            outcome,
        };
        history.push(operation).expect("answers match requests");
    }
    history
}

fn plan(rng: &mut Rng, clients: u64) -> Vec<Planned> {
    let per_client = OPERATIONS / clients as usize;
    let mut planned = Vec::with_capacity(OPERATIONS);
    for client in 0..clients {
        let mut now = rng.up_to(LATENCY_TICKS_MAX);
        for _ in 0..per_client {
            let latency = 1 + rng.up_to(LATENCY_TICKS_MAX - 1);
            let point = now + rng.up_to(latency);
            planned.push(Planned {
                client,
                invoke: now,
                point,
                ret: now + latency,
            });
            now += latency + rng.up_to(2);
        }
    }
    planned
}

/// Half reads, then writes, compare-and-swaps (half of them expecting the
/// current value) and a few deletes.
fn random_op(rng: &mut Rng, register: Option<u64>, values: u64) -> Op<u64> {
    match rng.up_to(19) {
        0..=9 => Op::Read,
        10..=14 => Op::Write(rng.up_to(values - 1)),
        15..=18 => {
            let guess = Some(rng.up_to(values - 1));
            let expect = if rng.up_to(1) == 0 { register } else { guess };
            Op::Cas {
                expect,
                new: rng.up_to(values - 1),
            }
        }
        _ => Op::Delete,
    }
}

fn apply(register: &mut Option<u64>, op: &Op<u64>) -> Ret<u64> {
    match op {
        Op::Read => Ret::Read(*register),
        Op::Write(value) => {
            *register = Some(*value);
            Ret::Written
        }
        Op::Cas { expect, new } => {
            let swapped = register == expect;
            if swapped {
                *register = Some(*new);
            }
            Ret::Cas(swapped)
        }
        Op::Delete => {
            *register = None;
            Ret::Deleted
        }
    }
}

/// The history with the read at `index` answered by `seen` instead.
fn with_read(history: &History<u8, u64>, index: usize, seen: Option<u64>) -> History<u8, u64> {
    let mut changed = History::new();
    for (at, operation) in history.operations().iter().enumerate() {
        let mut operation = operation.clone();
        if let (true, Outcome::Returned { ret, .. }) = (at == index, &mut operation.outcome) {
            assert!(matches!(ret, Ret::Read(_)), "only reads are changed");
            *ret = Ret::Read(seen);
        }
        changed.push(operation).expect("a read answering a read");
    }
    changed
}

fn timed(label: &str, history: &History<u8, u64>) -> CheckResult<u8, u64> {
    let start = Instant::now();
    let result = check(history);
    let elapsed = start.elapsed();
    let verdict = match &result {
        CheckResult::Linearizable { steps } => format!("linearizable, {steps} steps"),
        CheckResult::NotLinearizable(violation) => {
            format!("not linearizable at #{}", violation.blocked[0].id.0)
        }
        CheckResult::GaveUp { .. } => "gave up".to_string(),
    };
    println!(
        "{label}: {} operations checked in {elapsed:?}: {verdict}",
        history.len()
    );
    result
}

#[test]
fn five_thousand_operations_of_eight_clients_with_unique_values_are_linearizable() {
    let workload = Workload {
        seed: 1,
        clients: 8,
        lost: 6,
        values: 1 << 32,
    };
    let result = timed("8 clients, unique values", &simulate(&workload));
    assert_eq!(result, CheckResult::Linearizable { steps: 28538 });
}

#[test]
fn five_thousand_operations_of_eight_clients_over_three_values_are_linearizable() {
    let workload = Workload {
        seed: 2,
        clients: 8,
        lost: 6,
        values: 3,
    };
    let result = timed("8 clients, 3 values", &simulate(&workload));
    assert_eq!(result, CheckResult::Linearizable { steps: 40183 });
}

#[test]
fn five_thousand_operations_of_ten_clients_with_fifty_lost_answers_are_linearizable() {
    let workload = Workload {
        seed: 3,
        clients: 10,
        lost: 50,
        values: 1 << 32,
    };
    let result = timed("10 clients, 50 lost answers", &simulate(&workload));
    assert_eq!(result, CheckResult::Linearizable { steps: 50793 });
}

#[test]
fn stale_read_late_in_five_thousand_operations_is_found() {
    let workload = Workload {
        seed: 4,
        clients: 8,
        lost: 6,
        values: 1 << 32,
    };
    let history = simulate(&workload);
    let reads = (history.operations().iter().enumerate())
        .filter(|(_, op)| op.op == Op::Read && op.return_time().is_some())
        .map(|(index, _)| index);
    let late_read = reads
        .clone()
        .rfind(|&index| index < 4 * OPERATIONS / 5)
        .expect("a read");
    let stale = (history.operations()[..late_read - 500].iter().rev())
        .find_map(|op| match (&op.op, op.return_time()) {
            (Op::Write(value), Some(_)) => Some(*value),
            _ => None,
        })
        .expect("an early write");
    let result = timed("stale read", &with_read(&history, late_read, Some(stale)));
    match result {
        CheckResult::NotLinearizable(violation) => {
            println!("{violation}");
            let blocked: Vec<_> = violation.blocked.iter().map(|op| op.id.0).collect();
            assert!(blocked.contains(&late_read), "blocked: {blocked:?}");
        }
        other => panic!("expected a violation, got {other:?}"),
    }
}
