//! `migration [up|down|status]` against `DATABASE_URL`, for operators who
//! want to migrate without the API binary (`zenzefi-api migrate` does the same).

use migration::MigratorTrait;
use sea_orm_migration::sea_orm::Database;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let db = Database::connect(&url).await?;
    match std::env::args().nth(1).as_deref().unwrap_or("up") {
        "up" => migration::Migrator::up(&db, None).await?,
        "down" => migration::Migrator::down(&db, Some(1)).await?,
        "status" => migration::Migrator::status(&db).await?,
        other => return Err(format!("unknown command {other:?}: use up, down or status").into()),
    }
    Ok(())
}
