//! The monitor driven by its fake and replay sources (no GPU needed), plus `#[ignore]`d NVML tests for a machine
//! with an NVIDIA GPU.

use std::path::{Path, PathBuf};
use std::time::Duration;

use headroom_core::i18n::{self, Lang};
use headroom_core::monitor::advice::{Advice, PresetAdvisor};
use headroom_core::monitor::alerts::{Action, AlertConfig, Level, Recommendation};
use headroom_core::monitor::chart::{self, ChartFormat, ChartLanguage, ChartOptions};
use headroom_core::monitor::fake::{FakeConfig, FakeSource, Scenario, DEMO_MODEL};
use headroom_core::monitor::history::{History, HistoryConfig};
use headroom_core::monitor::nvml::{NvmlSource, SharedNvml};
use headroom_core::monitor::procs::{self, ModelLink, ProcFs, StopOptions, StoppedBy};
use headroom_core::monitor::record::{self, Header, Reader, Recorder};
use headroom_core::monitor::replay::ReplaySource;
use headroom_core::monitor::sampler::{self, Message, SamplerConfig, SamplerCore, Tick};
use headroom_core::monitor::source::{GpuSource, SampleRequest};
use headroom_core::monitor::{GpuStatus, Snapshot, Timestamp, GIB};
use headroom_core::Error;

const T0: u64 = 1_795_982_400_000; // 2026-11-29T20:00:00Z

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/monitor"
    ))
    .join(name)
}

fn fake(scenario: Scenario, gpus: u32, processes: u32) -> Box<dyn GpuSource> {
    Box::new(
        FakeSource::new(FakeConfig {
            scenario,
            gpus,
            processes,
            seed: 11,
            ..FakeConfig::default()
        })
        .unwrap(),
    )
}

/// One reading with the process list, from a source that has one to give.
fn snapshot_of(source: &mut dyn GpuSource, at: Timestamp) -> Snapshot {
    source
        .sample(SampleRequest {
            at,
            processes: true,
        })
        .unwrap()
        .unwrap()
}

/// Runs `n` one-second ticks from T0.
fn ticks(core: &mut SamplerCore, n: u64) -> Vec<Tick> {
    (0..n)
        .map(|k| core.tick(Timestamp(T0 + k * 1000)).unwrap().unwrap())
        .collect()
}

#[test]
fn history_of_24h_at_1hz_for_8_gpus_is_bounded_under_100_mb() {
    let config = HistoryConfig::default();
    assert_eq!(config.capacity, 86_400, "24 h at 1 Hz");
    let bound = config.memory_bound_bytes(8);
    assert!(bound < 100_000_000, "bound {bound}");
    // Columns are allocated whole when a GPU is first seen, so one snapshot of 8 GPUs and 64 process series
    // already holds nearly all the heap the history will ever take.
    let mut history = History::new(config).unwrap();
    let mut src = fake(Scenario::Training, 8, 64);
    let s = snapshot_of(src.as_mut(), Timestamp(T0));
    history.push(&s);
    let heap = history.heap_bytes();
    assert!(heap <= bound, "heap {heap} > bound {bound}");
    assert!(
        heap > bound * 9 / 10,
        "heap {heap} is far below the bound {bound}: the bound is not the real layout"
    );
}

#[test]
fn history_stops_growing_once_full() {
    let config = HistoryConfig {
        capacity: 500,
        process_capacity: 200,
        max_process_series: 6,
        max_gpus: 8,
    };
    let mut core = SamplerCore::new(
        fake(Scenario::Oom, 4, 10),
        SamplerConfig {
            history: config,
            ..SamplerConfig::default()
        },
    )
    .unwrap();
    ticks(&mut core, 1200);
    let full = core.history().heap_bytes();
    for k in 1200..2400 {
        core.tick(Timestamp(T0 + k * 1000)).unwrap();
    }
    assert_eq!(core.history().heap_bytes(), full);
    assert!(full <= config.memory_bound_bytes(4), "{full}");
    assert_eq!(core.history().len(), 500);
    assert!(core.history().process_keys().len() <= 6);
}

#[test]
fn a_leak_gets_a_falling_time_to_full_and_recommendations() {
    let mut core = SamplerCore::new(fake(Scenario::Leak, 1, 1), SamplerConfig::default()).unwrap();
    let t = ticks(&mut core, 600);
    let ttf: Vec<u64> = t
        .iter()
        .filter_map(|t| t.assessment.gpus[0].time_to_full_ms)
        .collect();
    assert!(ttf.len() > 500, "{}", ttf.len());
    // No trend before half the 120 s window is there.
    assert_eq!(t[50].assessment.gpus[0].time_to_full_ms, None);
    // 48 MiB/s into ~36 GiB free at 70 s: about 770 s to full.
    let at_70 = t[70].assessment.gpus[0].time_to_full_ms.unwrap();
    assert!((700_000..850_000).contains(&at_70), "{at_70}");
    let at_300 = t[300].assessment.gpus[0].time_to_full_ms.unwrap();
    assert!(at_300 < at_70);
    let recs = &t[300].assessment.recommendations;
    assert!(recs
        .iter()
        .any(|r| r.action == Action::EnableGradientCheckpointing { pid: 10_000 }));
    // The demo trainer names its model on the command line, so the switch can change that model's config.
    let switch = recs
        .iter()
        .find(|r| matches!(r.action, Action::SwitchPreset { .. }))
        .unwrap();
    assert_eq!(
        switch.action,
        Action::SwitchPreset {
            pid: 10_000,
            preset: "int4_double".into(),
            model: Some(DEMO_MODEL.into()),
            current_preset: None,
        }
    );
    assert!(
        switch
            .reason
            .starts_with("Qwen/Qwen2.5-32B-Instruct (pid 10000): 4-bit NF4"),
        "{}",
        switch.reason
    );
}

/// A leaking run whose one process says (or does not say) which model it loads and with which preset.
fn leak_with_model(link: Option<ModelLink>) -> Vec<Recommendation> {
    leak_with_model_advised(link, None)
}

