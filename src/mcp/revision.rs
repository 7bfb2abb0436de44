//! The MCP protocol revisions this server speaks, and what each allows: a client gets what
//! the revision it negotiated defines, nothing newer (a field it does not know may fail
//! its schema), and the behaviour that revision asks for (batches, input errors).

/// One protocol revision, oldest first, so that `>=` reads "this one or a newer one".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Revision {
    /// The first: tools with a name, a description and an input schema.
    V2024_11_05,
    /// Adds tool annotations and JSON-RPC batches.
    V2025_03_26,
    /// Drops batches; adds structured tool output and `title` fields.
    V2025_06_18,
    /// Tool input validation errors are tool results the model reads (SEP-1303).
    V2025_11_25,
}

impl Revision {
    /// Every revision, newest first: what `initialize` offers.
    pub const ALL: [Revision; 4] = [
        Revision::V2025_11_25,
        Revision::V2025_06_18,
        Revision::V2025_03_26,
        Revision::V2024_11_05,
    ];

    /// The newest: what a client asking for one this server does not know gets.
    pub const NEWEST: Revision = Revision::ALL[0];

    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Revision::V2024_11_05 => "2024-11-05",
            Revision::V2025_03_26 => "2025-03-26",
            Revision::V2025_06_18 => "2025-06-18",
            Revision::V2025_11_25 => "2025-11-25",
        }
    }

    /// The revision of this name, if this server speaks it.
    pub fn named(name: &str) -> Option<Revision> {
        Revision::ALL.into_iter().find(|r| r.name() == name)
    }

    /// A JSON array of messages is a batch to answer (2025-03-26 only: 2025-06-18 took
    /// batches out again).
    pub fn batches(self) -> bool {
        self == Revision::V2025_03_26
    }

    /// Tools carry `annotations` (read-only, destructive, idempotent hints).
    pub fn annotations(self) -> bool {
        self >= Revision::V2025_03_26
    }

    /// Tools and the server's info carry a `title`; a tool result carries
    /// `structuredContent`.
    pub fn titles_and_structured_content(self) -> bool {
        self >= Revision::V2025_06_18
    }

    /// Arguments that do not fit a tool's input schema are a tool result with `isError`,
    /// which the model reads and can correct, rather than a JSON-RPC error (SEP-1303).
    pub fn input_errors_are_results(self) -> bool {
        self >= Revision::V2025_11_25
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_is_age() {
        for r in Revision::ALL {
            assert_eq!(Revision::named(r.name()), Some(r));
        }
        assert_eq!(Revision::named("2026-07-28"), None);
        assert!(Revision::ALL.windows(2).all(|w| w[0] > w[1]), "newest first");
        assert_eq!(
            Revision::ALL.map(|r| (r.batches(), r.annotations(), r.titles_and_structured_content())),
            [
                (false, true, true),
                (false, true, true),
                (true, true, false),
                (false, false, false)
            ]
        );
    }
}
