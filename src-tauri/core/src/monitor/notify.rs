//! Desktop notifications when a GPU's memory becomes critical (issue 5 item 3). Optional: off until the user
//! turns on Settings › "Notify on critical". They are made from every reading, not from the coalesced pushes
//! to the window, so one is shown even while the window is minimized or hidden behind the training terminal;
//! the alert engine's hysteresis keeps a run hovering at the line from raising one per reading.
//!
//! The words are rendered here, in the user's language, from the same message tables the UI uses
//! ([`crate::i18n`]): the shell shows them itself, so they do not wait on the window's script, which a
//! minimized webview may throttle.

use crate::i18n::{self, Lang};
use crate::message::{Key, Message};
use crate::monitor::alerts::Level;
use crate::monitor::sampler::Tick;

/// One notification's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// A notification for each GPU this reading moved to critical, with the first recommended action for it, in
/// `lang`. A change or recommendation without a message (none is made so today) keeps its English words.
pub fn critical_notices(tick: &Tick, demo: bool, lang: Lang) -> Vec<Notice> {
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
                .map_or(String::new(), |r| {
                    format!(
                        "\n{}",
                        i18n::text_or(lang, r.reason_message.as_ref(), &r.reason)
                    )
                });
            let mut title = Message::new(Key::NotifyCritical).count("gpu", c.gpu.into());
            if demo {
                title = Message::new(Key::NotifyDemo).message("text", title);
            }
            Notice {
                // Every key has a wording (i18n's tests), so the key itself is never what is shown.
                title: i18n::text_or(lang, Some(&title), &title.key),
                body: format!(
                    "{}{advice}",
                    i18n::text_or(lang, c.message_key.as_ref(), &c.message)
                ),
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

    /// A change as the alert engine makes it: English words and the same sentence as a message.
    fn change(gpu: u32, from: Level, to: Level) -> LevelChange {
        LevelChange {
            gpu,
            from,
            to,
            message: format!("GPU {gpu} memory is almost full (critical, 97.0% full)"),
            message_key: Some(
                Message::new(Key::AlertLevelCritical)
                    .count("gpu", gpu.into())
                    .number("percent", 97.0, 1),
            ),
        }
    }

    fn checkpointing(gpu: u32) -> Recommendation {
        Recommendation {
            gpu,
            action: Action::EnableGradientCheckpointing { pid: 7 },
            reason: "pid 7 grew by 9.00 GiB in the last 2 min; gradient checkpointing keeps far fewer activations"
                .into(),
            reason_message: Some(
                Message::new(Key::RecCheckpointing)
                    .text("pid", "7")
                    .bytes("grew", 9 << 30)
                    .duration_ms("window", 120_000),
            ),
        }
    }

    #[test]
    fn only_a_change_to_critical_notifies_and_it_says_what_to_do() {
        let t = tick(
            vec![
                change(0, Level::Normal, Level::Warning),
                change(1, Level::Warning, Level::Critical),
                change(2, Level::Critical, Level::Warning),
            ],
            vec![checkpointing(1)],
        );
        assert_eq!(
            critical_notices(&t, false, Lang::En),
            [Notice {
                title: "GPU 1 memory is almost full".into(),
                body: "GPU 1 memory is almost full (critical, 97.0% full)\n\
                       pid 7 grew by 9.00 GiB in the last 2 min; gradient checkpointing keeps far fewer activations"
                    .into(),
            }]
        );
    }

    #[test]
    fn in_japanese_the_title_body_and_advice_are_japanese() {
        let t = tick(
            vec![change(1, Level::Warning, Level::Critical)],
            vec![checkpointing(1)],
        );
        assert_eq!(
            critical_notices(&t, false, Lang::Ja),
            [Notice {
                title: "GPU 1 のメモリがほぼ満杯です".into(),
                body: "GPU 1 のメモリがほぼ満杯です（危険、使用率 97.0%）\n\
                       pid 7 は直近 2 分 で 9.00 GiB 増えました。勾配チェックポイントを使うと保持するアクティベーションが大幅に減ります"
                    .into(),
            }]
        );
    }

    #[test]
    fn demo_data_says_so_in_either_language() {
        let t = tick(vec![change(0, Level::Normal, Level::Critical)], vec![]);
        let en = critical_notices(&t, true, Lang::En);
        assert_eq!(en[0].title, "Demo data: GPU 0 memory is almost full");
        assert_eq!(
            en[0].body,
            "GPU 0 memory is almost full (critical, 97.0% full)"
        );
        let ja = critical_notices(&t, true, Lang::Ja);
        assert_eq!(ja[0].title, "デモデータ：GPU 0 のメモリがほぼ満杯です");
        assert_eq!(
            ja[0].body,
            "GPU 0 のメモリがほぼ満杯です（危険、使用率 97.0%）"
        );
    }

    #[test]
    fn a_change_without_a_message_keeps_its_english() {
        let mut c = change(3, Level::Warning, Level::Critical);
        c.message_key = None;
        let notices = critical_notices(&tick(vec![c], vec![]), false, Lang::Ja);
        assert_eq!(
            notices[0].body,
            "GPU 3 memory is almost full (critical, 97.0% full)"
        );
        assert_eq!(notices[0].title, "GPU 3 のメモリがほぼ満杯です");
    }
}