fn leak_with_model_advised(
    link: Option<ModelLink>,
    advisor: Option<Box<dyn PresetAdvisor>>,
) -> Vec<Recommendation> {
    struct Relabel(Box<dyn GpuSource>, Option<ModelLink>);
    impl GpuSource for Relabel {
        fn label(&self) -> String {
            self.0.label()
        }
        fn sample(&mut self, r: SampleRequest) -> headroom_core::Result<Option<Snapshot>> {
            let mut s = self.0.sample(r)?;
            for p in s
                .iter_mut()
                .flat_map(|s| &mut s.gpus)
                .flat_map(|g| g.processes.iter_mut().flatten())
            {
                p.model = self.1.clone();
            }
            Ok(s)
        }
    }
    let source = Box::new(Relabel(fake(Scenario::Leak, 1, 1), link));
    let mut core = SamplerCore::new(source, SamplerConfig::default()).unwrap();
    if let Some(advisor) = advisor {
        core.set_advisor(advisor);
    }
    ticks(&mut core, 301)
        .pop()
        .unwrap()
        .assessment
        .recommendations
}

/// An advisor that always says the same, and counts how often it was asked.
struct Fixed(Advice, std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl PresetAdvisor for Fixed {
    fn advise(&self, _: &ModelLink, _: u64) -> Advice {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0.clone()
    }
}

#[test]
fn the_switch_recommendation_follows_the_estimate() {
    let link = ModelLink {
        id: "Qwen/Qwen3-8B".into(),
        run_id: None,
        preset: Some("fp16".into()),
        flag: None,
        batch_size: Some(2),
        sequence_length: Some(2048),
    };
    let switches = |advice: Advice| {
        let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let recs = leak_with_model_advised(
            Some(link.clone()),
            Some(Box::new(Fixed(advice, asked.clone()))),
        );
        let n = asked.load(std::sync::atomic::Ordering::SeqCst);
        assert!(n <= 1, "asked {n} times for one process");
        recs.into_iter()
            .filter(|r| matches!(r.action, Action::SwitchPreset { .. }))
            .collect::<Vec<_>>()
    };
    let fits = switches(Advice::Fits {
        preset: "int4".into(),
        skipped: "int8 skipped: needs 30.5-35.2 GiB, 22.0 GiB usable".into(),
        usable_bytes: 22 << 30,
        batch_size: 2,
        sequence_length: 2048,
    });
    assert_eq!(
        fits[0].action,
        Action::SwitchPreset {
            pid: 10_000,
            preset: "int4".into(),
            model: Some("Qwen/Qwen3-8B".into()),
            current_preset: Some("fp16".into()),
        }
    );
    for words in [
        "int4 is the first step of its chain that fits",
        "int8 skipped: needs 30.5-35.2 GiB",
        "batch 2 × 2048",
        "22.0 GiB of this GPU usable",
    ] {
        assert!(
            fits[0].reason.contains(words),
            "{words}: {}",
            fits[0].reason
        );
    }
    // Nothing left fits: a switch would trade one OOM for another.
    assert!(switches(Advice::NoneFits {
        why: "no step fits by the estimate".into(),
    })
    .is_empty());
    // No estimate: the stricter preset, saying it was not checked and why.
    let unknown = switches(Advice::Unknown("its model has no saved config".into()));
    assert!(
        matches!(&unknown[0].action, Action::SwitchPreset { preset, .. } if preset == "int4_double")
    );
    assert!(
        unknown[0]
            .reason
            .contains("not checked against this GPU because its model has no saved config"),
        "{}",
        unknown[0].reason
    );
}

#[test]
fn a_run_already_at_int4_double_is_not_told_to_switch_and_an_unknown_model_is_explained() {
    let launched = |preset: &str| ModelLink {
        id: "Qwen/Qwen3-8B".into(),
        run_id: Some("r1".into()),
        preset: Some(preset.into()),
        flag: None,
        batch_size: None,
        sequence_length: None,
    };
    let switches = |recs: &[Recommendation]| {
        recs.iter()
            .filter(|r| matches!(r.action, Action::SwitchPreset { .. }))
            .cloned()
            .collect::<Vec<_>>()
    };
    for preset in ["int4_double", "int4_offload"] {
        let recs = leak_with_model(Some(launched(preset)));
        assert!(switches(&recs).is_empty(), "{preset}: {recs:?}");
        assert!(recs
            .iter()
            .any(|r| matches!(r.action, Action::EnableGradientCheckpointing { .. })));
    }
    let from_int4 = switches(&leak_with_model(Some(launched("int4"))));
    assert_eq!(
        from_int4[0].action,
        Action::SwitchPreset {
            pid: 10_000,
            preset: "int4_double".into(),
            model: Some("Qwen/Qwen3-8B".into()),
            current_preset: Some("int4".into()),
        }
    );
    assert!(
        from_int4[0].reason.contains("launched with int4"),
        "{}",
        from_int4[0].reason
    );
    let unknown = switches(&leak_with_model(None));
    assert!(matches!(
        &unknown[0].action,
        Action::SwitchPreset { model: None, .. }
    ));
    assert!(
        unknown[0]
            .reason
            .contains("cannot tell which model it loads"),
        "{}",
        unknown[0].reason
    );
}

#[test]
fn run_to_oom_raises_warning_then_critical_and_clears_after() {
    let mut core = SamplerCore::new(fake(Scenario::Oom, 1, 1), SamplerConfig::default()).unwrap();
    let t = ticks(&mut core, 90);
    let changes: Vec<(Level, Level)> = t
        .iter()
        .flat_map(|t| t.assessment.changes.iter().map(|c| (c.from, c.to)))
        .collect();
    assert_eq!(
        changes,
        vec![
            (Level::Normal, Level::Warning),
            (Level::Warning, Level::Critical),
            (Level::Critical, Level::Normal)
        ]
    );
}

#[test]
fn an_idle_process_holding_memory_is_listed_and_recommended_for_stopping() {
    let config = SamplerConfig {
        alerts: AlertConfig {
            warning: 0.6,
            critical: 0.9,
            ..AlertConfig::default()
        },
        ..SamplerConfig::default()
    };
    // Trainer 10000 and an idle holder 10001 on the same GPU.
    let mut core = SamplerCore::new(fake(Scenario::Training, 1, 2), config).unwrap();
    let t = ticks(&mut core, 400);
    let idle = core.history().idle(T0 + 399 * 1000);
    let holder = idle.iter().find(|p| p.pid == 10_001).unwrap();
    assert!(holder.idle_ms >= 398_000, "{}", holder.idle_ms);
    let trainer = idle.iter().find(|p| p.pid == 10_000).unwrap();
    assert!(trainer.idle_ms <= 2_000, "{}", trainer.idle_ms);
    let stop = t[399]
        .assessment
        .recommendations
        .iter()
        .find(|r| matches!(r.action, Action::StopProcess { .. }))
        .unwrap();
    assert_eq!(
        stop.action,
        Action::StopProcess {
            pid: 10_001,
            held_bytes: 3 * GIB,
            idle_ms: holder.idle_ms
        }
    );
    // Before five minutes of idleness there is no such recommendation.
    assert!(!t[200]
        .assessment
        .recommendations
        .iter()
        .any(|r| matches!(r.action, Action::StopProcess { .. })));
    // The fake trainer's allocator caches over 20% of what it reserved: expandable segments is suggested.
    assert!(t[399].assessment.recommendations.iter().any(|r| matches!(
        &r.action,
        Action::SetEnv { name, value, .. } if name == "PYTORCH_CUDA_ALLOC_CONF" && value == "expandable_segments:True"
    )));
}

/// A source that gives process lists only when asked, as NVML does (the fake gives one with every reading).
struct ListsOnRequest(Box<dyn GpuSource>);

impl GpuSource for ListsOnRequest {
    fn label(&self) -> String {
        self.0.label()
    }

    fn sample(&mut self, request: SampleRequest) -> headroom_core::Result<Option<Snapshot>> {
        Ok(self.0.sample(request)?.map(|mut s| {
            for g in &mut s.gpus {
                g.processes = g.processes.take().filter(|_| request.processes);
            }
            s
        }))
    }
}

#[test]
fn processes_are_read_every_2_s_and_carried_between() {
    let source = Box::new(ListsOnRequest(fake(Scenario::Training, 1, 1)));
    let mut core = SamplerCore::new(source, SamplerConfig::default()).unwrap();
    let t = ticks(&mut core, 10);
    for tick in &t {
        assert!(tick.snapshot.gpus[0]
            .processes
            .as_ref()
            .is_some_and(|p| p.len() == 1));
    }
    // One process row per 2 s: 5 rows in 10 ticks.
    let rows = core.history().process_used_since(0, 10_000, 0);
    assert_eq!(rows.len(), 5, "{rows:?}");
}

#[test]
fn a_lost_gpu_is_a_gap_in_history_and_comes_back() {
    let mut core = SamplerCore::new(fake(Scenario::Lost, 2, 2), SamplerConfig::default()).unwrap();
    let t = ticks(&mut core, 60);
    assert_eq!(t[5].snapshot.gpus[0].status, GpuStatus::Lost);
    assert_eq!(t[40].snapshot.gpus[0].status, GpuStatus::Ok);
    let w = core
        .history()
        .window(Timestamp(T0), Timestamp(T0 + 59_000), 1000);
    let g0 = &w.gpus[0];
    assert_eq!(g0.used.len(), 60);
    assert_eq!(g0.used.v.iter().filter(|v| v.is_none()).count(), 15);
    assert!(w.gpus[1].used.v.iter().all(Option::is_some));
}

#[test]
fn a_lost_gpu_is_assessed_lost_with_a_recommendation_and_back_when_it_answers() {
    // Issue 11 item 9: a lost GPU was assessed `normal`, with nothing to do about it.
    let mut core = SamplerCore::new(fake(Scenario::Lost, 2, 2), SamplerConfig::default()).unwrap();
    let t = ticks(&mut core, 20);
    let first = &t[0].assessment;
    assert_eq!(first.gpus[0].level, Level::Lost);
    assert_eq!(first.gpus[0].fullness, None);
    assert_eq!(first.gpus[1].level, Level::Normal);
    assert_eq!(first.changes.len(), 1, "{:?}", first.changes);
    let change = &first.changes[0];
    assert_eq!(
        (change.gpu, change.from, change.to),
        (0, Level::Normal, Level::Lost)
    );
    assert!(
        change.message.contains("GPU 0 is lost"),
        "{}",
        change.message
    );
    let rec = first
        .recommendations
        .iter()
        .find(|r| r.gpu == 0)
        .expect("a recommendation for the lost GPU");
    assert_eq!(rec.action, Action::CheckGpu { gpu: 0 });
    assert!(rec.reason.contains("nvidia-smi -q -i 0"), "{}", rec.reason);
    // Lost for as long as it is lost (one change, a recommendation at every reading), then back.
    for tick in &t[1..15] {
        assert_eq!(tick.assessment.gpus[0].level, Level::Lost);
        assert!(tick.assessment.changes.is_empty());
        assert!(tick
            .assessment
            .recommendations
            .iter()
            .any(|r| r.action == Action::CheckGpu { gpu: 0 }));
    }
    let back = &t[15].assessment;
    assert_eq!(back.gpus[0].level, Level::Normal);
    assert_eq!(
        back.changes
            .iter()
            .map(|c| (c.gpu, c.from, c.to))
            .collect::<Vec<_>>(),
        vec![(0, Level::Lost, Level::Normal)]
    );
    assert!(back.changes[0].message.contains("answers again"));
    assert!(!back
        .recommendations
        .iter()
        .any(|r| matches!(r.action, Action::CheckGpu { .. })));
}

/// Every level change and recommendation carries its words as a message key with the key's arguments, so the UI
/// can show it in Japanese: across every demo scenario, an idle holder and a run with and without a model link.
#[test]
fn every_alert_and_recommendation_carries_a_well_formed_message() {
    let config = SamplerConfig {
        alerts: AlertConfig {
            warning: 0.6,
            critical: 0.9,
            ..AlertConfig::default()
        },
        ..SamplerConfig::default()
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut assess = |t: &Tick| {
        for c in &t.assessment.changes {
            let m = c.message_key.as_ref().expect("a level change's message");
            m.check().unwrap();
            seen.insert(m.key.clone());
        }
        for r in &t.assessment.recommendations {
            let m = r
                .reason_message
                .as_ref()
                .expect("a recommendation's message");
            m.check().unwrap();
            seen.insert(m.key.clone());
        }
    };
    for name in Scenario::NAMES {
        let scenario = Scenario::parse(name).unwrap();
        for (gpus, processes) in [(2, 2), (1, 2)] {
            let mut core = SamplerCore::new(fake(scenario, gpus, processes), config).unwrap();
            ticks(&mut core, 400).iter().for_each(&mut assess);
        }
    }
    let launched = ModelLink {
        id: "Qwen/Qwen3-8B".into(),
        run_id: Some("r1".into()),
        preset: Some("int4".into()),
        flag: None,
        batch_size: Some(1),
        sequence_length: Some(512),
    };
    for link in [None, Some(launched.clone())] {
        for r in leak_with_model(link) {
            let m = r.reason_message.unwrap();
            m.check().unwrap();
            seen.insert(m.key);
        }
    }
    let fits = Advice::Fits {
        preset: "int4_double".into(),
        skipped: String::new(),
        usable_bytes: 20 << 30,
        batch_size: 1,
        sequence_length: 512,
    };
    let unlaunched = ModelLink {
        preset: None,
        ..launched.clone()
    };
    for link in [launched, unlaunched] {
        let advisor = Fixed(fits.clone(), Default::default());
        for r in leak_with_model_advised(Some(link), Some(Box::new(advisor))) {
            let m = r.reason_message.unwrap();
            m.check().unwrap();
            seen.insert(m.key);
        }
    }
    for key in [
        "backend.alert.level.warning",
        "backend.alert.level.critical",
        "backend.alert.level.lost",
        "backend.alert.back.normal.percent",
        "backend.rec.check_gpu",
        "backend.rec.stop_idle",
        "backend.rec.expandable_segments",
        "backend.rec.checkpointing.full",
        "backend.rec.switch.linked",
        "backend.rec.switch.linked_from",
        "backend.rec.switch.unlinked",
        "backend.rec.switch.fits",
        "backend.rec.switch.fits_from",
    ] {
        assert!(seen.contains(key), "{key} never seen in {seen:?}");
    }
}

#[test]
fn every_fake_scenario_is_consistent_at_every_reading() {
    // Issue 11 item 9: in fake:oom the processes added up to 78 GB on a GPU reporting 9.7 GB used (a list
    // carried forward from before the trainer exited). On every GPU that answers, at every reading the sampler
    // hands out: Σ process memory ≤ used ≤ total, and used + free + reserved = total.
    for name in Scenario::NAMES {
        let scenario = Scenario::parse(name).unwrap();
        for (gpus, processes, seed) in [
            (1, 1, 0),
            (1, 4, 1),
            (3, 5, 2),
            (2, 64, 3),
            (1, 256, 4),
            (16, 0, 5),
        ] {
            let source = FakeSource::new(FakeConfig {
                scenario,
                gpus,
                processes,
                seed,
                ..FakeConfig::default()
            })
            .unwrap();
            let mut core = SamplerCore::new(Box::new(source), SamplerConfig::default()).unwrap();
            for (k, tick) in ticks(&mut core, 300).iter().enumerate() {
                for g in &tick.snapshot.gpus {
                    let at = format!(
                        "{name} gpus={gpus} processes={processes} reading {k} GPU {}",
                        g.index
                    );
                    if g.status == GpuStatus::Lost {
                        assert_eq!(g.memory.used_bytes, None, "{at}");
                        continue;
                    }
                    let m = g.memory;
                    let (total, used) = (m.total_bytes.unwrap(), m.used_bytes.unwrap());
                    let listed: u64 = g
                        .processes
                        .as_ref()
                        .unwrap_or_else(|| panic!("{at}: no process list"))
                        .iter()
                        .map(|p| p.used_bytes.unwrap())
                        .sum();
                    assert!(listed <= used, "{at}: processes {listed} > used {used}");
                    assert!(used <= total, "{at}: used {used} > total {total}");
                    assert_eq!(
                        used + m.free_bytes.unwrap() + m.reserved_bytes.unwrap(),
                        total,
                        "{at}"
                    );
                }
            }
        }
    }
}

#[test]
fn downsampling_a_day_keeps_the_spike() {
    let mut history = History::new(HistoryConfig::default()).unwrap();
    let mut src = fake(Scenario::Training, 1, 1);
    let mut peak = 0;
    for k in 0..86_400u64 {
        let s = src
            .sample(SampleRequest {
                at: Timestamp(T0 + k * 1000),
                processes: false,
            })
            .unwrap()
            .unwrap();
        peak = peak.max(s.gpus[0].memory.used_bytes.unwrap());
        history.push(&s);
    }
    let w = history.window(Timestamp(T0), Timestamp(T0 + 86_399_000), 2000);
    let used = &w.gpus[0].used;
    assert!(used.len() <= 2000, "{}", used.len());
    assert_eq!(used.v.iter().flatten().max().copied(), Some(peak));
}

#[test]
fn the_window_carries_each_gpus_utilization_and_power_beside_memory() {
    let mut history = History::new(HistoryConfig::default()).unwrap();
    let mut src = fake(Scenario::Training, 2, 1);
    let mut last = None;
    for k in 0..30u64 {
        let s = snapshot_of(src.as_mut(), Timestamp(T0 + k * 1000));
        history.push(&s);
        last = Some(s);
    }
    let last = last.unwrap();
    let w = history.window(Timestamp(T0), Timestamp(T0 + 29_000), 100);
    for (series, sample) in w.gpus.iter().zip(&last.gpus) {
        let util = series
            .utilization_percent
            .as_ref()
            .expect("utilization of a GPU series");
        let power = series.power_mw.as_ref().expect("power of a GPU series");
        assert_eq!(util.t, series.used.t, "same times as memory");
        assert_eq!(power.t, series.used.t, "same times as memory");
        assert_eq!(
            util.v.last().copied().flatten(),
            sample.utilization_percent.map(u64::from)
        );
        assert_eq!(
            power.v.last().copied().flatten(),
            sample.power_watts.map(|w| (w * 1000.0) as u64)
        );
    }
    assert!(w
        .processes
        .iter()
        .all(|p| p.utilization_percent.is_none() && p.power_mw.is_none()));
}

#[test]
fn the_sampler_thread_sends_ticks_and_answers_window_requests() {
    let config = SamplerConfig {
        interval_ms: 100,
        ..SamplerConfig::default()
    };
    let handle = sampler::spawn(fake(Scenario::Training, 2, 3), config, Timestamp::now).unwrap();
    let mut got = 0;
    while got < 3 {
        match handle
            .messages
            .recv_timeout(Duration::from_secs(5))
            .unwrap()
        {
            Message::Tick(t) => {
                assert_eq!(t.snapshot.gpus.len(), 2);
                got += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    let w = handle
        .client
        .window(Timestamp(0), Timestamp::now(), 100)
        .unwrap();
    assert_eq!(w.gpus.len(), 2);
    assert!(w.gpus[0].used.len() >= 3);
    assert_eq!(handle.client.idle().unwrap().len(), 3);
    handle.stop();
}

#[test]
fn sampler_settings_out_of_range_name_the_field() {
    for (config, field) in [
        (
            SamplerConfig {
                interval_ms: 50,
                ..SamplerConfig::default()
            },
            "interval:",
        ),
        (
            SamplerConfig {
                process_interval_ms: 10_000,
                ..SamplerConfig::default()
            },
            "process_interval:",
        ),
    ] {
        let err = SamplerCore::new(fake(Scenario::Idle, 1, 0), config)
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with(field), "{err}");
    }
}

fn record_fake(path: &Path, scenario: Scenario, n: u64) -> Vec<Snapshot> {
    let mut core = SamplerCore::new(fake(scenario, 2, 3), SamplerConfig::default()).unwrap();
    let mut rec =
        Recorder::create(path, &Header::new(core.source_label(), Timestamp(T0), 1000)).unwrap();
    ticks(&mut core, n)
        .into_iter()
        .map(|t| {
            rec.write(&t.snapshot).unwrap();
            t.snapshot
        })
        .collect()
}

#[test]
fn a_recording_replays_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.jsonl");
    let written = record_fake(&path, Scenario::Lost, 70);
    let mut replay = ReplaySource::open(&path).unwrap();
    assert_eq!(replay.interval_ms(), 1000);
    let mut read = Vec::new();
    while let Some(s) = replay
        .sample(SampleRequest {
            at: Timestamp(0),
            processes: false,
        })
        .unwrap()
    {
        assert!(s.source.starts_with("replay:"));
        read.push(Snapshot {
            source: "fake:lost".into(),
            ..s
        });
    }
    assert_eq!(read, written);
}

#[test]
fn a_cut_short_recording_reads_to_its_last_whole_line_and_a_bad_middle_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.jsonl");
    record_fake(&path, Scenario::Training, 5);
    let text = std::fs::read_to_string(&path).unwrap();
    // Cut in the middle of the last line, as a power loss would.
    std::fs::write(&path, &text[..text.len() - 40]).unwrap();
    let mut r = Reader::open(&path).unwrap();
    let mut n = 0;
    while r.next_snapshot().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 4);
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "{\"source\": 3}";
    std::fs::write(&path, lines.join("\n")).unwrap();
    let mut r = Reader::open(&path).unwrap();
    r.next_snapshot().unwrap().unwrap();
    let err = r.next_snapshot().unwrap_err().to_string();
    assert!(err.contains("line 3"), "{err}");
    std::fs::write(&path, "{\"format\":\"something-else\",\"version\":1,\"source\":\"x\",\"started_at\":\"2026-11-29T20:00:00Z\",\"interval_ms\":1}\n").unwrap();
    assert!(matches!(Reader::open(&path), Err(Error::Corrupt { .. })));
}

#[test]
fn the_committed_fixture_replays() {
    let mut replay = ReplaySource::open(&fixture("training-2gpu.jsonl")).unwrap();
    let first = snapshot_of(&mut replay, Timestamp(0));
    assert_eq!(first.gpus.len(), 2);
    let g = &first.gpus[0];
    assert_eq!(g.memory.total_bytes, Some(80 * GIB));
    let m = g.memory;
    assert_eq!(
        m.total_bytes,
        Some(m.used_bytes.unwrap() + m.free_bytes.unwrap() + m.reserved_bytes.unwrap())
    );
}

#[test]
fn csv_png_and_svg_exports() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.jsonl");
    record_fake(&path, Scenario::Lost, 40);
    let csv = dir.path().join("out.csv");
    let rows = record::export_csv(&path, &csv).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as u64, rows + 1);
    assert!(lines[0].starts_with("taken_at,gpu,pid,name,used_bytes,total_bytes"));
    // 40 snapshots × 2 GPUs; processes: 2 on GPU 0 except for its 15 lost snapshots, 1 on GPU 1.
    assert_eq!(rows, 80 + 2 * 25 + 40);
    // The name holds a comma, so it is quoted (RFC 4180).
    assert!(lines
        .iter()
        .any(|l| l.starts_with("2026-11-29T20:00:00Z,0,,\"Headroom demo GPU 0 (fake, 80 GiB)\",")));
    // A lost GPU's row has empty cells, not zeros.
    assert!(lines
        .iter()
        .any(|l| l.starts_with("2026-11-29T20:00:05Z,0,,") && l.ends_with(",,,,,,,")));

    let png = dir.path().join("chart.png");
    chart::chart_recording(&path, &png, ChartFormat::Png, ChartOptions::default()).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let svg = dir.path().join("chart.svg");
    chart::chart_recording(&path, &svg, ChartFormat::Svg, ChartOptions::default()).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{}", &text[..50]);
    assert!(text.contains("GPU 0: Headroom demo GPU 0"));
    assert!(text.contains("used GiB"));
    // The board's capacity, labelled, as the Monitor view draws it.
    assert!(text.contains("capacity 80.00 GiB"), "no capacity line");
}

