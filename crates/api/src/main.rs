//! `zenzefi-api`: serve the API (default), migrate, or create a superuser.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zenzefi_api::Application;
use zenzefi_bootstrap::{Infrastructure, Settings, init_tracing, install_crypto_provider};
use zenzefi_domain::RequestContext;
use zenzefi_domain::auth::Registration;

/// The proxy allocates small buffers on every request; mimalloc's
/// thread-local free lists serve them much faster than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "zenzefi-api", version, about = "Zenzefi Gateway API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a superuser, or promote the user with this email. Idempotent.
    CreateSuperuser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
        /// Prefer the environment variable: arguments show up in `ps`.
        #[arg(long, env = "ZENZEFI_SUPERUSER_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

#[actix_web::main]
async fn main() -> ExitCode {
    install_crypto_provider();
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("zenzefi-api: {err}");
            return ExitCode::FAILURE;
        }
    };
    let _log_writer = init_tracing(&settings);
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&settings).await,
        Command::Migrate => migrate(&settings).await,
        Command::CreateSuperuser {
            email,
            username,
            password,
        } => create_superuser(&settings, &email, &username, password).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("zenzefi-api: {err}");
            ExitCode::FAILURE
        }
    }
}

type AnyError = Box<dyn std::error::Error>;

async fn serve(settings: &Settings) -> Result<(), AnyError> {
    tracing::info!(
        environment = ?settings.environment,
        database = if settings.database.url.expose().starts_with("sqlite:") { "sqlite" } else { "postgres" },
        redis = settings.redis_configured(),
        "starting zenzefi-api"
    );
    let app = Application::build(settings).await?;
    app.run_until_stopped().await?;
    Ok(())
}

async fn migrate(settings: &Settings) -> Result<(), AnyError> {
    let infra = Infrastructure::connect(settings).await?;
    infra.database.migrate().await?;
    println!("migrations applied");
    Ok(())
}

async fn create_superuser(
    settings: &Settings,
    email: &str,
    username: &str,
    password: String,
) -> Result<(), AnyError> {
    let registration = Registration::parse(email, username, password, None)
        .map_err(|errors| format!("invalid superuser: {errors:?}"))?;
    let infra = Infrastructure::connect(settings).await?;
    if settings.database.auto_migrate {
        infra.database.migrate().await?;
    }
    let (user, created) = infra
        .auth_service(settings)?
        .create_superuser(registration, &RequestContext::default())
        .await?;
    let verb = if created { "created" } else { "promoted" };
    println!("{verb} superuser {} ({})", user.email.as_str(), user.id);
    Ok(())
}
