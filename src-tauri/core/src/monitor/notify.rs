//! Desktop notifications when a GPU's memory becomes critical (issue 5 item 3). Optional: off until the user
//! turns on Settings › "Notify on critical". They are made from every reading, not from the coalesced pushes
//! to the window, so one is shown even while the window is closed to the tray or hidden behind the training
//! terminal; the alert engine's hysteresis keeps a run hovering at the line from raising one per reading.

use crate::monitor::alerts::Level;
use crate::monitor::sampler::Tick;

/// One notification's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// A notification for each GPU this reading moved to critical, with the first recommended action for it.
pub fn critical_notices(tick: &Tick, demo: bool) -> Vec<Notice> {
    let prefix = if demo { "Demo data: " } else { "" };
    tick.assessment
        .changes
        .iter()
        .filter(|c| c.to == Level::Critical)
        .map(|c| {
            let advice = tick
                .assessment
                .recommendations
                .iter()
                .find(|r| r.gpu == c.gpu)
                .map_or(String::new(), |r| format!("\n{}", r.reason));
            Notice {
                title: format!("{prefix}GPU {} memory is almost full", c.gpu),
                body: format!("{}{advice}", c.message),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::alerts::{Action, Assessment, LevelChange, Recommendation};
    use crate::monitor::{Snapshot, Timestamp};

    fn tick(changes: Vec<LevelChange>, recommendations: Vec<Recommendation>) -> Tick {
        Tick {
            snapshot: Snapshot {
                source: "nvml".into(),
                taken_at: Timestamp(0),
                gpus: Vec::new(),
                unavailable: Vec::new(),
                hosts: None,
            },
            assessment: Assessment {
                gpus: Vec::new(),
                changes,
                recommendations,
            },
        }
    }

    fn change(gpu: u32, from: Level, to: Level) -> LevelChange {
        LevelChange {
            gpu,
            from,
            to,
            message: format!("GPU {gpu} memory changed"),
            message_key: None,
        }
    }

    #[test]
    fn only_a_change_to_critical_notifies_and_it_says_what_to_do() {
        let rec = Recommendation {
            gpu: 1,
            action: Action::EnableGradientCheckpointing { pid: 7 },
            reason: "pid 7 grew by 9.0 GiB in the last 120 s".into(),
            reason_message: None,
        };
        let t = tick(
            vec![
                change(0, Level::Normal, Level::Warning),
                change(1, Level::Warning, Level::Critical),
                change(2, Level::Critical, Level::Warning),
            ],
            vec![rec],
        );
        assert_eq!(
            critical_notices(&t, false),
            [Notice {
                title: "GPU 1 memory is almost full".into(),
                body: "GPU 1 memory changed\npid 7 grew by 9.0 GiB in the last 120 s".into(),
            }]
        );
        let demo = critical_notices(
            &tick(vec![change(0, Level::Normal, Level::Critical)], vec![]),
            true,
        );
        assert_eq!(demo[0].title, "Demo data: GPU 0 memory is almost full");
        assert_eq!(demo[0].body, "GPU 0 memory changed");
    }
}