use crate::chart_fonts::NOTO_CJK;

fn chart_in(lang: Lang, cjk_fonts: Vec<PathBuf>) -> ChartOptions {
    ChartOptions {
        language: ChartLanguage { lang, cjk_fonts },
        ..ChartOptions::default()
    }
}

/// The number of dark pixels in the top `rows` rows of a PNG: where plotters draws the chart's title.
fn dark_pixels_in_title(png: &Path, rows: u32) -> (u64, Vec<u8>) {
    let image = image::open(png).unwrap().to_rgb8();
    let mut dark = 0;
    let mut band = Vec::new();
    for y in 0..rows {
        for x in 0..image.width() {
            let p = image.get_pixel(x, y);
            band.extend_from_slice(&p.0);
            if p.0.iter().all(|c| *c < 128) {
                dark += 1;
            }
        }
    }
    (dark, band)
}

#[test]
fn a_japanese_chart_writes_its_words_in_japanese_with_a_cjk_font() {
    assert!(
        Path::new(NOTO_CJK).exists(),
        "{NOTO_CJK} is missing: install fonts-noto-cjk (the .deb depends on it; .ci/dev installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.jsonl");
    record_fake(&path, Scenario::Lost, 40);

    let svg = dir.path().join("ja.svg");
    let labels = chart::chart_recording(
        &path,
        &svg,
        ChartFormat::Svg,
        chart_in(Lang::Ja, vec![NOTO_CJK.into()]),
    )
    .unwrap();
    assert_eq!(labels.lang, Lang::Ja);
    assert_eq!(labels.font.as_deref(), Some(Path::new(NOTO_CJK)));
    assert_eq!(labels.fallback, None);
    let text = std::fs::read_to_string(&svg).unwrap();
    for words in [
        "GPU メモリ（fake:lost）",
        "使用量 GiB（2^30 バイト）",
        "2026-11-29T20:00:00Z からの経過秒数",
        "容量 80.00 GiB",
        "GPU 0：Headroom demo GPU 0",
    ] {
        assert!(text.contains(words), "no {words:?} in the Japanese SVG");
    }
    assert!(
        text.contains("Noto Sans CJK JP"),
        "the SVG does not name the CJK font"
    );
    assert!(!text.contains("used GiB"));

    // The same chart as PNG, in English and in Japanese: the title band is drawn in both, and differs.
    let en_png = dir.path().join("en.png");
    let ja_png = dir.path().join("ja.png");
    chart::chart_recording(
        &path,
        &en_png,
        ChartFormat::Png,
        chart_in(Lang::En, vec![NOTO_CJK.into()]),
    )
    .unwrap();
    let labels = chart::chart_recording(
        &path,
        &ja_png,
        ChartFormat::Png,
        chart_in(Lang::Ja, vec![NOTO_CJK.into()]),
    )
    .unwrap();
    assert_eq!(labels.font.as_deref(), Some(Path::new(NOTO_CJK)));
    let (en_dark, en_band) = dark_pixels_in_title(&en_png, 36);
    let (ja_dark, ja_band) = dark_pixels_in_title(&ja_png, 36);
    assert!(
        en_dark > 50 && ja_dark > 50,
        "title pixels: en {en_dark}, ja {ja_dark}"
    );
    assert_ne!(
        en_band, ja_band,
        "the Japanese title is drawn like the English one"
    );
}

