use headroom_core::paths::AppPaths;

#[test]
fn environment_overrides_win_and_logs_live_under_data() {
    let env = |var: &str| match var {
        "HEADROOM_CONFIG_DIR" => Some("/tmp/cfg".to_string()),
        "HEADROOM_DATA_DIR" => Some("/tmp/data".to_string()),
        _ => None,
    };
    let paths = AppPaths::from_env(env).unwrap();
    assert_eq!(paths.config_dir, std::path::Path::new("/tmp/cfg"));
    assert_eq!(
        paths.settings_file(),
        std::path::Path::new("/tmp/cfg/settings.json")
    );
    assert_eq!(
        paths.log_file(),
        std::path::Path::new("/tmp/data/logs/headroom.log")
    );
}

#[test]
fn empty_overrides_are_ignored() {
    // Falls back to the OS directories (XDG under $HOME on Linux), which CI's root user has too.
    let paths = AppPaths::from_env(|_| Some(String::new())).unwrap();
    assert!(
        paths.config_dir.ends_with("headroom"),
        "{}",
        paths.config_dir.display()
    );
    assert!(
        paths.data_dir.ends_with("headroom"),
        "{}",
        paths.data_dir.display()
    );
}
