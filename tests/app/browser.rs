//! What a person sees, in Debian's Chromium driven over WebDriver.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::json;

use crate::helpers::*;

/// A headless Chromium behind its own chromedriver. A test ends with [`Browser::close`]; if it
/// panics first, the guard still kills every process and removes the profile.
struct Browser {
    client: Client,
    _driver: Driver,
}

impl Browser {
    /// Ends the WebDriver session, which makes chromedriver quit Chromium, then drops the guard.
    async fn close(self) {
        self.client
            .close()
            .await
            .expect("end the WebDriver session");
    }
}

/// chromedriver, started as the leader of its own process group, and Chromium's profile folder.
/// Chromium's processes are chromedriver's descendants and stay in its group (they outlive a
/// killed chromedriver, reparented to init), so on drop (at the end of a test, or while a
/// panicking test unwinds) the whole group is killed and the folder removed.
struct Driver {
    process: std::process::Child,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = Pid::from_raw(self.process.id() as i32);
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.process.wait();
        // Until its last member is reaped the group's id is not reused, so this asks only about
        // our processes; the profile goes once nothing can write to it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while killpg(group, None).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn browser() -> Browser {
    let port = free_port();
    let process = std::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .expect("chromedriver (Debian's chromium-driver) is installed");
    let profile =
        std::env::temp_dir().join(format!("keyward-chromium-{}-{port}", std::process::id()));
    let driver = Driver {
        process,
        profile: profile.clone(),
    };
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1440,900", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let client = eventually(
        Duration::from_secs(20),
        "chromedriver to start a WebDriver session",
        async || {
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
        },
    )
    .await;
    Browser {
        client,
        _driver: driver,
    }
}

fn button(label: &str) -> String {
    format!("//button[normalize-space()='{label}'] | //a[normalize-space()='{label}']")
}

async fn click(b: &Client, locator: Locator<'_>) {
    b.find(locator).await.unwrap().click().await.unwrap();
}

/// Waits (up to 10 s) for what htmx or a navigation is about to show.
async fn wait_for(b: &Client, locator: Locator<'_>) -> fantoccini::elements::Element {
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(locator)
        .await
        .unwrap()
}

async fn sign_in(b: &Client, base: &str, email: &str) {
    b.goto(&format!("{base}/login")).await.unwrap();
    b.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    b.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    click(b, Locator::XPath(&button("Sign in"))).await;
    wait_for(b, Locator::XPath("//h1[normalize-space()='API Keys']")).await;
}

async fn switch_state(b: &Client, name: &str) -> String {
    let row = b
        .find(Locator::XPath(&format!(
            "//tr[.//span[@class='key-name' and normalize-space()='{name}']]"
        )))
        .await
        .unwrap();
    let switch = row.find(Locator::Css("[role=switch]")).await.unwrap();
    switch.attr("aria-checked").await.unwrap().unwrap()
}

