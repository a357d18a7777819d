use clap::{Parser, Subcommand};

// The request path allocates many small short-lived objects; mimalloc serves those
// markedly faster than glibc malloc under concurrency.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use migration::MigratorTrait;

use im_access::{telemetry, Application, Settings};

#[derive(Parser)]
#[command(name = "im-access", version, about = "IM access server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve (the default).
    Serve,
    /// Database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Print the OpenAPI document (what GET /openapi.json answers) and exit.
    Openapi,
}

#[derive(Subcommand)]
enum MigrateAction {
    /// List applied and pending migrations.
    Status,
    /// Apply pending migrations (all, or the next N).
    Up {
        #[arg(short, long)]
        num: Option<u32>,
    },
    /// Roll back the last N migrations (default 1).
    Down {
        #[arg(short, long, default_value_t = 1)]
        num: u32,
    },
}

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        return match im_access::http::openapi_json() {
            Ok(json) => {
                println!("{json}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("im-access: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("im-access: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    let res = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate { action } => migrate(settings, action).await,
        Command::Openapi => Ok(()),
    };
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "im-access failed");
            eprintln!("im-access: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let app = Application::build(settings).await?;
    app.run_until_stopped().await?;
    Ok(())
}

async fn migrate(
    mut settings: Settings,
    action: MigrateAction,
) -> Result<(), Box<dyn std::error::Error>> {
    settings.database.migrate_on_start = false;
    std::fs::create_dir_all(&settings.app.data_dir)?;
    let db = im_access::store::Db::connect(&settings.database).await?;
    let conn = &db.conn();
    match action {
        MigrateAction::Status => {
            for m in migration::Migrator::get_applied_migrations(conn).await? {
                println!("applied  {}", m.name());
            }
            for m in migration::Migrator::get_pending_migrations(conn).await? {
                println!("pending  {}", m.name());
            }
        }
        MigrateAction::Up { num } => {
            migration::Migrator::up(conn, num).await?;
            println!("migrations applied");
        }
        MigrateAction::Down { num } => {
            migration::Migrator::down(conn, Some(num)).await?;
            println!("rolled back {num} migration(s)");
        }
    }
    Ok(())
}
