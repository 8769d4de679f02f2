//! Which child builds of a batch start, and which never will (pure, table-tested; R-BATCH-05,
//! R-BATCH-06):
//!
//! - a child starts once every `depend-on` child ended SUCCEEDED, and while fewer than `jobs`
//!   run; [OPEN] decided: a dependency that failed with `ignore-failure` counts as done;
//! - a child whose dependency failed (without ignore-failure) or never ran is STOPPED without
//!   running, and so are its dependents;
//! - `fast-fail`: the first failure (without ignore-failure) stops the running siblings and
//!   every child not started yet; otherwise the others go on;
//! - the batch FAILED when a child failed without ignore-failure, STOPPED when it was stopped
//!   from outside, SUCCEEDED otherwise.

use crate::engine::Status;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Running,
    Ended(Status),
    /// Never ran: a dependency did not succeed, fast-fail, or the batch was stopped.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Start(usize),
    /// Stop a running child (fast-fail or a stop from outside).
    Stop(usize),
}

pub struct Schedule {
    pub states: Vec<State>,
    deps: Vec<Vec<usize>>,
    ignore: Vec<bool>,
    fast_fail: bool,
    jobs: usize,
    /// Set by fast-fail or a stop: nothing starts any more.
    halted: bool,
    stopped_from_outside: bool,
}

impl Schedule {
    /// `deps[i]`: the children `i` depends on, by index.
    pub fn new(deps: Vec<Vec<usize>>, ignore: Vec<bool>, fast_fail: bool, jobs: usize) -> Schedule {
        Schedule {
            states: vec![State::Pending; deps.len()],
            deps,
            ignore,
            fast_fail,
            jobs: jobs.max(1),
            halted: false,
            stopped_from_outside: false,
        }
    }

    /// Failed on its own (not stopped by fast-fail or from outside) and not ignored.
    fn failed(&self, i: usize) -> bool {
        matches!(self.states[i], State::Ended(s) if s != Status::Succeeded && s != Status::Stopped)
            && !self.ignore[i]
    }