#[test]
fn without_a_font_that_draws_japanese_the_chart_is_english_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.jsonl");
    record_fake(&path, Scenario::Lost, 10);
    let not_a_font = dir.path().join("not-a-font.ttc");
    std::fs::write(&not_a_font, b"not a font").unwrap();
    // A real font without Japanese: the chart's own Latin one.
    let latin = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/DejaVuSans.ttf"
    ));
    let candidates = vec![dir.path().join("missing.ttc"), not_a_font, latin];
    for format in [ChartFormat::Svg, ChartFormat::Png] {
        let out = dir.path().join(match format {
            ChartFormat::Svg => "fallback.svg",
            ChartFormat::Png => "fallback.png",
        });
        let labels =
            chart::chart_recording(&path, &out, format, chart_in(Lang::Ja, candidates.clone()))
                .unwrap();
        assert_eq!(labels.lang, Lang::En);
        assert_eq!(labels.font, None);
        let why = labels.fallback.expect("the fallback says why");
        assert_eq!(why.key, "backend.chart.no_cjk_font");
        assert!(
            i18n::render(Lang::Ja, &why)
                .unwrap()
                .contains("fonts-noto-cjk"),
            "the reason names the package"
        );
        if format == ChartFormat::Svg {
            let text = std::fs::read_to_string(&out).unwrap();
            assert!(
                text.contains("used GiB (2^30 bytes)") && text.contains("GPU memory, fake:lost")
            );
            assert!(!text.chars().any(|c| ('\u{3000}'..='\u{9fff}').contains(&c)
                || ('\u{ff00}'..='\u{ffef}').contains(&c)));
        }
    }
}

