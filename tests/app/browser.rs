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
    browser_with(Scripts::On).await
}

/// Whether the browser runs the pages' JavaScript (htmx and app.js).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scripts {
    On,
    Off,
}

async fn browser_with(scripts: Scripts) -> Browser {
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
    let mut options = json!({
        "binary": "/usr/bin/chromium",
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1440,900", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
            format!("--user-data-dir={}", profile.display()),
        ]
    });
    if scripts == Scripts::Off {
        // The pages' own scripts are blocked; WebDriver's still run (it clicks and reads).
        options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
    }
    caps.insert("goog:chromeOptions".to_owned(), options);
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
        .unwrap_or_else(|e| panic!("waiting for {locator:?}: {e}"))
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

/// axe-core's source. `.ci/test` fetches the pinned version from npm and names the file in
/// `KEYWARD_AXE_JS`; without it these checks fail rather than pass unchecked.
fn axe_source() -> String {
    let path = std::env::var("KEYWARD_AXE_JS").unwrap_or_else(|_| {
        panic!(
            "KEYWARD_AXE_JS is not set: run `bash .ci/test`, which fetches axe-core from npm \
             and sets it (or point it at an axe.min.js)"
        )
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("KEYWARD_AXE_JS={path} cannot be read ({e}): run `bash .ci/test` to fetch it")
    })
}

/// The WCAG 2.0 and 2.1 A and AA rules axe-core finds broken on the current page, one line per
/// violation with its impact, help and the nodes it names. WebDriver runs scripts outside the
/// page's CSP (`script-src 'self'`), so axe needs no change to the page.
async fn axe_violations(b: &Client, axe: &str) -> Vec<String> {
    let loaded = b
        .execute(&format!("{axe}\n;return typeof window.axe;"), vec![])
        .await
        .unwrap();
    assert_eq!(loaded, json!("object"), "axe-core loads into the page");
    let report = b
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            axe.run(document, {
              runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
              resultTypes: ['violations'],
            }).then(
              (r) => done(r.violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n` +
                v.nodes.map((n) => `    ${n.target.join(' ')}: ${(n.failureSummary || '').replace(/\s+/g, ' ')}`)
                  .join('\n'))),
              (e) => done([`axe-core failed: ${e}`]));"#,
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(report).unwrap()
}

/// What a phone shows wrong: the page scrolling sideways, anything in the header outside its
/// bar, a control cut off at the screen's edge, or a touch target under 44 × 44 px.
async fn layout_problems(b: &Client) -> Vec<String> {
    let problems = b
        .execute(
            r#"const problems = [];
            const page = document.documentElement;
            const width = page.clientWidth;
            if (page.scrollWidth > width) {
              problems.push(`the page scrolls sideways: ${page.scrollWidth}px in a ${width}px viewport`);
            }
            // checkVisibility() also skips what a closed <details> holds.
            const shown = (el) => {
              const r = el.getBoundingClientRect();
              if (r.width === 0 || r.height === 0 || !el.checkVisibility({visibilityProperty: true})) return false;
              // Nor what is there for screen readers only (clipped, like .visually-hidden).
              for (let a = el; a; a = a.parentElement) {
                if (getComputedStyle(a).clip !== 'auto') return false;
              }
              return true;
            };
            const name = (el) => `<${el.tagName.toLowerCase()}${el.className ? ' class="' + el.className + '"' : ''}> "` +
              (el.getAttribute('aria-label') || el.textContent).trim().replace(/\s+/g, ' ').slice(0, 40) + '"';
            for (const bar of document.querySelectorAll('.topbar, .tabs')) {
              const r = bar.getBoundingClientRect();
              for (const el of bar.querySelectorAll('a, summary, button, .who')) {
                if (!shown(el)) continue;
                const e = el.getBoundingClientRect();
                if (e.left < r.left - 1 || e.right > r.right + 1 || e.top < r.top - 1 || e.bottom > r.bottom + 1) {
                  problems.push(`${name(el)} spills out of its bar`);
                }
              }
            }
            for (const el of document.querySelectorAll('a, button, summary, select, textarea, input:not([type=hidden]), code, th, td')) {
              if (!shown(el)) continue;
              const e = el.getBoundingClientRect();
              if (e.left < -1 || e.right > width + 1) {
                problems.push(`${name(el)} is cut off: ${Math.round(e.left)}..${Math.round(e.right)}px of ${width}px`);
              }
            }
            const targets = '[role=switch], td.actions a, td.actions button, .icon-button, .button, ' +
              '.topbar a, .topbar summary, .topbar button, .tabs a, .side-panel .close, .pager a';
            for (const el of document.querySelectorAll(targets)) {
              if (!shown(el)) continue;
              const e = el.getBoundingClientRect();
              if (e.width < 44 || e.height < 44) {
                problems.push(`${name(el)} is a ${Math.round(e.width)}x${Math.round(e.height)}px touch target (44x44 at least)`);
              }
            }
            return problems;"#,
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(problems).unwrap()
}

#[derive(Clone, Copy)]
struct Viewport {
    name: &'static str,
    width: u32,
    height: u32,
    phone: bool,
}

const PHONE: Viewport = Viewport {
    name: "phone",
    width: 390,
    height: 844,
    phone: true,
};

const DESKTOP: Viewport = Viewport {
    name: "desktop",
    width: 1440,
    height: 900,
    phone: false,
};

/// Sizes the window so that the page itself (the viewport screenshots show) is `v`.
async fn resize(b: &Client, v: Viewport) {
    b.set_window_size(v.width, v.height).await.unwrap();
    let inner = b
        .execute("return [window.innerWidth, window.innerHeight];", vec![])
        .await
        .unwrap();
    let inner: (u32, u32) = serde_json::from_value(inner).unwrap();
    if inner != (v.width, v.height) {
        b.set_window_size(v.width * 2 - inner.0, v.height * 2 - inner.1)
            .await
            .unwrap();
    }
}

/// What every checked page showed wrong, reported together when the walk ends.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    /// axe-core on the current page and, on a phone, the layout checks, filed under `what`.
    async fn check(&mut self, b: &Client, axe: &str, v: Viewport, what: &str) {
        let mut problems = axe_violations(b, axe).await;
        if v.phone {
            problems.extend(layout_problems(b).await);
        }
        if !problems.is_empty() {
            self.0.push(format!(
                "{what} at {}x{}:\n{}",
                v.width,
                v.height,
                problems.join("\n")
            ));
        }
    }

    fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "{} page(s) fail:\n\n{}",
            self.0.len(),
            self.0.join("\n\n")
        );
    }
}

