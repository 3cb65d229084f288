//! The replay source: a recording (see [`super::record`]) played back one snapshot per sample, with the times it
//! was recorded at. Read line by line, so replaying a day-long recording costs one line of memory.

use std::path::{Path, PathBuf};

use super::record::Reader;
use super::source::{GpuSource, SampleRequest};
use super::Snapshot;
use crate::Result;

pub struct ReplaySource {
    path: PathBuf,
    reader: Reader,
}

impl ReplaySource {
    pub fn open(path: &Path) -> Result<Self> {
        Ok(ReplaySource {
            path: path.to_path_buf(),
            reader: Reader::open(path)?,
        })
    }

    /// The interval the recording was made at, so a replay can run at the same pace.
    pub fn interval_ms(&self) -> u64 {
        self.reader.header().interval_ms
    }
}

impl GpuSource for ReplaySource {
    fn label(&self) -> String {
        format!("replay:{}", self.path.display())
    }

    /// The recorded snapshot, relabelled `replay:FILE` and with its recorded time; process lists come back as
    /// recorded whatever `request.processes` says (dropping them would lose data the recording has).
    fn sample(&mut self, _request: SampleRequest) -> Result<Option<Snapshot>> {
        let label = self.label();
        Ok(self.reader.next_snapshot()?.map(|mut s| {
            s.source = label;
            s
        }))
    }
}