#[test]
fn stopping_a_real_child_with_sigterm() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let out = procs::stop_process(
        &ProcFs::default(),
        child.id(),
        Some(5 * GIB),
        StopOptions::new(Duration::from_secs(5)),
    )
    .unwrap();
    assert_eq!(out.stopped_by, StoppedBy::Sigterm);
    assert_eq!(out.freed_bytes, Some(5 * GIB));
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
}

#[test]
fn a_child_that_ignores_sigterm_gets_sigkill_after_the_grace() {
    let mut child = std::process::Command::new("sh")
        .args(["-c", "trap '' TERM; while :; do sleep 0.05; done"])
        .spawn()
        .unwrap();
    // Wait until the shell has installed its trap (bit 15 of SigIgn in /proc/PID/status, proc(5)).
    let status_path = format!("/proc/{}/status", child.id());
    let ignoring_term = || {
        std::fs::read_to_string(&status_path)
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("SigIgn:"))
                    .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            })
            .is_some_and(|mask| mask & (1 << 14) != 0)
    };
    let start = std::time::Instant::now();
    while !ignoring_term() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the shell never ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = procs::stop_process(
        &ProcFs::default(),
        child.id(),
        None,
        StopOptions::new(Duration::from_millis(300)),
    )
    .unwrap();
    assert_eq!(out.stopped_by, StoppedBy::Sigkill);
    assert_eq!(out.freed_bytes, None);
    child.wait().unwrap();
}