/// Keys, members and events enough to fill every page: a long name and description, a key
/// switched OFF, a revoked one, an owner and a member.
async fn fill_an_environment(app: &TestApp) {
    let admin = app.signed_in_as(Who::Admin).await;
    app.create_key(&admin, "Mobile app", &["read"]).await;
    app.create_key(&admin, "Billing worker", &["read", "write", "admin"])
        .await;
    app.create_key(&admin, "Old integration", &["read"]).await;
    let form = [
        ("name", "Checkout service for the European storefront"),
        (
            "description",
            "Charges cards and issues refunds for every order placed in the EU shops",
        ),
        ("type", "secret"),
        ("expiration", "90"),
        ("rate_limit", "600"),
        ("scope_read", "on"),
        ("scope_write", "on"),
    ];
    let created = admin.post_form(&keys_path(ENV), &form).await;
    assert_eq!(created.status, reqwest::StatusCode::OK, "{}", created.body);
    let keys = app.keys();
    let id = |name: &str| keys.iter().find(|k| k.name == name).unwrap().id;
    admin.revoke(id("Old integration")).await;
    admin.switch(id("Mobile app"), false).await;
    app.create_user(
        "owner@example.com",
        Some((keyward::domain::user::Role::Owner, ENV)),
    );
    app.create_user(
        "member@example.com",
        Some((keyward::domain::user::Role::Member, ENV)),
    );
}

