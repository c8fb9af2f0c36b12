//! "Did you mean" suggestions for misspelt names: step ids, fields, enum values,
//! template variables.
//!
//! A suggestion is offered only when a candidate is close enough that the typo is
//! the likely explanation; a far-fetched suggestion is worse than none.

/// Returns the candidate closest to `wanted`, if any is plausibly what was meant.
///
/// Closeness is the Levenshtein distance, compared case-insensitively so that
/// `DisplayName` finds `displayName`. The cutoff grows with the length of the
/// word: one edit for short words, up to a third of the length for long ones.
pub fn did_you_mean<'a, I>(wanted: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let wanted_lower = wanted.to_lowercase();
    let cutoff = (wanted.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| {
            let distance = strsim::levenshtein(&wanted_lower, &candidate.to_lowercase());
            (distance, candidate)
        })
        .filter(|(distance, _)| *distance <= cutoff)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Formats a list of names as `` `a`, `b` or `c` `` for messages.
pub fn one_of<S: AsRef<str>>(names: &[S]) -> String {
    join(names, "or")
}

fn join<S: AsRef<str>>(names: &[S], conjunction: &str) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{}`", n.as_ref())).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} {conjunction} {last}", init.join(", ")),
    }
}

/// Formats a list of names as `` `a`, `b` and `c` `` for messages.
pub fn all_of<S: AsRef<str>>(names: &[S]) -> String {
    join(names, "and")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["filterGroups", "downloadGroups", "importMembers"];
        assert_eq!(did_you_mean("filterGroup", names), Some("filterGroups"));
        assert_eq!(did_you_mean("ImportMembers", names), Some("importMembers"));
        assert_eq!(did_you_mean("deleteDevices", names), None);
        assert_eq!(did_you_mean("x", ["y"]), Some("y"));
        assert_eq!(did_you_mean("ab", ["xyz"]), None);
    }

    #[test]
    fn lists_names_for_messages() {
        assert_eq!(one_of::<&str>(&[]), "");
        assert_eq!(one_of(&["a"]), "`a`");
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
        assert_eq!(all_of(&["a", "b"]), "`a` and `b`");
    }
}
