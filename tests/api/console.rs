//! The operators' console in a real browser: `tests/browser/console-flow.mjs` drives
//! Debian's headless Chromium (Playwright) through the whole flow against this server,
//! a screenshot per step into `<target>/console-shots/<database>/`. Needs
//! `/usr/bin/chromium`, node and `tests/browser/node_modules` (`.ci/browser-deps`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::admin::{admin_app_with, ALICE};
use crate::common::skip_or_fail;

const SHOTS: &[&str] = &[
    "01-wrong-key.png",
    "02-signed-in.png",
    "03-looked-up.png",
    "04-banned.png",
    "05-audit-ban.png",
    "06-unbanned.png",
    "07-forced-out.png",
    "08-delete-confirm.png",
    "09-deleted.png",
    "10-signed-out.png",
    "11-zh-wrong-key.png",
];

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// What is missing to run the browser, if anything.
fn missing() -> Option<String> {
    if !Path::new("/usr/bin/chromium").exists() {
        return Some("Chromium (/usr/bin/chromium)".into());
    }
    if !browser_dir()
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return Some("tests/browser/node_modules (run .ci/browser-deps)".into());
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node".into());
    }
    None
}

#[actix_web::test]
async fn the_console_runs_the_operators_flow_in_chromium() {
    if let Some(what) = missing() {
        skip_or_fail(&format!("the console's browser test: {what}"));
        return;
    }
    let Some(app) = admin_app_with(|_| {}).await else {
        return;
    };
    let user = app
        .sign_in_device(&crate::common::new_phone(), "android", "console-device-01")
        .await;
    // Next to the test binaries' own temporary folder: <target>/console-shots/<db>.
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap_or(Path::new("target"))
        .join("console-shots")
        .join(format!("{:?}", app.backend).to_lowercase());
    let _ = std::fs::remove_dir_all(&out);
    let mut node = Command::new("node");
    node.arg(browser_dir().join("console-flow.mjs"))
        .current_dir(browser_dir())
        .env("BASE_URL", &app.base)
        .env("ADMIN_KEY", ALICE)
        .env("ADMIN_KEY_NAME", "alice")
        .env("USER_ID", user.user_id.to_string())
        .env("USER_TOKEN", &user.token)
        .env("OUT_DIR", &out);
    // The server's background work runs on this thread: wait for node elsewhere.
    let run = actix_web::rt::task::spawn_blocking(move || node.output())
        .await
        .expect("the waiting thread")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(
        run.status.success(),
        "console-flow.mjs failed ({}): {stderr}",
        run.status
    );
    for shot in SHOTS {
        let path = out.join(shot);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "{} missing or empty", path.display());
    }
    eprintln!("console screenshots: {}", out.display());
}