/// Signs in at `v` and walks every page and state an administrator sees, checking each.
async fn walk_every_page(app: &TestApp, b: &Client, v: Viewport) -> Findings {
    let mut found = Findings::default();
    let axe = axe_source();
    resize(b, v).await;
    b.goto(&format!("{}/login", app.address)).await.unwrap();
    found.check(b, &axe, v, "the sign-in page").await;
    sign_in(b, &app.address, ADMIN_EMAIL).await;

    wait_for(b, Locator::Css("tr.revoked")).await;
    found.check(b, &axe, v, "the API Keys tab").await;
    save_screenshot(
        &format!("api-keys-{}.png", v.name),
        &b.screenshot().await.unwrap(),
    );
    if v.phone {
        // An owner can switch a key off from a phone: the switch is on screen and works.
        let switch = b
            .find(Locator::XPath(
                "//tr[.//span[@class='key-name' and normalize-space()='Billing worker']]//*[@role='switch']",
            ))
            .await
            .unwrap();
        switch.click().await.unwrap();
        wait_for(
            b,
            Locator::XPath("//*[@role='switch' and @aria-label='Billing worker: OFF']"),
        )
        .await;
        found
            .check(b, &axe, v, "the API Keys tab after a switch")
            .await;
    }

    click(b, Locator::XPath(&button("+ Add"))).await;
    wait_for(b, Locator::Id("key-name")).await;
    found.check(b, &axe, v, "the Add panel").await;

    click(b, Locator::XPath(&button("Submit"))).await;
    wait_for(b, Locator::Css("#key-name[aria-invalid]")).await;
    found
        .check(b, &axe, v, "the Add panel with invalid input")
        .await;

    b.find(Locator::Id("key-name"))
        .await
        .unwrap()
        .send_keys("Search API")
        .await
        .unwrap();
    let read = b
        .find(Locator::XPath("//label[normalize-space()='read']/input"))
        .await
        .unwrap();
    if !read.is_selected().await.unwrap() {
        read.click().await.unwrap();
    }
    click(b, Locator::XPath(&button("Submit"))).await;
    wait_for(b, Locator::Css("dialog#reveal")).await;
    found.check(b, &axe, v, "the one-time reveal dialog").await;
    save_screenshot(
        &format!("reveal-{}.png", v.name),
        &b.screenshot().await.unwrap(),
    );
    click(b, Locator::XPath(&button("Done"))).await;

    for action in ["Rotate", "Revoke"] {
        click(
            b,
            Locator::XPath(&format!(
                "//tr[.//span[@class='key-name' and normalize-space()='Search API']]//a[normalize-space()='{action}']"
            )),
        )
        .await;
        wait_for(b, Locator::Css(".side-panel.confirm")).await;
        found
            .check(b, &axe, v, &format!("the {action} confirmation"))
            .await;
        click(b, Locator::XPath(&button("Cancel"))).await;
    }

    b.goto(&format!("{}{}", app.address, members_path(ENV)))
        .await
        .unwrap();
    wait_for(b, Locator::XPath("//h1[normalize-space()='Members']")).await;
    found.check(b, &axe, v, "the Members tab").await;

    b.goto(&format!(
        "{}/projects/{PROJECT}/environments/{ENV}/activity",
        app.address
    ))
    .await
    .unwrap();
    wait_for(b, Locator::XPath("//h1[normalize-space()='Activity']")).await;
    found.check(b, &axe, v, "the Activity tab").await;
    save_screenshot(
        &format!("activity-{}.png", v.name),
        &b.screenshot().await.unwrap(),
    );

    click(b, Locator::XPath("//a[normalize-space()='Webhooks']")).await;
    wait_for(b, Locator::XPath("//h1[normalize-space()='Webhooks']")).await;
    found.check(b, &axe, v, "the Webhooks page").await;
    b.find(Locator::Id("webhook-url"))
        .await
        .unwrap()
        .send_keys("https://example.com/keyward-events")
        .await
        .unwrap();
    click(b, Locator::XPath(&button("Add endpoint"))).await;
    wait_for(b, Locator::Css("dialog#reveal")).await;
    found
        .check(b, &axe, v, "a new endpoint with its one-time secret")
        .await;
    save_screenshot(
        &format!("webhook-secret-{}.png", v.name),
        &b.screenshot().await.unwrap(),
    );
    click(b, Locator::XPath("//a[normalize-space()='Done']")).await;
    wait_for(
        b,
        Locator::XPath("//h1[normalize-space()='Webhook endpoint']"),
    )
    .await;
    found.check(b, &axe, v, "a webhook endpoint's page").await;
    save_screenshot(
        &format!("webhook-{}.png", v.name),
        &b.screenshot().await.unwrap(),
    );

    b.goto(&format!("{}/admin", app.address)).await.unwrap();
    wait_for(b, Locator::XPath("//h1[normalize-space()='Admin']")).await;
    found.check(b, &axe, v, "the Admin page").await;
    found
}