#[test]
fn stopping_someone_elses_process_is_refused_and_it_keeps_running() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let mut options = StopOptions::new(Duration::from_millis(100));
    options.owner_uid = options.owner_uid.wrapping_add(1);
    let err = procs::stop_process(&ProcFs::default(), child.id(), None, options).unwrap_err();
    assert!(matches!(err, Error::Process { .. }), "{err}");
    assert!(!ProcFs::default().is_gone(child.id()));
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Without a driver the NVML source is a typed "no NVIDIA driver" error; with one it reads real GPUs.
#[test]
fn nvml_without_a_driver_says_so() {
    match NvmlSource::open(ProcFs::default()) {
        Err(Error::NoDriver { reason }) => {
            let text = Error::NoDriver { reason }.to_string();
            assert!(text.starts_with("no NVIDIA driver: "), "{text}");
        }
        Err(other) => panic!("expected NoDriver, got {other}"),
        Ok(_) => {} // A machine with a GPU: the ignored tests below cover it.
    }
}

/// The app's one handle: every NVML source shares it; a load that failed is not kept, so a later try can work.
#[test]
fn the_shared_nvml_handle_is_loaded_once_or_not_kept() {
    let shared = SharedNvml::default();
    match shared.get() {
        Ok(first) => {
            let second = shared.get().unwrap();
            assert!(
                std::sync::Arc::ptr_eq(&first, &second),
                "one handle for the app's life"
            );
            let _a = NvmlSource::open_shared(&shared, ProcFs::default()).unwrap();
            let _b = NvmlSource::open_shared(&shared, ProcFs::default()).unwrap();
            assert!(std::sync::Arc::ptr_eq(&first, &shared.get().unwrap()));
        }
        Err(Error::NoDriver { .. }) => {
            assert!(!shared.is_loaded(), "a failed load must not be kept");
            assert!(matches!(
                NvmlSource::open_shared(&shared, ProcFs::default()),
                Err(Error::NoDriver { .. })
            ));
        }
        Err(other) => panic!("expected a handle or NoDriver, got {other}"),
    }
}