    /// What to do now; the caller starts and stops what it is told and reports each end.
    pub fn advance(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        // Children whose dependencies cannot succeed any more never run (to a fixed point).
        loop {
            let mut changed = false;
            for i in 0..self.states.len() {
                if self.states[i] != State::Pending {
                    continue;
                }
                let blocked = self.deps[i].iter().any(|&d| match self.states[d] {
                    State::Skipped => true,
                    State::Ended(s) => s != Status::Succeeded && !self.ignore[d],
                    _ => false,
                });
                if blocked || self.halted {
                    self.states[i] = State::Skipped;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        if self.halted {
            return actions;
        }
        let mut running = self.states.iter().filter(|s| **s == State::Running).count();
        for i in 0..self.states.len() {
            if running >= self.jobs {
                break;
            }
            let ready = self.states[i] == State::Pending
                && self.deps[i].iter().all(|&d| matches!(self.states[d], State::Ended(s) if s == Status::Succeeded || self.ignore[d]));
            if ready {
                self.states[i] = State::Running;
                running += 1;
                actions.push(Action::Start(i));
            }
        }
        actions
    }

    /// A child ended; with fast-fail, a failure stops the running ones.
    pub fn ended(&mut self, i: usize, status: Status) -> Vec<Action> {
        self.states[i] = State::Ended(status);
        if self.fast_fail && self.failed(i) && !self.halted {
            self.halted = true;
            return self.running().into_iter().map(Action::Stop).collect();
        }
        Vec::new()
    }

    /// Stop everything (Ctrl-C, StopBuildBatch).
    pub fn stop(&mut self) -> Vec<Action> {
        self.halted = true;
        self.stopped_from_outside = true;
        self.running().into_iter().map(Action::Stop).collect()
    }

    fn running(&self) -> Vec<usize> {
        (0..self.states.len()).filter(|&i| self.states[i] == State::Running).collect()
    }

    pub fn done(&self) -> bool {
        self.states.iter().all(|s| matches!(s, State::Ended(_) | State::Skipped))
    }

    /// The batch's status once [`Self::done`].
    pub fn status(&self) -> Status {
        if (0..self.states.len()).any(|i| self.failed(i)) {
            Status::Failed
        } else if self.stopped_from_outside {
            Status::Stopped
        } else {
            Status::Succeeded
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    /// Runs a schedule to the end: `outcome[i]` is how child i ends when it runs; returns the
    /// order children started in and the final states.
    fn simulate(
        deps: Vec<Vec<usize>>,
        ignore: Vec<bool>,
        fast_fail: bool,
        jobs: usize,
        outcome: &[Status],
    ) -> (Vec<usize>, Vec<State>, Status) {
        let mut s = Schedule::new(deps, ignore, fast_fail, jobs);
        let mut started = Vec::new();
        let mut running: Vec<usize> = Vec::new();
        loop {
            for a in s.advance() {
                if let Action::Start(i) = a {
                    started.push(i);
                    running.push(i);
                }
            }
            assert!(running.len() <= jobs);
            let Some(i) = (!running.is_empty()).then(|| running.remove(0)) else { break };
            for a in s.ended(i, outcome[i]) {
                if let Action::Stop(j) = a {
                    running.retain(|r| *r != j);
                    s.ended(j, Stopped);
                }
            }
        }
        assert!(s.done());
        (started, s.states.clone(), s.status())
    }

    #[test]
    fn graph_order_and_failures() {
        // A diamond: 0 → {1, 2} → 3.
        let diamond = || vec![vec![], vec![0], vec![0], vec![1, 2]];
        let (order, _, status) = simulate(diamond(), vec![false; 4], false, 4, &[Succeeded; 4]);
        assert_eq!(order, [0, 1, 2, 3]);
        assert_eq!(status, Succeeded);
        // 1 fails: 3 never runs (STOPPED), 2 still runs without fast-fail; the batch FAILED.
        let (order, states, status) =
            simulate(diamond(), vec![false; 4], false, 4, &[Succeeded, Failed, Succeeded, Succeeded]);
        assert_eq!(order, [0, 1, 2]);
        assert_eq!(states[3], State::Skipped);
        assert_eq!(status, Failed);
        // With ignore-failure on 1, 3 runs and the batch can succeed.
        let (order, _, status) = simulate(
            diamond(),
            vec![false, true, false, false],
            false,
            4,
            &[Succeeded, Failed, Succeeded, Succeeded],
        );
        assert_eq!(order, [0, 1, 2, 3]);
        assert_eq!(status, Succeeded);
        // A failing root stops everything after it, transitively.
        let (order, states, _) =
            simulate(diamond(), vec![false; 4], false, 4, &[Failed, Succeeded, Succeeded, Succeeded]);
        assert_eq!(order, [0]);
        assert!(states[1..].iter().all(|s| *s == State::Skipped));
    }

    #[test]
    fn jobs_and_fast_fail() {
        let none = || vec![vec![]; 5];
        // Two at a time, in order.
        let (order, _, _) = simulate(none(), vec![false; 5], false, 2, &[Succeeded; 5]);
        assert_eq!(order, [0, 1, 2, 3, 4]);
        // fast-fail: 0 fails while 1 runs: 1 is stopped, 2.. never start.
        let (order, states, status) =
            simulate(none(), vec![false; 5], true, 2, &[Failed, Succeeded, Succeeded, Succeeded, Succeeded]);
        assert_eq!(order, [0, 1]);
        assert_eq!(states[1], State::Ended(Stopped));
        assert!(states[2..].iter().all(|s| *s == State::Skipped));
        assert_eq!(status, Failed);
        // Without fast-fail the others finish.
        let (order, _, status) =
            simulate(none(), vec![false; 5], false, 2, &[Failed, Succeeded, Succeeded, Succeeded, Succeeded]);
        assert_eq!(order.len(), 5);
        assert_eq!(status, Failed);
        // An ignored failure does not trigger fast-fail.
        let (order, _, status) = simulate(
            none(),
            vec![true, false, false, false, false],
            true,
            2,
            &[Failed, Succeeded, Succeeded, Succeeded, Succeeded],
        );
        assert_eq!(order.len(), 5);
        assert_eq!(status, Succeeded);
    }

    #[test]
    fn a_stop_from_outside() {
        let mut s = Schedule::new(vec![vec![]; 3], vec![false; 3], false, 1);
        assert_eq!(s.advance(), [Action::Start(0)]);
        assert_eq!(s.stop(), [Action::Stop(0)]);
        s.ended(0, Stopped);
        assert!(s.advance().is_empty());
        assert!(s.done());
        assert_eq!(s.status(), Stopped);
    }
}