#[tokio::test]
async fn every_page_works_on_a_phone_and_passes_axe_for_admins_and_members() {
    let app = spawn_app().await;
    fill_an_environment(&app).await;
    let browser = browser().await;
    let b = &browser.client;
    let mut found = walk_every_page(&app, b, PHONE).await;

    click(b, Locator::XPath(&button("Sign out"))).await;
    wait_for(b, Locator::Id("email")).await;
    sign_in(b, &app.address, "member@example.com").await;
    let axe = axe_source();
    found
        .check(b, &axe, PHONE, "the API Keys tab as a member")
        .await;
    b.goto(&format!("{}{}", app.address, members_path(ENV)))
        .await
        .unwrap();
    wait_for(b, Locator::XPath("//h1[normalize-space()='Members']")).await;
    found
        .check(b, &axe, PHONE, "the Members tab as a member")
        .await;
    browser.close().await;
    found.assert_none();
}

#[tokio::test]
async fn every_page_passes_axe_on_a_desktop() {
    let app = spawn_app().await;
    fill_an_environment(&app).await;
    let browser = browser().await;
    let found = walk_every_page(&app, &browser.client, DESKTOP).await;
    browser.close().await;
    found.assert_none();
}

#[tokio::test]
async fn webdriver_scripts_run_while_the_pages_csp_still_refuses_inline_script() {
    let app = spawn_app().await;
    let browser = browser().await;
    let b = &browser.client;
    b.goto(&format!("{}/login", app.address)).await.unwrap();
    let ran = b
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            const script = document.createElement('script');
            script.textContent = 'window.inlineRan = true;';
            document.body.appendChild(script);
            setTimeout(() => done(window.inlineRan === true), 100);"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        ran,
        json!(false),
        "the page's CSP refuses inline script, so axe-core can only come in over WebDriver"
    );
    // Yet axe-core, sent as a WebDriver script, loads and runs on the same page (asserted inside).
    axe_violations(b, &axe_source()).await;
    browser.close().await;
}

/// The XPath of a key's row in the list.
fn row_of(name: &str) -> String {
    format!("//tr[.//span[@class='key-name' and normalize-space()='{name}']]")
}

