//! The relay's two rows: `outbox` holds the lease and the next `seq`; `barrier` is the
//! row writers share-lock around their outbox inserts on MySQL (see the relay).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_120000_relay_rows"
    }
}

#[derive(DeriveIden)]
enum RelayState {
    Table,
    Name,
    Holder,
    LeaseUntil,
    NextSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let insert = Query::insert()
            .into_table(RelayState::Table)
            .columns([
                RelayState::Name,
                RelayState::Holder,
                RelayState::LeaseUntil,
                RelayState::NextSeq,
            ])
            .values_panic(["outbox".into(), "".into(), 0i64.into(), 1i64.into()])
            .values_panic(["barrier".into(), "".into(), 0i64.into(), 0i64.into()])
            .to_owned();
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let delete = Query::delete()
            .from_table(RelayState::Table)
            .and_where(Expr::col(RelayState::Name).is_in(["outbox", "barrier"]))
            .to_owned();
        manager.exec_stmt(delete).await
    }
}
