use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000001_initial"
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    NationCode,
    Phone,
    Nickname,
    Avatar,
    Role,
    CreatedAt,
    UpdatedAt,
    LastSigninAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    Device,
    DeviceId,
    TokenHash,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SmsCodes {
    Table,
    Id,
    NationCode,
    Phone,
    CodeHash,
    SentAt,
    ExpiresAt,
    Attempts,
    ConsumedAt,
}

#[derive(DeriveIden)]
enum RateCounters {
    Table,
    Bucket,
    WindowStart,
    Count,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Follows {
    Table,
}

#[derive(DeriveIden)]
enum Blocks {
    Table,
}

#[derive(DeriveIden)]
enum Rel {
    Id,
    UserId,
    TargetId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    EventId,
    EventType,
    Data,
    OccurredAt,
    Seq,
    PublishedAt,
}

#[derive(DeriveIden)]
enum RelayState {
    Table,
    Name,
    Holder,
    LeaseUntil,
    NextSeq,
}

fn id_col<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn big<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().to_owned()
}

fn text<T: IntoIden>(name: T, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).not_null().to_owned()
}

/// MySQL tables get utf8mb4 (nicknames hold CJK and emoji) with a binary collation:
/// nickname search is an exact match, as on PostgreSQL and SQLite.
async fn create(manager: &SchemaManager<'_>, mut stmt: TableCreateStatement) -> Result<(), DbErr> {
    if manager.get_database_backend() == DbBackend::MySql {
        stmt.engine("InnoDB")
            .character_set("utf8mb4")
            .collate("utf8mb4_bin");
    }
    manager.create_table(stmt).await
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: Vec<DynIden>,
    unique: bool,
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for c in cols {
        stmt.col(c);
    }
    if unique {
        stmt.unique();
    }
    manager.create_index(stmt).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create(
            manager,
            Table::create()
                .table(Users::Table)
                .col(id_col(Users::Id))
                .col(text(Users::NationCode, 8))
                .col(text(Users::Phone, 32))
                .col(text(Users::Nickname, 64))
                .col(ColumnDef::new(Users::Avatar).string_len(255).null())
                .col(
                    ColumnDef::new(Users::Role)
                        .small_integer()
                        .not_null()
                        .default(0),
                )
                .col(big(Users::CreatedAt))
                .col(big(Users::UpdatedAt))
                .col(big(Users::LastSigninAt))
                .to_owned(),
        )
        .await?;
        index(
            manager,
            "ux_users_phone",
            Users::Table,
            vec![Users::NationCode.into_iden(), Users::Phone.into_iden()],
            true,
        )
        .await?;
        index(
            manager,
            "ix_users_nickname",
            Users::Table,
            vec![Users::Nickname.into_iden()],
            false,
        )
        .await?;

        create(
            manager,
            Table::create()
                .table(Sessions::Table)
                .col(id_col(Sessions::Id))
                .col(big(Sessions::UserId))
                .col(text(Sessions::Device, 16))
                .col(text(Sessions::DeviceId, 128))
                .col(text(Sessions::TokenHash, 64))
                .col(big(Sessions::CreatedAt))
                .col(big(Sessions::LastUsedAt))
                .col(big(Sessions::ExpiresAt))
                .to_owned(),
        )
        .await?;
        index(
            manager,
            "ux_sessions_token",
            Sessions::Table,
            vec![Sessions::TokenHash.into_iden()],
            true,
        )
        .await?;
        index(
            manager,
            "ux_sessions_user_device",
            Sessions::Table,
            vec![Sessions::UserId.into_iden(), Sessions::Device.into_iden()],
            true,
        )
        .await?;

        create(
            manager,
            Table::create()
                .table(SmsCodes::Table)
                .col(id_col(SmsCodes::Id))
                .col(text(SmsCodes::NationCode, 8))
                .col(text(SmsCodes::Phone, 32))
                .col(text(SmsCodes::CodeHash, 64))
                .col(big(SmsCodes::SentAt))
                .col(big(SmsCodes::ExpiresAt))
                .col(ColumnDef::new(SmsCodes::Attempts).integer().not_null())
                .col(ColumnDef::new(SmsCodes::ConsumedAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        index(
            manager,
            "ux_sms_codes_phone",
            SmsCodes::Table,
            vec![
                SmsCodes::NationCode.into_iden(),
                SmsCodes::Phone.into_iden(),
            ],
            true,
        )
        .await?;

        create(
            manager,
            Table::create()
                .table(RateCounters::Table)
                .col(text(RateCounters::Bucket, 191))
                .col(big(RateCounters::WindowStart))
                .col(ColumnDef::new(RateCounters::Count).integer().not_null())
                .col(big(RateCounters::ExpiresAt))
                .primary_key(
                    Index::create()
                        .col(RateCounters::Bucket)
                        .col(RateCounters::WindowStart),
                )
                .to_owned(),
        )
        .await?;
        index(
            manager,
            "ix_rate_counters_expires",
            RateCounters::Table,
            vec![RateCounters::ExpiresAt.into_iden()],
            false,
        )
        .await?;

        for (table, prefix) in [
            (Follows::Table.into_iden(), "follows"),
            (Blocks::Table.into_iden(), "blocks"),
        ] {
            create(
                manager,
                Table::create()
                    .table(table.clone())
                    .col(id_col(Rel::Id))
                    .col(big(Rel::UserId))
                    .col(big(Rel::TargetId))
                    .col(big(Rel::CreatedAt))
                    .to_owned(),
            )
            .await?;
            index(
                manager,
                &format!("ux_{prefix}_pair"),
                table.clone(),
                vec![Rel::UserId.into_iden(), Rel::TargetId.into_iden()],
                true,
            )
            .await?;
            // Lists are read newest first by owner, and (for fans) by target.
            index(
                manager,
                &format!("ix_{prefix}_user_id"),
                table.clone(),
                vec![Rel::UserId.into_iden(), Rel::Id.into_iden()],
                false,
            )
            .await?;
            index(
                manager,
                &format!("ix_{prefix}_target_id"),
                table.clone(),
                vec![Rel::TargetId.into_iden(), Rel::Id.into_iden()],
                false,
            )
            .await?;
        }

        create(
            manager,
            Table::create()
                .table(Outbox::Table)
                .col(id_col(Outbox::Id))
                .col(text(Outbox::EventId, 36))
                .col(text(Outbox::EventType, 64))
                .col(ColumnDef::new(Outbox::Data).text().not_null())
                .col(big(Outbox::OccurredAt))
                .col(ColumnDef::new(Outbox::Seq).big_integer().null())
                .col(ColumnDef::new(Outbox::PublishedAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        index(
            manager,
            "ux_outbox_event_id",
            Outbox::Table,
            vec![Outbox::EventId.into_iden()],
            true,
        )
        .await?;
        index(
            manager,
            "ux_outbox_seq",
            Outbox::Table,
            vec![Outbox::Seq.into_iden()],
            true,
        )
        .await?;
        // The relay's scans: unassigned rows by id, assigned-but-unconfirmed by seq.
        index(
            manager,
            "ix_outbox_pending",
            Outbox::Table,
            vec![Outbox::PublishedAt.into_iden(), Outbox::Id.into_iden()],
            false,
        )
        .await?;

        create(
            manager,
            Table::create()
                .table(RelayState::Table)
                .col(
                    ColumnDef::new(RelayState::Name)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(text(RelayState::Holder, 128))
                .col(big(RelayState::LeaseUntil))
                .col(big(RelayState::NextSeq))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RelayState::Table.into_iden(),
            Outbox::Table.into_iden(),
            Blocks::Table.into_iden(),
            Follows::Table.into_iden(),
            RateCounters::Table.into_iden(),
            SmsCodes::Table.into_iden(),
            Sessions::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