/// Search, paging, a bulk Switch off and a confirmed bulk revocation, as a person does them, with the pages' scripts on
/// (htmx swaps the list in place) or off (plain forms, links and redirects).
async fn search_paging_and_bulk_actions(scripts: Scripts) {
    let app = spawn_app().await;
    // The oldest key, so it is on the second page; then 60 newer ones.
    make_key(&app, ENV, "Needle service", &["read"], None);
    let keys: Vec<_> = (0..60)
        .map(|i| make_key(&app, ENV, &format!("key {i:02}"), &["read"], None).0)
        .collect();
    let browser = browser_with(scripts).await;
    let b = &browser.client;
    sign_in(b, &app.address, ADMIN_EMAIL).await;
    // The scripts really are on or off: the page's select-all box shows only once app.js ran.
    let select_page = b.find(Locator::Css("[data-select-page]")).await.unwrap();
    assert_eq!(
        select_page.is_displayed().await.unwrap(),
        scripts == Scripts::On,
        "{scripts:?}"
    );

    // 50 a page, newest first: key 59 … key 10, then key 09 … key 00 and the needle.
    wait_for(b, Locator::XPath(&row_of("key 59"))).await;
    assert!(b.find(Locator::XPath(&row_of("key 09"))).await.is_err());
    click(b, Locator::XPath(&button("Next"))).await;
    wait_for(b, Locator::XPath(&row_of("Needle service"))).await;
    assert!(b.find(Locator::XPath(&row_of("key 59"))).await.is_err());
    let url = b.current_url().await.unwrap();
    assert!(url.query().unwrap_or("").contains("after="), "{url}");
    click(b, Locator::XPath(&button("Previous"))).await;
    wait_for(b, Locator::XPath(&row_of("key 59"))).await;
    assert!(
        b.find(Locator::XPath(&row_of("Needle service")))
            .await
            .is_err()
    );

    b.find(Locator::Id("keys-q"))
        .await
        .unwrap()
        .send_keys("Needle")
        .await
        .unwrap();
    click(b, Locator::XPath(&button("Search"))).await;
    wait_for(
        b,
        Locator::XPath(
            "//tbody[@id='key-rows' and count(tr)=1]//span[normalize-space()='Needle service']",
        ),
    )
    .await;
    let url = b.current_url().await.unwrap();
    assert_eq!(url.query(), Some("q=Needle"), "{scripts:?}: {url}");

    b.goto(&format!("{}{}", app.address, keys_path(ENV)))
        .await
        .unwrap();
    for name in ["key 59", "key 58"] {
        click(
            b,
            Locator::XPath(&format!("{}//input[@name='key']", row_of(name))),
        )
        .await;
    }
    click(b, Locator::XPath(&button("Switch off"))).await;
    for name in ["key 59", "key 58"] {
        wait_for(
            b,
            Locator::XPath(&format!(
                "//*[@role='switch' and @aria-label='{name}: OFF']"
            )),
        )
        .await;
    }
    assert_eq!(switch_state(b, "key 57").await, "true");
    let flash = b.find(Locator::Css("p.flash")).await.unwrap();
    assert_eq!(flash.text().await.unwrap(), "Switched off 2 keys.");
    let off: Vec<_> = app.keys().into_iter().filter(|k| !k.enabled).collect();
    assert_eq!(off.len(), 2);
    if scripts == Scripts::On {
        // The page's box ticks every row of the page, and clears them again.
        let ticked = async || {
            b.find_all(Locator::Css("input[name='key']:checked"))
                .await
                .unwrap()
                .len()
        };
        click(b, Locator::Css("[data-select-page]")).await;
        assert_eq!(ticked().await, 50);
        click(b, Locator::Css("[data-select-page]")).await;
        assert_eq!(ticked().await, 0);
    }

    // Revoke selected asks first, naming the key; confirmed, the row stays listed, revoked.
    click(
        b,
        Locator::XPath(&format!("{}//input[@name='key']", row_of("key 57"))),
    )
    .await;
    click(b, Locator::XPath(&button("Revoke selected"))).await;
    let panel = wait_for(b, Locator::Css(".side-panel.confirm")).await;
    assert!(panel.text().await.unwrap().contains("key 57"));
    assert!(app.keys().iter().all(|k| k.revoked_at.is_none()));
    click(b, Locator::XPath(&button("Revoke 1 key"))).await;
    wait_for(
        b,
        Locator::XPath(&format!(
            "{}[contains(@class, 'revoked')]",
            row_of("key 57")
        )),
    )
    .await;
    let flash = b.find(Locator::Css("p.flash")).await.unwrap();
    assert_eq!(flash.text().await.unwrap(), "Revoked 1 key.");
    let revoked: Vec<_> = app
        .keys()
        .into_iter()
        .filter(|k| k.revoked_at.is_some())
        .map(|k| k.id)
        .collect();
    assert_eq!(revoked, [keys[57]]);
    assert!(off.iter().all(|k| k.id == keys[59] || k.id == keys[58]));
    browser.close().await;
}

#[tokio::test]
async fn search_paging_bulk_switch_off_and_bulk_revoke_work_with_javascript() {
    search_paging_and_bulk_actions(Scripts::On).await;
}

#[tokio::test]
async fn search_paging_bulk_switch_off_and_bulk_revoke_work_without_javascript() {
    search_paging_and_bulk_actions(Scripts::Off).await;
}

/// The key page's Usage chart in each period: the SVG (an image with a label that states the
/// totals) and its table, with one bar and one row per hour or day.
async fn the_usage_chart_switches_periods(scripts: Scripts) {
    let app = spawn_app().await;
    let (id, plain) = make_key(&app, ENV, "Charted", &["read"], None);
    for _ in 0..3 {
        assert_eq!(
            verify(&app.address, Some(&plain), None).await.code(),
            "VALID"
        );
    }
    let browser = browser_with(scripts).await;
    let b = &browser.client;
    sign_in(b, &app.address, ADMIN_EMAIL).await;
    b.goto(&format!("{}{}/{id}", app.address, keys_path(ENV)))
        .await
        .unwrap();
    wait_for(b, Locator::XPath("//h1[normalize-space()='Charted']")).await;
    for (label, bars) in [
        ("24 hours", 24),
        ("7 days", 7),
        ("30 days", 30),
        ("24 hours", 24),
    ] {
        let link = format!("//nav[@class='periods']/a[normalize-space()='{label}']");
        click(b, Locator::XPath(&link)).await;
        wait_for(b, Locator::XPath(&format!("{link}[@aria-current='page']"))).await;
        let chart = b
            .find(Locator::Css("svg.usage-chart[role=img]"))
            .await
            .unwrap();
        let name = chart.attr("aria-label").await.unwrap().unwrap_or_default();
        assert!(name.contains("3 valid"), "{label}: {name}");
        let rows = b
            .find_all(Locator::Css("#usage-table tbody tr"))
            .await
            .unwrap();
        assert_eq!(rows.len(), bars, "{label}");
        let total = b.find(Locator::Css("#usage-table tfoot td")).await.unwrap();
        assert_eq!(total.html(true).await.unwrap(), "3", "{label}");
    }
    browser.close().await;
}

