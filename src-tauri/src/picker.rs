//! Where the answer of a file dialog comes from. The window never hands the backend a path to read or write:
//! a command that exports or imports asks the [`Picker`] in the app state, which is the system dialog in the
//! app, or a [`ScriptedPicker`] that answers with paths given at start-up (the IPC tests, and the end-to-end
//! tests through [`TEST_PICKS_VAR`]), because neither can click a system dialog.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use headroom_core::Error;
use tauri::plugin::TauriPlugin;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_dialog::DialogExt;

use crate::error::{IpcError, IpcResult};

/// Paths the app's dialogs answer with, in order, instead of asking the person: separated like `PATH`, an
/// empty entry answering as a cancel. Read once, at start-up; for the end-to-end tests.
pub const TEST_PICKS_VAR: &str = "HEADROOM_TEST_PICKS";

/// What a dialog asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickKind {
    /// Where to write a new file, with the name the dialog suggests.
    SaveFile { suggested_name: String },
    /// An existing file to read.
    OpenFile,
    /// An existing folder.
    Folder,
}

/// One dialog: what it asks for, and the kinds of file it offers (a name and its extensions, without dots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickRequest {
    pub kind: PickKind,
    pub filters: Vec<(&'static str, &'static [&'static str])>,
}

impl PickRequest {
    pub fn save_file(suggested_name: impl Into<String>) -> Self {
        Self::new(PickKind::SaveFile {
            suggested_name: suggested_name.into(),
        })
    }

    pub fn open_file() -> Self {
        Self::new(PickKind::OpenFile)
    }

    pub fn folder() -> Self {
        Self::new(PickKind::Folder)
    }

    fn new(kind: PickKind) -> Self {
        PickRequest {
            kind,
            filters: Vec::new(),
        }
    }

    pub fn filter(mut self, name: &'static str, extensions: &'static [&'static str]) -> Self {
        self.filters.push((name, extensions));
        self
    }
}

/// Answers a dialog: the chosen path, or `None` when the person cancelled. May block until they answer, so
/// only async commands (run off the main thread) call it.
pub trait FilePicker: Send + Sync {
    fn pick(&self, request: &PickRequest) -> IpcResult<Option<PathBuf>>;
}

/// The app state's picker, set when the app is built (the system dialog needs the built app).
pub struct Picker(Box<dyn FilePicker>);

impl Picker {
    pub fn new(picker: Box<dyn FilePicker>) -> Self {
        Picker(picker)
    }

    pub fn pick(&self, request: &PickRequest) -> IpcResult<Option<PathBuf>> {
        self.0.pick(request)
    }
}

/// Who answers the dialogs of an app being set up.
pub enum Picks {
    /// The system's dialogs (tauri-plugin-dialog): the app as people use it.
    SystemDialog,
    /// Paths given in advance.
    Scripted(ScriptedPicker),
}

impl Picks {
    /// The system dialog, unless [`TEST_PICKS_VAR`] (its value given here) names the answers.
    pub fn from_env(value: Option<&OsStr>) -> Result<Self, Error> {
        match value {
            None => Ok(Picks::SystemDialog),
            Some(list) => ScriptedPicker::from_list(list).map(Picks::Scripted),
        }
    }

    fn into_picker<R: Runtime>(self, app: &AppHandle<R>) -> Picker {
        match self {
            Picks::SystemDialog => Picker::new(Box::new(SystemDialog { app: app.clone() })),
            Picks::Scripted(scripted) => Picker::new(Box::new(scripted)),
        }
    }

    /// A plugin only to put the [`Picker`] in the app state as the app is built: the system dialog needs the
    /// app's handle, and a builder's own setup hook would run only once the event loop starts (never, on the
    /// IPC tests' mock runtime).
    pub(crate) fn into_plugin<R: Runtime>(self) -> TauriPlugin<R> {
        tauri::plugin::Builder::new("headroom-picker")
            .setup(move |app, _api| {
                app.manage(self.into_picker(app));
                Ok(())
            })
            .build()
    }
}

/// The system's open and save dialogs.
struct SystemDialog<R: Runtime> {
    app: AppHandle<R>,
}

impl<R: Runtime> FilePicker for SystemDialog<R> {
    fn pick(&self, request: &PickRequest) -> IpcResult<Option<PathBuf>> {
        let mut dialog = self.app.dialog().file();
        for (name, extensions) in &request.filters {
            dialog = dialog.add_filter(*name, extensions);
        }
        let chosen = match &request.kind {
            PickKind::SaveFile { suggested_name } => {
                dialog.set_file_name(suggested_name).blocking_save_file()
            }
            PickKind::OpenFile => dialog.blocking_pick_file(),
            PickKind::Folder => dialog.blocking_pick_folder(),
        };
        chosen
            .map(|path| {
                path.into_path().map_err(|e| {
                    IpcError::internal(format!("the dialog returned no local path: {e}"))
                })
            })
            .transpose()
    }
}

/// Answers each dialog with the next path it was given (`None`: a cancel), whatever the dialog asks for. A
/// clone answers from the same list, so a test keeps one to give the answers as it goes.
#[derive(Clone, Default)]
pub struct ScriptedPicker {
    answers: Arc<Mutex<VecDeque<Option<PathBuf>>>>,
}

impl ScriptedPicker {
    /// The answers in a `PATH`-like list: each an absolute path, or empty for a cancel.
    pub fn from_list(list: &OsStr) -> Result<Self, Error> {
        let picker = ScriptedPicker::default();
        for path in std::env::split_paths(list) {
            if path.as_os_str().is_empty() {
                picker.answer(None);
            } else if path.is_absolute() {
                picker.answer(Some(path));
            } else {
                return Err(Error::invalid(
                    TEST_PICKS_VAR,
                    format!("{} is not an absolute path", path.display()),
                ));
            }
        }
        Ok(picker)
    }

    /// Answer the next dialog with `path`, or cancel it with `None`.
    pub fn answer(&self, path: Option<PathBuf>) {
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push_back(path);
    }

    /// How many answers are left.
    pub fn remaining(&self) -> usize {
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

impl FilePicker for ScriptedPicker {
    fn pick(&self, _request: &PickRequest) -> IpcResult<Option<PathBuf>> {
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front()
            .ok_or_else(|| {
                IpcError::internal(format!(
                    "a dialog opened with no answer left in {TEST_PICKS_VAR}"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_answers_in_order_with_empty_entries_as_cancels() {
        let picker = ScriptedPicker::from_list(OsStr::new("/tmp/a.json::/tmp/b")).unwrap();
        let request = PickRequest::open_file();
        assert_eq!(picker.pick(&request).unwrap(), Some("/tmp/a.json".into()));
        assert_eq!(picker.pick(&request).unwrap(), None);
        assert_eq!(picker.pick(&request).unwrap(), Some("/tmp/b".into()));
        let err = picker.pick(&request).unwrap_err();
        assert!(err.message.contains(TEST_PICKS_VAR), "{err:?}");
    }

    #[test]
    fn a_relative_path_is_refused_by_name() {
        let err = ScriptedPicker::from_list(OsStr::new("/tmp/a:out.json"))
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            format!("{TEST_PICKS_VAR}: out.json is not an absolute path")
        );
    }
}