#[tokio::test]
async fn an_admin_creates_a_key_sees_it_once_and_copies_it() {
    let app = spawn_app().await;
    let browser = browser().await;
    let b = &browser.client;
    sign_in(b, &app.address, ADMIN_EMAIL).await;

    click(b, Locator::XPath(&button("+ Add"))).await;
    let name = wait_for(b, Locator::Id("key-name")).await;
    name.send_keys("Checkout service").await.unwrap();
    b.find(Locator::Id("key-description"))
        .await
        .unwrap()
        .send_keys("Charges cards")
        .await
        .unwrap();
    click(
        b,
        Locator::XPath("//label[normalize-space()='write']/input"),
    )
    .await;
    click(b, Locator::XPath(&button("Submit"))).await;

    let dialog = wait_for(b, Locator::Css("dialog#reveal")).await;
    assert!(
        dialog
            .text()
            .await
            .unwrap()
            .contains("This key will be shown only once.")
    );
    let plain = b
        .find(Locator::Id("revealed-key"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(plain.starts_with("kw_sk_live_"), "{plain}");
    assert_eq!(
        app.keys()[0].digest,
        keyward::domain::key_format::KeyDigest::of(&plain)
    );

    let copy = dialog
        .find(Locator::XPath(".//button[normalize-space()='Copy']"))
        .await
        .unwrap();
    copy.click().await.unwrap();
    let copied = b
        .wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css("dialog#reveal button[data-copied]"))
        .await;
    assert!(copied.is_ok(), "the Copy button confirms the copy");

    // The new row is at the top of the list, behind the dialog.
    let first_row = b
        .find(Locator::Css("#key-rows tr"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(first_row.contains("Checkout service"), "{first_row}");

    click(b, Locator::XPath(&button("Done"))).await;
    assert!(
        b.find(Locator::Css("dialog#reveal")).await.is_err(),
        "Done closes the dialog"
    );
    b.refresh().await.unwrap();
    let source = b.source().await.unwrap();
    assert!(!source.contains(&plain), "never shown again");
    assert!(source.contains("Checkout service"));

    // A fuller list for the README's screenshot.
    let admin = app.signed_in_as(Who::Admin).await;
    app.create_key(&admin, "Mobile app", &["read"]).await;
    app.create_key(&admin, "Billing worker", &["read", "write", "admin"])
        .await;
    app.create_key(&admin, "Old integration", &["read"]).await;
    let keys = app.keys();
    let old = keys
        .iter()
        .find(|k| k.name == "Old integration")
        .unwrap()
        .id;
    let mobile = keys.iter().find(|k| k.name == "Mobile app").unwrap().id;
    admin.revoke(old).await;
    admin.switch(mobile, false).await;
    b.refresh().await.unwrap();
    wait_for(b, Locator::Css("tr.revoked")).await;
    save_screenshot("api-keys.png", &b.screenshot().await.unwrap());
    browser.close().await;
}

/// Writes a screenshot under `<target dir>/screenshots/`, and over the README's copy in
/// `tests/screenshots/` only when `KEYWARD_UPDATE_SCREENSHOTS=1`.
fn save_screenshot(name: &str, png: &[u8]) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("target"));
    let mut dirs = vec![target.join("screenshots")];
    if std::env::var("KEYWARD_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        dirs.push(manifest.join("tests/screenshots"));
    }
    for dir in dirs {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

#[tokio::test]
async fn the_switch_state_survives_a_reload() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    app.create_key(&admin, "Search API", &["read"]).await;
    let browser = browser().await;
    let b = &browser.client;
    sign_in(b, &app.address, ADMIN_EMAIL).await;

    assert_eq!(switch_state(b, "Search API").await, "true");
    click(b, Locator::Css("[role=switch]")).await;
    wait_for(b, Locator::Css("[role=switch][aria-checked=false]")).await;
    assert!(!app.keys()[0].enabled);
    b.refresh().await.unwrap();
    assert_eq!(switch_state(b, "Search API").await, "false");

    click(b, Locator::Css("[role=switch]")).await;
    wait_for(b, Locator::Css("[role=switch][aria-checked=true]")).await;
    b.refresh().await.unwrap();
    assert_eq!(switch_state(b, "Search API").await, "true");
    assert!(app.keys()[0].enabled);
    browser.close().await;
}

#[tokio::test]
async fn a_member_sees_no_add_button_and_disabled_switches() {
    let app = spawn_app().await;
    let admin = app.signed_in_as(Who::Admin).await;
    app.create_key(&admin, "Reporting", &["read"]).await;
    app.create_user(
        "member@example.com",
        Some((keyward::domain::user::Role::Member, ENV)),
    );
    let browser = browser().await;
    let b = &browser.client;
    sign_in(b, &app.address, "member@example.com").await;

    assert!(b.find(Locator::XPath(&button("+ Add"))).await.is_err());
    let switch = b.find(Locator::Css("[role=switch]")).await.unwrap();
    assert_eq!(
        switch.attr("aria-checked").await.unwrap().as_deref(),
        Some("true")
    );
    assert!(
        !switch.is_enabled().await.unwrap(),
        "the switch is disabled for members"
    );
    assert!(b.find(Locator::XPath(&button("Rotate"))).await.is_err());
    assert!(b.find(Locator::XPath(&button("Revoke"))).await.is_err());
    assert!(app.keys()[0].enabled);
    browser.close().await;
}
