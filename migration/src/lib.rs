//! Schema migrations. They run at server start-up and through `im-access migrate`.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_initial;
mod m20261128_120000_relay_rows;
mod m20261201_000002_accounts;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_initial::Migration),
            Box::new(m20261128_120000_relay_rows::Migration),
            Box::new(m20261201_000002_accounts::Migration),
        ]
    }
}
