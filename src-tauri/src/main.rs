// Keeps a console window from opening beside the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // Before any thread starts and before WebKit reads them (see `webkit`).
    for (name, value) in headroom_app::webkit::renderer_defaults(|v| {
        std::env::var_os(v).map(|s| s.to_string_lossy().into_owned())
    }) {
        std::env::set_var(name, value);
    }
    headroom_app::run()
}
