//! The remote source: one reading of every host a `prometheus:`, `dcgm:` or `headroom:` source names, as one
//! [`Snapshot`] whose GPUs carry their host. Indexes are given in the order GPUs are first seen and kept for the
//! session, so history and alerts follow the same GPU from reading to reading.
//!
//! A host that does not answer is never shown as zeros: its GPUs stay in the snapshot as lost, and
//! [`Snapshot::hosts`] says it is unreachable and why.

use std::collections::BTreeMap;

use super::assemble::{assemble, HostReading, METRIC_REGEX};
use super::http::{encode_query, HttpClient};
use super::{prom_api, RemoteKind, RemoteSpec};
use crate::monitor::expo;
use crate::monitor::source::{GpuSource, SampleRequest};
use crate::monitor::{GpuSample, HostState, Snapshot};
use crate::Result;

pub struct RemoteSource {
    spec: RemoteSpec,
    client: HttpClient,
    /// (host, GPU index on the host) → the GPU's index in snapshots.
    indexes: BTreeMap<(String, u32), u32>,
    /// Every GPU seen, by host and index on the host, as last read: shown lost when its host stops answering.
    known: BTreeMap<String, BTreeMap<u32, GpuSample>>,
    /// Prometheus `instance` → host, to name a target that is down.
    instances: BTreeMap<String, String>,
    /// A direct endpoint's host once it has said its name (its `hostname` label).
    endpoint_hosts: Vec<Option<String>>,
}

/// What one reading found, before it becomes a snapshot.
#[derive(Default)]
struct Found {
    readings: BTreeMap<String, HostReading>,
    /// Hosts that did not answer, with why.
    unreachable: BTreeMap<String, String>,
}

impl RemoteSource {
    pub fn new(spec: RemoteSpec) -> Self {
        RemoteSource {
            client: HttpClient::new(&spec.auth, spec.timeout, spec.ca_pem.as_deref()),
            endpoint_hosts: vec![None; spec.endpoints.len()],
            spec,
            indexes: BTreeMap::new(),
            known: BTreeMap::new(),
            instances: BTreeMap::new(),
        }
    }

    fn read_prometheus(&mut self) -> Found {
        let base = &self.spec.endpoints[0];
        // One request: the GPU metrics, and `up` for every target so a host that stopped answering is named.
        let query = format!("{{__name__=~\"{METRIC_REGEX}\"}} or up");
        let url = format!("{}/api/v1/query?query={}", base.url, encode_query(&query));
        let mut found = Found::default();
        let samples = match self
            .client
            .get(&url)
            .and_then(|b| prom_api::parse_vector(&b))
        {
            Ok(s) => s,
            Err(why) => {
                let why = format!("Prometheus at {}: {why}", base.url);
                let mut hosts: Vec<String> = self.known.keys().cloned().collect();
                if hosts.is_empty() {
                    hosts.push(base.authority.clone());
                }
                found.unreachable = hosts.into_iter().map(|h| (h, why.clone())).collect();
                return found;
            }
        };
        let down: Vec<&str> = samples
            .iter()
            .filter(|s| s.name == "up" && s.value == 0.0)
            .filter_map(|s| s.label("instance"))
            .collect();
        if !down.is_empty() {
            let reasons = self
                .client
                .get(&format!("{}/api/v1/targets?state=active", base.url))
                .and_then(|b| prom_api::parse_down_targets(&b))
                .unwrap_or_default();
            for instance in down {
                let host = self
                    .instances
                    .get(instance)
                    .cloned()
                    .unwrap_or_else(|| instance.to_string());
                let why = reasons.get(instance).map_or_else(
                    || "Prometheus reports the target down".to_string(),
                    |r| r.clone(),
                );
                found
                    .unreachable
                    .insert(host, format!("scrape of {instance} failed: {why}"));
            }
        }
        found.readings = assemble(&samples, &base.authority);
        for (host, reading) in &found.readings {
            for instance in &reading.instances {
                self.instances.insert(instance.clone(), host.clone());
            }
        }
        found
    }

