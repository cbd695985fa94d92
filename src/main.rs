use keyward::config::Config;
use keyward::startup::Application;
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    // Before the runtime starts its threads.
    keyward::malloc_tuning::tune();
    actix_web::rt::System::new().block_on(serve())
}

async fn serve() -> anyhow::Result<()> {
    // RUST_LOG as usual (e.g. `RUST_LOG=debug` adds a line per verification); default info.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
    let config = Config::from_env()?;
    let app = Application::build(config)?;
    tracing::info!("Keyward listening on http://{}", app.address());
    app.run_until_stopped().await
}