#[test]
fn a_missing_library_is_named() {
    let err =
        headroom_core::monitor::nvml::init_error(&nvml_wrapper::error::NvmlError::LibraryNotFound);
    assert_eq!(
        err.to_string(),
        "no NVIDIA driver: libnvidia-ml.so.1 not found"
    );
}

// ---- Real GPU tests: need an NVIDIA GPU and driver. Run with `cargo test -p headroom-core -- --ignored nvml_`.

#[test]
#[ignore = "needs an NVIDIA GPU and driver"]
fn nvml_reads_every_gpu_with_consistent_memory() {
    let mut src = NvmlSource::open(ProcFs::default()).unwrap();
    let s = snapshot_of(&mut src, Timestamp::now());
    assert!(!s.gpus.is_empty());
    for g in &s.gpus {
        assert_eq!(g.status, GpuStatus::Ok);
        let m = g.memory;
        let total = m.total_bytes.unwrap();
        assert!(total > GIB);
        // nvmlMemory_v2_t: total = used + free + reserved (within a page of rounding).
        let sum = m.used_bytes.unwrap() + m.free_bytes.unwrap() + m.reserved_bytes.unwrap();
        assert!(sum.abs_diff(total) <= 2 * 1024 * 1024, "{sum} vs {total}");
        assert!(g.name.as_deref().is_some_and(|n| !n.is_empty()));
        assert!(g
            .uuid
            .as_deref()
            .is_some_and(|u| u.starts_with("GPU-") || u.starts_with("MIG-")));
        for (field, missing) in [
            ("utilization_percent", g.utilization_percent.is_none()),
            ("temperature_c", g.temperature_c.is_none()),
            ("power_watts", g.power_watts.is_none()),
        ] {
            if missing {
                assert!(
                    s.unavailable.iter().any(|u| u.contains(field)),
                    "{field} null without a reason"
                );
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&s).unwrap());
}

#[test]
#[ignore = "needs an NVIDIA GPU and driver, and python3 with torch to hold memory"]
fn nvml_sees_a_process_that_holds_memory() {
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            "import torch,time; x=torch.empty(1<<30, dtype=torch.uint8, device='cuda'); print('ready', flush=True); time.sleep(60)",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    let mut src = NvmlSource::open(ProcFs::default()).unwrap();
    let s = snapshot_of(&mut src, Timestamp::now());
    let p = s
        .gpus
        .iter()
        .flat_map(|g| g.processes.iter().flatten())
        .find(|p| p.pid == child.id())
        .expect("our process in NVML's list");
    assert!(p.used_bytes.is_none_or(|b| b >= GIB), "{p:?}");
    assert_eq!(p.name.as_deref(), Some("python3"));
    let held = p.used_bytes;
    let out = procs::stop_process(
        &ProcFs::default(),
        child.id(),
        held,
        StopOptions::new(Duration::from_secs(10)),
    )
    .unwrap();
    assert_eq!(out.freed_bytes, held);
    child.wait().unwrap();
}

#[test]
fn each_nvml_start_failure_has_plain_words() {
    use headroom_core::monitor::nvml::init_error;
    use nvml_wrapper::error::NvmlError;
    for (err, words) in [
        (
            NvmlError::DriverNotLoaded,
            "no NVIDIA driver: the NVIDIA kernel driver is not loaded",
        ),
        (
            NvmlError::NoPermission,
            "no NVIDIA driver: no permission to talk to the NVIDIA driver",
        ),
    ] {
        assert_eq!(init_error(&err).to_string(), words);
    }
}

#[test]
fn source_specs_parse_or_name_the_field() {
    use headroom_core::monitor::SourceSpec;
    let fake = FakeConfig {
        gpus: 4,
        ..FakeConfig::default()
    };
    assert_eq!(
        SourceSpec::parse("nvml", fake.clone()).unwrap(),
        SourceSpec::Nvml
    );
    assert_eq!(
        SourceSpec::parse("fake:leak", fake.clone()).unwrap(),
        SourceSpec::Fake(FakeConfig {
            scenario: Scenario::Leak,
            gpus: 4,
            ..FakeConfig::default()
        })
    );
    assert_eq!(
        SourceSpec::parse("replay:a/b.jsonl", fake.clone()).unwrap(),
        SourceSpec::Replay(PathBuf::from("a/b.jsonl"))
    );
    for bad in ["replay:", "fake:", "rocm", ""] {
        let err = SourceSpec::parse(bad, fake.clone())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("source:"), "{bad}: {err}");
    }
}

#[test]
fn a_gpu_first_seen_after_the_history_wrapped_lines_up_in_time() {
    let mut history = History::new(HistoryConfig {
        capacity: 10,
        ..HistoryConfig::default()
    })
    .unwrap();
    let mut one = FakeSource::new(FakeConfig {
        gpus: 1,
        ..FakeConfig::default()
    })
    .unwrap();
    let mut two = FakeSource::new(FakeConfig {
        gpus: 2,
        ..FakeConfig::default()
    })
    .unwrap();
    for k in 0..20u64 {
        let req = SampleRequest {
            at: Timestamp(T0 + k * 1000),
            processes: false,
        };
        let s = if k < 17 {
            one.sample(req)
        } else {
            two.sample(req)
        };
        history.push(&s.unwrap().unwrap());
    }
    let w = history.window(Timestamp(T0), Timestamp(T0 + 19_000), 100);
    assert_eq!(w.gpus[0].used.t, w.gpus[1].used.t);
    assert_eq!(w.gpus[1].used.t.first(), Some(&(T0 + 10_000)));
    let present: Vec<bool> = w.gpus[1].used.v.iter().map(Option::is_some).collect();
    assert_eq!(present, [vec![false; 7], vec![true; 3]].concat());
}