    fn read_endpoints(&mut self) -> Found {
        let client = &self.client;
        let pages: Vec<std::result::Result<String, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .spec
                .endpoints
                .iter()
                .map(|e| scope.spawn(move || client.get(&e.url)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("the request panicked".into()))
                })
                .collect()
        });
        let mut found = Found::default();
        for (i, page) in pages.into_iter().enumerate() {
            let endpoint = &self.spec.endpoints[i];
            let name = self.endpoint_hosts[i]
                .clone()
                .unwrap_or_else(|| endpoint.authority.clone());
            let samples = page.and_then(|p| expo::parse(&p).map_err(|e| e.to_string()));
            match samples {
                Ok(samples) => {
                    let readings = assemble(&samples, &name);
                    // One host per endpoint: the first name it gives is its name from now on.
                    if let Some(host) = readings.keys().next() {
                        self.endpoint_hosts[i] = Some(host.clone());
                    }
                    if readings.is_empty() {
                        found.readings.insert(name, HostReading::default());
                    }
                    found.readings.extend(readings);
                }
                Err(why) => {
                    found
                        .unreachable
                        .insert(name, format!("{}: {why}", endpoint.url));
                }
            }
        }
        found
    }

    fn index_of(&mut self, host: &str, gpu: u32) -> u32 {
        let next = u32::try_from(self.indexes.len()).unwrap_or(u32::MAX);
        *self.indexes.entry((host.to_string(), gpu)).or_insert(next)
    }

    fn snapshot(&mut self, found: Found, request: SampleRequest) -> Snapshot {
        let mut gpus = Vec::new();
        let mut hosts = Vec::new();
        let mut unavailable = Vec::new();
        for (host, reading) in found.readings {
            unavailable.extend(reading.unavailable);
            let known = self.known.entry(host.clone()).or_default();
            // A GPU seen before and missing now has stopped answering on a host that still does.
            let missing: Vec<u32> = known
                .keys()
                .filter(|k| !reading.gpus.contains_key(k))
                .copied()
                .collect();
            for (host_gpu, gpu) in reading.gpus {
                known.insert(host_gpu, gpu.clone());
                gpus.push((host.clone(), host_gpu, gpu));
            }
            for host_gpu in missing {
                unavailable.push(format!(
                    "host {host} gpu {host_gpu}: no longer in its metrics"
                ));
                gpus.push((host.clone(), host_gpu, lost(&known[&host_gpu])));
            }
            if !found.unreachable.contains_key(&host) {
                hosts.push(HostState {
                    host,
                    reachable: true,
                    reason: None,
                });
            }
        }
        // Hosts seen before and absent now, not already said to be down.
        let mut unreachable = found.unreachable;
        let answered: Vec<String> = hosts.iter().map(|h| h.host.clone()).collect();
        for host in self.known.keys() {
            if !answered.contains(host) && !unreachable.contains_key(host) {
                unreachable.insert(host.clone(), "no GPU metrics in the latest reading".into());
            }
        }
        for (host, why) in unreachable {
            unavailable.push(format!("host {host}: unreachable ({why})"));
            if !answered.contains(&host) {
                for (host_gpu, gpu) in self.known.get(&host).into_iter().flatten() {
                    gpus.push((host.clone(), *host_gpu, lost(gpu)));
                }
            }
            hosts.push(HostState {
                host,
                reachable: false,
                reason: Some(why),
            });
        }
        let mut gpus: Vec<GpuSample> = gpus
            .into_iter()
            .map(|(host, host_gpu, mut gpu)| {
                gpu.index = self.index_of(&host, host_gpu);
                gpu
            })
            .collect();
        gpus.sort_by_key(|g| g.index);
        gpus.dedup_by_key(|g| g.index);
        hosts.sort_by(|a, b| a.host.cmp(&b.host));
        Snapshot {
            source: self.spec.label(),
            taken_at: request.at,
            gpus,
            unavailable,
            hosts: Some(hosts),
        }
    }
}

/// A GPU as last seen, now unreadable: its identity kept, every reading unknown.
fn lost(last: &GpuSample) -> GpuSample {
    GpuSample {
        host: last.host.clone(),
        host_gpu: last.host_gpu,
        pci_bus_id: last.pci_bus_id.clone(),
        labels: last.labels.clone(),
        ..GpuSample::lost(last.index, last.name.clone(), last.uuid.clone())
    }
}

impl GpuSource for RemoteSource {
    fn label(&self) -> String {
        self.spec.label()
    }

    /// Every host, each with its own timeout; never an error: a host that fails is reported in the snapshot.
    fn sample(&mut self, request: SampleRequest) -> Result<Option<Snapshot>> {
        let found = match self.spec.kind {
            RemoteKind::Prometheus => self.read_prometheus(),
            RemoteKind::Dcgm | RemoteKind::Headroom => self.read_endpoints(),
        };
        Ok(Some(self.snapshot(found, request)))
    }
}
