//! WebKitGTK's renderer choice on Linux, made before the webview starts.
//!
//! WebKitGTK 2.42+ renders through DMA-BUF buffers by default. On the machines Headroom is for, that path is
//! the problem: with NVIDIA's proprietary driver it gives a blank window ("AcceleratedSurfaceDMABuf was unable
//! to construct a complete framebuffer", tauri-apps/tauri#9304, #9394), and without a usable GPU for the
//! desktop (a headless box over X forwarding, Xvfb, a VM) it composites every frame through software GL. We
//! measured the second under Xvfb: about 33 ms of web-process CPU for every frame that changes anything,
//! against about 5 ms with the legacy renderer, which made the Monitor view run at 7 frames a second at
//! 10 Hz with 8 GPUs. WebKit's maintainers recommend `WEBKIT_DISABLE_DMABUF_RENDERER=1` as the fix
//! (WebKit bug 261874), and Tauri apps such as Yaak ship it as their default. A value the user set, `0`
//! included, is kept.

/// The variable and the value to set, unless the user already chose one.
pub const DMABUF_RENDERER: (&str, &str) = ("WEBKIT_DISABLE_DMABUF_RENDERER", "1");

/// The variables to set before the webview starts, given how to read the environment.
pub fn renderer_defaults(
    get: impl Fn(&str) -> Option<String>,
) -> Vec<(&'static str, &'static str)> {
    let (name, value) = DMABUF_RENDERER;
    if cfg!(target_os = "linux") && get(name).is_none() {
        vec![(name, value)]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legacy_renderer_is_the_default_and_a_users_choice_is_kept() {
        if !cfg!(target_os = "linux") {
            assert!(renderer_defaults(|_| None).is_empty());
            return;
        }
        assert_eq!(
            renderer_defaults(|_| None),
            [("WEBKIT_DISABLE_DMABUF_RENDERER", "1")]
        );
        assert!(
            renderer_defaults(|v| (v == "WEBKIT_DISABLE_DMABUF_RENDERER").then(|| "0".into()))
                .is_empty()
        );
    }
}
