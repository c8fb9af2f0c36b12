//! The loader never panics and always finishes, whatever it is given: random
//! bytes, random text, and shipped manifests with random edits.

use proptest::prelude::*;

use crate::support::shipped_manifests;

fn load(bytes: Vec<u8>) {
    // Either outcome is fine; a panic fails the test.
    let _ = bulkops::manifest::load_bytes("input.yaml", bytes);
}

fn manifests() -> Vec<String> {
    shipped_manifests()
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect()
}

/// One random edit of a text: delete, insert or duplicate a range.
#[derive(Debug, Clone)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    Duplicate { at: usize, len: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    let yamlish = prop::sample::select(vec![
        ":", " ", "\n", "-", "[", "]", "{", "}", "&a", "*a", "!", "'", "\"", "#", "|", ">", "{{",
        "}}", "\t", "~", "0x", "needs: [", "id: x\n", "---\n", "\u{feff}", "é",
    ]);
    prop_oneof![
        (any::<usize>(), 1..40usize).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), prop::collection::vec(yamlish, 1..4)).prop_map(|(at, parts)| {
            Edit::Insert {
                at,
                text: parts.concat(),
            }
        }),
        (any::<usize>(), 1..200usize).prop_map(|(at, len)| Edit::Duplicate { at, len }),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let boundary = |at: usize| {
        let mut at = at % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    match edit {
        Edit::Delete { at, len } => {
            let start = boundary(*at);
            let end = boundary(start.saturating_add(*len).min(text.len()));
            format!("{}{}", &text[..start], &text[end.max(start)..])
        }
        Edit::Insert { at, text: inserted } => {
            let at = boundary(*at);
            format!("{}{inserted}{}", &text[..at], &text[at..])
        }
        Edit::Duplicate { at, len } => {
            let start = boundary(*at);
            let end = boundary(start.saturating_add(*len).min(text.len())).max(start);
            format!("{}{}{}", &text[..end], &text[start..end], &text[end..])
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        load(bytes);
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,400}") {
        load(text.into_bytes());
    }

    #[test]
    fn edited_manifests_never_panic(which in any::<usize>(), edits in prop::collection::vec(edit(), 1..6)) {
        let all = manifests();
        let mut text = all[which % all.len()].clone();
        for edit in &edits {
            text = apply(&text, edit);
        }
        load(text.into_bytes());
    }
}