#[test]
fn a_finished_loading_ramp_predicts_no_full_gpu() {
    // fake:training loads weights over 30 s, then stays at 70% (± noise, spikes at 100–109 s of each 120).
    let mut core =
        SamplerCore::new(fake(Scenario::Training, 1, 1), SamplerConfig::default()).unwrap();
    let t = ticks(&mut core, 100);
    for (k, tick) in t.iter().enumerate().skip(60) {
        // Noise on the plateau may fit a slightly rising line, but never one that fills the GPU within the
        // 15-minute horizon.
        let ttf = tick.assessment.gpus[0].time_to_full_ms;
        assert!(ttf.is_none_or(|ms| ms > 900_000), "tick {k}: {ttf:?}");
        assert!(
            tick.assessment.recommendations.is_empty(),
            "tick {k}: {:?}",
            tick.assessment.recommendations
        );
    }
}

#[test]
fn a_chart_to_a_missing_folder_fails_cleanly_and_an_empty_recording_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rec.jsonl");
    record_fake(&path, Scenario::Idle, 3);
    let out = dir.path().join("no/such/dir/chart.png");
    let err =
        chart::chart_recording(&path, &out, ChartFormat::Png, ChartOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    let empty = dir.path().join("empty.jsonl");
    Recorder::create(
        &empty,
        &Header::new("fake:idle".into(), Timestamp(T0), 1000),
    )
    .unwrap();
    let err = chart::chart_recording(
        &empty,
        &dir.path().join("e.svg"),
        ChartFormat::Svg,
        ChartOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("recording:"), "{err}");
}

/// The shell pushes these types to the UI; their TypeScript declarations must keep the wire names.
#[test]
fn snapshot_and_window_declare_typescript_types() {
    use headroom_core::monitor::history::HistoryWindow;
    use ts_rs::TS;
    let cfg = ts_rs::Config::default();
    let snapshot = Snapshot::decl(&cfg);
    assert!(snapshot.contains("taken_at: Timestamp"), "{snapshot}");
    let ts = Timestamp::decl(&cfg);
    assert!(ts.contains("type Timestamp = string"), "{ts}");
    assert!(
        snapshot.contains("unavailable: Array<string>"),
        "{snapshot}"
    );
    let gpu = headroom_core::monitor::GpuSample::decl(&cfg);
    assert!(gpu.contains("power_watts: number | null"), "{gpu}");
    assert!(
        gpu.contains("processes: Array<ProcessSample> | null"),
        "{gpu}"
    );
    let window = HistoryWindow::decl(&cfg);
    assert!(window.contains("from: Timestamp"), "{window}");
    let tick = headroom_core::monitor::sampler::Tick::decl(&cfg);
    assert!(tick.contains("assessment: Assessment"), "{tick}");
}

#[test]
fn the_sampler_thread_changes_its_interval_without_losing_history() {
    let config = SamplerConfig {
        interval_ms: 10_000,
        ..SamplerConfig::default()
    };
    let handle = sampler::spawn(fake(Scenario::Idle, 1, 1), config, Timestamp::now).unwrap();
    // The first reading comes at once; at 10 s the next would not come for ten seconds.
    assert!(matches!(
        handle.messages.recv_timeout(Duration::from_secs(5)),
        Ok(Message::Tick(_))
    ));
    let err = handle.client.set_interval(99).unwrap_err().to_string();
    assert_eq!(err, "interval: 99 ms is outside 100 ms to 10 s");
    handle.client.set_interval(100).unwrap();
    for _ in 0..5 {
        assert!(matches!(
            handle.messages.recv_timeout(Duration::from_secs(5)),
            Ok(Message::Tick(_))
        ));
    }
    let w = handle
        .client
        .window(Timestamp(0), Timestamp::now(), 100)
        .unwrap();
    assert!(w.gpus[0].used.len() >= 6, "the first reading is kept");
    handle.stop();
}

#[test]
fn an_export_goes_where_asked_or_under_exports_and_a_relative_path_is_refused() {
    use headroom_core::monitor::export::{destination, HistoryFormat};
    let dir = tempfile::tempdir().unwrap();
    let default = destination(dir.path(), HistoryFormat::Svg, None).unwrap();
    assert_eq!(default.parent().unwrap(), dir.path().join("exports"));
    assert!(dir.path().join("exports").is_dir(), "its folder is made");
    let name = default.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("monitor-") && name.ends_with(".svg"),
        "{name}"
    );
    let asked = dir.path().join("a/b/history.csv");
    let out = destination(
        dir.path(),
        HistoryFormat::Csv,
        Some(asked.to_str().unwrap()),
    )
    .unwrap();
    assert_eq!(out, asked);
    assert!(dir.path().join("a/b").is_dir());
    match destination(dir.path(), HistoryFormat::Png, Some("history.png")) {
        Err(headroom_core::Error::Invalid { field, .. }) => assert_eq!(field, "path"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_fleet_of_256_gpus_keeps_history_for_every_gpu_within_the_same_memory() {
    let config = HistoryConfig::default().for_many_gpus(256);
    assert_eq!(config.max_gpus, 256);
    assert_eq!(config.capacity, 21_600, "6 h at 1 Hz each");
    config.validate().unwrap();
    assert!(
        config.memory_bound_bytes(256)
            <= HistoryConfig {
                max_gpus: 64,
                ..HistoryConfig::default()
            }
            .memory_bound_bytes(64),
        "no more memory than 64 GPUs × 24 h"
    );
    // 24 h for 256 GPUs would be four times that: refused, naming the field.
    let err = HistoryConfig {
        max_gpus: 256,
        ..HistoryConfig::default()
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("max_gpus:"), "{err}");
    // Every one of 256 GPUs is recorded: one demo GPU read as 256.
    struct Fleet(Box<dyn GpuSource>);
    impl GpuSource for Fleet {
        fn label(&self) -> String {
            "fleet".into()
        }
        fn sample(&mut self, r: SampleRequest) -> headroom_core::Result<Option<Snapshot>> {
            Ok(self.0.sample(r)?.map(|mut s| {
                let one = s.gpus[0].clone();
                s.gpus = (0..256)
                    .map(|i| headroom_core::monitor::GpuSample {
                        index: i,
                        ..one.clone()
                    })
                    .collect();
                s
            }))
        }
    }
    let mut core = SamplerCore::new(
        Box::new(Fleet(fake(Scenario::Training, 1, 0))),
        SamplerConfig {
            history: config,
            ..SamplerConfig::default()
        },
    )
    .unwrap();
    ticks(&mut core, 3);
    assert_eq!(core.history().gpu_used_since(255, 0).len(), 3);
}
