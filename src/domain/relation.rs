//! Relation operations and list kinds.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RelationOp {
    Follow,
    Unfollow,
    Block,
    Unblock,
}

impl RelationOp {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "follow" => Some(RelationOp::Follow),
            "unfollow" => Some(RelationOp::Unfollow),
            "block" => Some(RelationOp::Block),
            "unblock" => Some(RelationOp::Unblock),
            _ => None,
        }
    }
}

/// The lists kept per user. `Following`/`Blocking` are the user's own rows, `Fans` and
/// `BlockedBy` the reverse direction, `Friends` mutual follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListKind {
    Following,
    Fans,
    Friends,
    Blocking,
    BlockedBy,
}

impl ListKind {
    /// The `type` of relation/followlist.
    pub fn parse_list_type(s: &str) -> Option<Self> {
        match s.trim() {
            "follow" => Some(ListKind::Following),
            "black" | "block" => Some(ListKind::Blocking),
            "fans" => Some(ListKind::Fans),
            "friend" => Some(ListKind::Friends),
            _ => None,
        }
    }

    pub const ALL: [ListKind; 5] = [
        ListKind::Following,
        ListKind::Fans,
        ListKind::Friends,
        ListKind::Blocking,
        ListKind::BlockedBy,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ops_and_lists() {
        assert_eq!(RelationOp::parse("block"), Some(RelationOp::Block));
        assert_eq!(RelationOp::parse("like"), None);
        assert_eq!(ListKind::parse_list_type("black"), Some(ListKind::Blocking));
        assert_eq!(ListKind::parse_list_type("block"), Some(ListKind::Blocking));
        assert_eq!(ListKind::parse_list_type("friend"), Some(ListKind::Friends));
        assert_eq!(ListKind::parse_list_type("x"), None);
    }
}