#[tokio::test]
async fn the_usage_chart_switches_between_24_hours_7_days_and_30_days_with_javascript() {
    the_usage_chart_switches_periods(Scripts::On).await;
}

#[tokio::test]
async fn the_usage_chart_switches_between_24_hours_7_days_and_30_days_without_javascript() {
    the_usage_chart_switches_periods(Scripts::Off).await;
}

#[tokio::test]
async fn the_key_page_and_the_bulk_revoke_confirmation_pass_axe_for_owners_and_members() {
    let app = spawn_app().await;
    fill_an_environment(&app).await;
    let (id, plain) = make_key(&app, ENV, "Reporting", &["read"], None);
    assert_eq!(
        verify(&app.address, Some(&plain), None).await.code(),
        "VALID"
    );
    let key_page = format!("{}{}/{id}", app.address, keys_path(ENV));
    let browser = browser().await;
    let b = &browser.client;
    let axe = axe_source();
    let mut found = Findings::default();
    sign_in(b, &app.address, "owner@example.com").await;
    for v in [PHONE, DESKTOP] {
        resize(b, v).await;
        b.goto(&key_page).await.unwrap();
        wait_for(b, Locator::XPath("//h1[normalize-space()='Reporting']")).await;
        found.check(b, &axe, v, "a key's page as an owner").await;
        save_screenshot(
            &format!("key-page-{}.png", v.name),
            &b.screenshot().await.unwrap(),
        );
        // The whole page in one picture, to check its look.
        resize(b, Viewport { height: 2600, ..v }).await;
        save_screenshot(
            &format!("key-page-whole-{}.png", v.name),
            &b.screenshot().await.unwrap(),
        );
        resize(b, v).await;

        b.goto(&format!("{}{}", app.address, keys_path(ENV)))
            .await
            .unwrap();
        for name in ["Reporting", "Billing worker"] {
            click(
                b,
                Locator::XPath(&format!("{}//input[@name='key']", row_of(name))),
            )
            .await;
        }
        click(b, Locator::XPath(&button("Revoke selected"))).await;
        let panel = wait_for(b, Locator::Css(".side-panel.confirm")).await;
        let text = panel.text().await.unwrap();
        assert!(text.contains("Revoke these 2 keys for good?"), "{text}");
        assert!(
            text.contains("Used in the last 7 days: 1 valid verification."),
            "{text}"
        );
        found
            .check(b, &axe, v, "the bulk revoke confirmation")
            .await;
        save_screenshot(
            &format!("bulk-revoke-{}.png", v.name),
            &b.screenshot().await.unwrap(),
        );
        click(b, Locator::XPath(&button("Cancel"))).await;
    }
    assert!(
        app.keys()
            .iter()
            .any(|k| k.id == id && k.revoked_at.is_none())
    );

    click(b, Locator::XPath(&button("Sign out"))).await;
    wait_for(b, Locator::Id("email")).await;
    sign_in(b, &app.address, "member@example.com").await;
    for v in [PHONE, DESKTOP] {
        resize(b, v).await;
        b.goto(&key_page).await.unwrap();
        wait_for(b, Locator::XPath("//h1[normalize-space()='Reporting']")).await;
        assert!(b.find(Locator::XPath(&button("Rotate key"))).await.is_err());
        found.check(b, &axe, v, "a key's page as a member").await;
        save_screenshot(
            &format!("key-page-member-{}.png", v.name),
            &b.screenshot().await.unwrap(),
        );
    }
    browser.close().await;
    found.assert_none();
}

