//! Accounts and operators: a user row can be deleted (a tombstone keeps the id, which is
//! never reused, with the profile and the number erased) or banned (with an optional
//! end and a reason); operators' actions go to an audit log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000002_accounts"
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    DeletedAt,
    BannedAt,
    BannedUntil,
    BanReason,
}

#[derive(DeriveIden)]
enum AdminAudit {
    Table,
    Id,
    At,
    KeyName,
    Action,
    UserId,
    Reason,
    RequestId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for col in [
            ColumnDef::new(Users::DeletedAt)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(Users::BannedAt)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(Users::BannedUntil)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(Users::BanReason)
                .string_len(200)
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_users_banned_until")
                    .table(Users::Table)
                    .col(Users::BannedUntil)
                    .to_owned(),
            )
            .await?;
        let mut audit = Table::create()
            .table(AdminAudit::Table)
            .col(
                ColumnDef::new(AdminAudit::Id)
                    .big_integer()
                    .not_null()
                    .auto_increment()
                    .primary_key(),
            )
            .col(ColumnDef::new(AdminAudit::At).big_integer().not_null())
            .col(
                ColumnDef::new(AdminAudit::KeyName)
                    .string_len(64)
                    .not_null(),
            )
            .col(ColumnDef::new(AdminAudit::Action).string_len(32).not_null())
            .col(ColumnDef::new(AdminAudit::UserId).big_integer().null())
            .col(ColumnDef::new(AdminAudit::Reason).string_len(200).null())
            .col(
                ColumnDef::new(AdminAudit::RequestId)
                    .string_len(32)
                    .not_null(),
            )
            .to_owned();
        if manager.get_database_backend() == DbBackend::MySql {
            audit
                .engine("InnoDB")
                .character_set("utf8mb4")
                .collate("utf8mb4_bin");
        }
        manager.create_table(audit).await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_admin_audit_user")
                    .table(AdminAudit::Table)
                    .col(AdminAudit::UserId)
                    .col(AdminAudit::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AdminAudit::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_users_banned_until")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        for col in [
            Users::BanReason,
            Users::BannedUntil,
            Users::BannedAt,
            Users::DeletedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
