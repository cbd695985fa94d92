use keyward::config::Config;
use keyward::startup::Application;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    let config = Config::from_env()?;
    let app = Application::build(config)?;
    tracing::info!("Keyward listening on http://{}", app.address());
    app.run_until_stopped().await
}