async fn fill(b: &Client, id: &str, text: &str) {
    let field = b.find(Locator::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn heading(b: &Client, text: &str) {
    wait_for(
        b,
        Locator::XPath(&format!("//h1[normalize-space()='{text}']")),
    )
    .await;
}

/// The account page, the two-factor set-up and sign-in, the recovery codes, an administrator's
/// reset and the forced new password: each step at phone size, each passing axe-core.
#[tokio::test]
async fn the_account_and_two_factor_steps_work_on_a_phone_and_pass_axe() {
    use chrono::TimeDelta;
    use keyward::clock::Clock;
    let clock = ManualClock::starting_at(chrono::Utc::now());
    let app = spawn_app_with_clock(clock.clone()).await;
    app.create_user(
        "member@example.com",
        Some((keyward::domain::user::Role::Member, ENV)),
    );
    let browser = browser().await;
    let b = &browser.client;
    let axe = axe_source();
    let mut found = Findings::default();
    resize(b, PHONE).await;
    sign_in(b, &app.address, ADMIN_EMAIL).await;

    click(b, Locator::XPath("//a[@class='who']")).await;
    heading(b, "Your account").await;
    found.check(b, &axe, PHONE, "the account page").await;

    fill(b, "current-password", "not my password").await;
    fill(b, "new-password", "short").await;
    // The browser's own minlength check would stop the form; the server's message is the test.
    b.execute(
        "document.getElementById('new-password').removeAttribute('minlength');",
        vec![],
    )
    .await
    .unwrap();
    click(b, Locator::XPath(&button("Save password"))).await;
    wait_for(b, Locator::Css("#current-password[aria-invalid]")).await;
    found
        .check(b, &axe, PHONE, "the account page with invalid input")
        .await;

    click(b, Locator::XPath(&button("Set up two-factor"))).await;
    heading(b, "Set up two-factor").await;
    found.check(b, &axe, PHONE, "the two-factor set-up").await;
    save_screenshot("two-factor-setup-phone.png", &b.screenshot().await.unwrap());
    let secret = b
        .find(Locator::Id("totp-secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let code = |at: i64| {
        let bytes = totp_rs::Secret::try_from_base32(&secret)
            .unwrap()
            .as_bytes()
            .to_vec();
        totp_rs::Builder::new()
            .with_secret(bytes)
            .build()
            .unwrap()
            .generate(u64::try_from(at).unwrap())
            .to_string()
    };
    fill(b, "setup-code", "000000").await;
    click(b, Locator::XPath(&button("Turn on two-factor"))).await;
    wait_for(b, Locator::Css("#setup-code[aria-invalid]")).await;
    found
        .check(b, &axe, PHONE, "the two-factor set-up with a wrong code")
        .await;
    fill(b, "setup-code", &code(clock.now().timestamp())).await;
    click(b, Locator::XPath(&button("Turn on two-factor"))).await;
    heading(b, "Two-factor authentication is on").await;
    found.check(b, &axe, PHONE, "the recovery codes").await;
    save_screenshot("recovery-codes-phone.png", &b.screenshot().await.unwrap());
    click(b, Locator::XPath(&button("Continue"))).await;
    wait_for(b, Locator::XPath(&button("Turn off two-factor"))).await;
    save_screenshot("account-phone.png", &b.screenshot().await.unwrap());

    click(b, Locator::XPath(&button("Sign out"))).await;
    wait_for(b, Locator::Id("email")).await;
    fill(b, "email", ADMIN_EMAIL).await;
    fill(b, "password", PASSWORD).await;
    click(b, Locator::XPath(&button("Sign in"))).await;
    heading(b, "Two-factor authentication").await;
    found.check(b, &axe, PHONE, "the sign-in's code step").await;
    clock.advance(TimeDelta::seconds(30));
    fill(b, "code", &code(clock.now().timestamp())).await;
    click(b, Locator::XPath(&button("Verify"))).await;
    heading(b, "API Keys").await;

    b.goto(&format!("{}/admin", app.address)).await.unwrap();
    click(
        b,
        Locator::XPath("//button[@aria-label='Reset password of member@example.com']"),
    )
    .await;
    let one_time = wait_for(b, Locator::Id("one-time-password"))
        .await
        .text()
        .await
        .unwrap();
    found
        .check(b, &axe, PHONE, "the Admin page with a one-time password")
        .await;

    click(b, Locator::XPath(&button("Sign out"))).await;
    wait_for(b, Locator::Id("email")).await;
    fill(b, "email", "member@example.com").await;
    fill(b, "password", &one_time).await;
    click(b, Locator::XPath(&button("Sign in"))).await;
    heading(b, "Choose a new password").await;
    found.check(b, &axe, PHONE, "the forced new password").await;
    fill(b, "new-password", "a brand new password 42").await;
    click(b, Locator::XPath(&button("Save password"))).await;
    heading(b, "API Keys").await;
    browser.close().await;
    found.assert_none();
}
